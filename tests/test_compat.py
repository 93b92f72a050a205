"""Files of earlier versions keep working: training checkpoints written by the code before the tasks/
layout export and load with the same outputs, and the shipped hub files of that time that still ship
(re-exported with architecture presets) give exactly what they gave before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from inpaintlab.api import Inpainter, Stylizer, load, load_model
from inpaintlab.hub import load_registry, read_arch
from inpaintlab.hub.export import export_checkpoint
from inpaintlab.hub.weights import read_training_checkpoint
from inpaintlab.models import PRESETS

OLD = Path(__file__).parent / "data" / "f6e89ef"


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


# the shipped files of f6e89ef that still ship (same file, re-exported with a preset name); the 64 px
# inpainters of that time were replaced by the 256 px universal files and have no reference here
STILL_SHIPPED = {"style-classifier": "59dad2110f81e276d885f525c0f2d523010dde4573a56f7d626ea5168b9ec646"}


def test_every_registry_entry_names_a_preset():
    for name, entry in load_registry().items():
        assert isinstance(entry.arch, str) and entry.arch in PRESETS, name


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
