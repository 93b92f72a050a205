"""Files of earlier versions keep working: training checkpoints written by the code before the tasks/
layout export and load with the same outputs, and the shipped hub files (re-exported with architecture
presets) give exactly what they gave before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
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


def _old_plan_fill(model, resolution, image, mask):
    """What the pre-``strategy`` inference plan did with a picture smaller than the model's resolution:
    hole zeroed, picture and mask padded (reflect, or replicate when too small) to ``resolution`` squared, fill cropped back into the hole.
    (The plan now runs such a picture at its own size; this test is about the weights and architecture.)"""
    h, w = image.shape[-2:]
    pad = (0, resolution - w, 0, resolution - h)
    hole = (mask > 0.5).float()
    mode = "reflect" if pad[1] < w and pad[3] < h else "replicate"
    x, m = F.pad(image * (1 - hole), pad, mode=mode), F.pad(hole, pad, mode=mode)
    with torch.no_grad():
        pred = model(x, m)[..., :h, :w]
    return torch.where(hole > 0.5, pred, image)


def test_the_shipped_files_give_the_outputs_they_gave_before(monkeypatch):
    monkeypatch.setenv("INPAINTLAB_OFFLINE", "1")
    before = load_file(str(OLD / "shipped-outputs.safetensors"))
    image, mask = before["probe_image"], before["probe_mask"]
    registry = load_registry()
    assert {k for k in before if not k.startswith("probe_")} == {n for n, e in registry.items() if e.task != "stylize"}
    for name, entry in registry.items():
        assert isinstance(entry.arch, str) and entry.arch in PRESETS, name  # entries name a preset
        if entry.task == "inpaint":  # the bare model on the window the old plan built (padded to R x R)
            out = _old_plan_fill(load_model(name), entry.resolution, image, mask)
        elif entry.task == "classify":
            with torch.no_grad():
                out = load_model(name)(image)
        else:
            continue
        torch.testing.assert_close(out, before[name], rtol=0, atol=1e-6, msg=name)
