"""Files of earlier versions keep working: training checkpoints written by the code before the tasks/
layout export and load with the same outputs, and the shipped hub files of that time that still ship
(re-exported with architecture presets) give exactly what they gave before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import inpaintlab
from inpaintlab.api import Inpainter, Stylizer, load, load_model
from inpaintlab.hub import load_registry, read_arch
from inpaintlab.hub.export import export_checkpoint
from inpaintlab.hub.weights import read_training_checkpoint
from inpaintlab.models import PRESETS, normalize_arch

OLD = Path(__file__).parent / "data" / "checkpoints-before-presets"  # written by commit f6e89ef's code


@pytest.fixture(scope="module")
def expected() -> dict[str, torch.Tensor]:
    return load_file(str(OLD / "expected.safetensors"))


@pytest.mark.parametrize(("task", "arch"), [("inpaint", "unet.tiny"), ("stylize", "resnet.tiny"), ("classify", None)])
def test_a_checkpoint_of_the_old_code_loads_and_exports_with_the_same_outputs(tmp_path, expected, task, arch):
    ckpt = OLD / f"{task}.ckpt"
    found = read_training_checkpoint(ckpt)
    assert found.task == task
    if arch is not None:
        assert (found.arch if isinstance(found.arch, str) else found.arch["preset"]) == arch
    image, mask = expected["probe_image"], expected["probe_mask"]
    with pytest.warns(UserWarning, match="fill in"):
        result = export_checkpoint(ckpt, tmp_path / "hub", name=f"old-{task}")
    stored = read_arch(result.weights)
    assert (stored if isinstance(stored, str) else stored["preset"]) in PRESETS  # a preset, no class name
    for source in (ckpt, result.weights):
        if task == "classify":
            with torch.no_grad():
                out = load_model(source)(image)
        else:
            loaded = load(source, device="cpu")
            assert isinstance(loaded, Inpainter if task == "inpaint" else Stylizer)
            out = loaded(image, mask) if task == "inpaint" else loaded(image)
        torch.testing.assert_close(out, expected[task], rtol=0, atol=1e-6, msg=str(source))


def test_an_old_inpainting_checkpoint_initialises_a_new_run():
    from inpaintlab.tasks.inpaint import InpaintModule

    old = read_training_checkpoint(OLD / "inpaint.ckpt")
    model = InpaintModule(old.arch, "patch.tiny", fid_every_n_epochs=0)
    model.load_init_weights(str(OLD / "inpaint.ckpt"))
    weights, _ = old.exported_weights()
    assert all(torch.equal(model.generator.state_dict()[k], v) for k, v in weights.items())
    assert old.info["image_size"] == 32 and old.counters["generator_steps"] >= 1


# the shipped files of commit f6e89ef that still ship (same file, re-exported with a preset name); the 64 px
# inpainters of that time were replaced by the 256 px universal files and have no reference here
STILL_SHIPPED = {"style-classifier": "59dad2110f81e276d885f525c0f2d523010dde4573a56f7d626ea5168b9ec646"}


def test_every_registry_entry_names_a_preset_and_its_file_the_same_network():
    """Entries name today's presets (settings as args); the shipped files keep the names they were written
    with, read through the deprecation table, and both build the same network."""
    for name, entry in load_registry().items():
        assert (entry.arch if isinstance(entry.arch, str) else entry.arch["preset"]) in PRESETS, name
        assert normalize_arch(entry.arch) == entry.arch, name  # written in its shortest form
        stored = read_arch(Path(inpaintlab.__file__).parent / "hub" / "files" / entry.file)
        assert normalize_arch(stored) == entry.arch, name


def test_the_shipped_files_give_the_outputs_they_gave_before(monkeypatch):
    monkeypatch.setenv("INPAINTLAB_OFFLINE", "1")
    before = load_file(str(OLD / "shipped-outputs.safetensors"))
    image = before["probe_image"]
    registry = load_registry()
    for name, sha256 in STILL_SHIPPED.items():
        entry = registry[name]
        assert entry.sha256 == sha256, f"{name}: another file now; record its reference outputs anew"
        with torch.no_grad():  # the classifier's logits
            out = load_model(name)(image)
        torch.testing.assert_close(out, before[name], rtol=0, atol=1e-6, msg=name)


# each shipped inpainter's network on sample_picture(40, 56, seed=5) with the hole zeroed, written by the
# code of commit 3257984 (before the presets named networks and pyramid_fill exported itself)
INPAINTERS = ["photo-center", "photo-blocks", "photo-region", "monet-center", "monet-blocks", "monet-region"]


def test_the_shipped_inpainters_give_the_outputs_they_gave_before(monkeypatch):
    monkeypatch.setenv("INPAINTLAB_OFFLINE", "1")
    before = load_file(str(Path(__file__).parent / "data" / "shipped-inpainter-outputs.safetensors"))
    image, mask = before["probe_image"], before["probe_mask"]
    assert sorted(INPAINTERS) == sorted(n for n, e in load_registry().items() if e.task == "inpaint")
    for name in INPAINTERS:
        with torch.no_grad():
            out = load_model(name)(torch.where(mask > 0, 0, image), mask)
        assert torch.equal(out, before[name]), name  # bit-identical
