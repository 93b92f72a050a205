"""The style classifier: model, crops, training through Lightning, export to the hub and loading back."""

import lightning as L
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from inpaintlab.api import load_model
from inpaintlab.hub.export import export_checkpoint
from inpaintlab.models import arch_of, build_model
from inpaintlab.models.classifier import STYLES, StyleClassifier
from inpaintlab.tasks.classify import ClassifyDataModule, ClassifyModule, random_crops


def test_classifier_shapes_any_size_and_rebuild():
    model = StyleClassifier(base_channels=4, depth=2, max_side=64).eval()
    assert model(torch.rand(3, 3, 40, 70)).shape == (3, 2)
    rebuilt = build_model(arch_of(model)).eval()
    rebuilt.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 300, 200)  # larger than max_side: downscaled inside
    assert torch.equal(model(x), rebuilt(x))
    assert set(model.predict(x)) <= set(STYLES)


def test_classifier_downscales_only_large_pictures(monkeypatch):
    model = StyleClassifier(base_channels=4, depth=2, max_side=64).eval()
    seen = []
    monkeypatch.setattr(model.features, "forward", lambda x: seen.append(tuple(x.shape[-2:])) or torch.zeros(x.shape[0], 8, 4, 4))
    model(torch.rand(1, 3, 50, 60))
    model(torch.rand(1, 3, 128, 256))
    assert seen == [(50, 60), (32, 64)]


def test_classifier_errors():
    with pytest.raises(ValueError, match="at least 4 px"):
        StyleClassifier(base_channels=4, depth=2)(torch.rand(1, 3, 3, 30))
    with pytest.raises(ValueError, match="max_side"):
        StyleClassifier(depth=6, max_side=32)
    with pytest.raises(ValueError, match="3 channels"):
        StyleClassifier(base_channels=4, depth=2)(torch.rand(1, 1, 30, 30))


def test_random_crops_cut_without_resizing():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    crops = random_crops(images, 4, generator=torch.Generator().manual_seed(0))
    assert crops.shape == (2, 3, 4, 4)
    for crop, image in zip(crops, images):  # every crop is a (possibly flipped) window of its image
        windows = image.unfold(1, 4, 1).unfold(2, 4, 1).permute(1, 2, 0, 3, 4).reshape(-1, 3, 4, 4)
        assert any(torch.equal(crop, w) or torch.equal(crop, w.flip(-1)) for w in windows)
    with pytest.raises(ValueError, match="crop_size 9 is larger"):
        random_crops(images, 9)


def _write_style_folders(root, count=12, size=32):
    """'photos' are smooth gradients, 'paintings' are coarse noisy strokes: separable by texture."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size)
    for split in ("train", "val"):
        for style in ("photo", "monet"):
            folder = root / style / split
            folder.mkdir(parents=True)
            for i in range(count):
                if style == "photo":
                    base = np.stack([np.add.outer(ramp, ramp) / 2] * 3, -1) * rng.uniform(0.5, 1.0, 3)
                else:
                    base = np.kron(rng.uniform(0, 255, (size // 4, size // 4, 3)), np.ones((4, 4, 1)))
                Image.fromarray(base.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root


def test_fit_export_and_load_back(tmp_path):
    data = _write_style_folders(tmp_path / "data")
    dm = ClassifyDataModule(
        str(data / "photo/train"), str(data / "monet/train"), str(data / "photo/val"), str(data / "monet/val"),
        image_size=32, batch_size=8,
    )
    L.seed_everything(0)  # before the module: its initial weights too
    module = ClassifyModule("style_classifier.tiny", crop_size=24, lr=1e-2)
    trainer = L.Trainer(
        max_epochs=6, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )
    trainer.fit(module, dm)
    metrics = trainer.callback_metrics
    assert {"val/acc", "val/acc_min", "val/acc_photo", "val/acc_monet"} <= set(metrics)
    assert float(metrics["val/acc"]) >= 0.9  # the synthetic styles are easy

    ckpt = tmp_path / "clf.ckpt"
    trainer.save_checkpoint(ckpt)
    info = torch.load(ckpt, weights_only=True)["inpaintlab"]
    assert (info["task"], info["arch"], info["style"]) == ("classify", "style_classifier.tiny", "photo+monet")
    assert info["metrics"]["val_acc_min"] == round(float(metrics["val/acc_min"]), 4)

    result = export_checkpoint(ckpt, out_dir=tmp_path / "hub", name="style-classifier", urls=["http://127.0.0.1/x"])
    assert result.weights == tmp_path / "hub" / "style-classifier.safetensors"
    entry = yaml.safe_load(result.snippet)["style-classifier"]
    assert entry["task"] == "classify" and entry["mask"] is None and entry["metrics"]["val_acc_min"] >= 0.9
    loaded = load_model(result.weights)
    assert isinstance(loaded, StyleClassifier)
    images = dm.val_set.tensors[0].float() / 255
    module.eval()
    assert torch.allclose(loaded(images), module.classifier(images), atol=1e-5)
