"""Training throughput of the default photo recipe: images/s of a full G+D step, FLOPs, FID cost.

    python benchmarks/train_throughput.py                       # CPU: fp32 and bf16 at a small batch
    python benchmarks/train_throughput.py --device cuda         # GPU: fp32, bf16, + channels_last, + compile

What it measures, for ``examples/configs/photo-center.yaml``'s model (UNet ~6.9M parameters + 3-layer
PatchGAN, 256 px; warm-up off so every step has one D and one G update, DiffAugment as configured):

* images/s of a full training step through Lightning (``InpaintModule.training_step``: G forward, D update
  on real and fake, G update through D, EMA), median over timed steps after warm-up steps, on synthetic
  in-memory batches (data loading excluded), for each precision / memory-format / compile variant;
* FLOPs per image of one step (``torch.utils.flop_counter.FlopCounterMode``: forward + backward of both
  networks), and the share of the GPU's dense peak that the measured rate implies;
* the cost of an FID pass (Inception-V3 features of the validation images, real statistics cached after
  the first epoch) relative to a training epoch of the photo set (2500 training / 200 validation images).
  Without ``--fid-weights`` the Inception network has random weights: same cost, meaningless values.

Results go to ``benchmarks/results/train_throughput-<device>.json`` and ``.md`` (the README's table).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from inpaintlab.masks import BlockMasks
from inpaintlab.tasks.inpaint import InpaintModule

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "examples" / "configs" / "photo-center.yaml"
PHOTO_TRAIN_IMAGES, PHOTO_VAL_IMAGES = 2500, 200

# Dense peak TFLOP/s (no sparsity) by GPU name: bf16 tensor cores and tf32 (cuDNN's default for fp32 convs).
GPU_PEAK_TFLOPS = {
    "H200": {"bf16": 989.4, "fp32": 494.7},
    "H100 PCIe": {"bf16": 756.0, "fp32": 378.0},
    "H100": {"bf16": 989.4, "fp32": 494.7},
    "A100": {"bf16": 312.0, "fp32": 156.0},
    "L40S": {"bf16": 362.1, "fp32": 183.0},
    "L4": {"bf16": 121.0, "fp32": 60.0},
    "A10": {"bf16": 125.0, "fp32": 62.5},
    "RTX 4090": {"bf16": 165.2, "fp32": 82.6},
}


class SyntheticBatches(Dataset):
    """Random images with fixed block masks, already in memory (the benchmark excludes data loading)."""

    def __init__(self, count: int, size: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.rand(count, 3, size, size, generator=generator)
        self.masks = BlockMasks()(count, size, generator=generator)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "mask": self.masks[i], "kind": "blocks"}


def recipe_model(**overrides) -> InpaintModule:
    """The photo recipe's InpaintModule with warm-up, FID and init_from off (every step trains G and D)."""
    init_args = yaml.safe_load(RECIPE.read_text())["model"]["init_args"]
    init_args.update(warmup_steps=0, fid_every_n_epochs=0, init_from=None, num_grid_images=0, **overrides)
    return InpaintModule(**init_args)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class StepTimer(Callback):
    def __init__(self, device: str) -> None:
        self.device, self.times = device, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        _sync(self.device)
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        _sync(self.device)
        self.times.append(time.perf_counter() - self.start)


class FlopCounter(Callback):
    """Counts the FLOPs of the first training step (forward and backward of G and D)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            self.mode = FlopCounterMode(display=False)
            self.mode.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == 0:
            self.mode.__exit__(None, None, None)
            self.flops = self.mode.get_total_flops()


def _fit(model, device: str, batch: int, size: int, steps: int, precision: str, callbacks) -> None:
    loader = DataLoader(SyntheticBatches(batch * steps, size), batch_size=batch, num_workers=0)
    trainer = L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu", devices=1, precision=precision, max_epochs=1,
        limit_train_batches=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=callbacks,
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=loader)


def measure_variant(device, batch, size, steps, warmup, precision, channels_last, compile_models) -> dict:
    torch.manual_seed(0)
    model = recipe_model(channels_last=channels_last, compile_models=compile_models)
    timer = StepTimer(device)
    _fit(model, device, batch, size, warmup + steps, precision, [timer])
    timed = timer.times[warmup:]
    step_s = statistics.median(timed)
    return {
        "precision": precision, "channels_last": channels_last, "compile": compile_models,
        "batch_size": batch,
        "image_size": size, "timed_steps": len(timed), "step_s_median": step_s,
        "images_per_s": batch / step_s,
    }  # fmt: skip


def count_flops_per_image(device: str, size: int) -> float:
    counter = FlopCounter()
    _fit(recipe_model(), device, 1, size, 1, "32-true", [counter])
    return float(counter.flops)


class _RandomInception(torch.nn.Module):
    """torch-fidelity's Inception-V3 with random weights (same cost as the real one, no download)."""

    num_features = 2048

    def __init__(self) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        class _NoLoad(FeatureExtractorInceptionV3):
            def load_state_dict(self, *args, **kwargs):  # keep the random init
                return None

        with tempfile.NamedTemporaryFile(suffix=".pth") as empty:
            torch.save({}, empty.name)
            self.extractor = _NoLoad(
                "inception-v3-compat", ["2048"], feature_extractor_weights_path=empty.name
            )

    def forward(self, images):
        from inpaintlab.metrics.fid import images_to_uint8

        return self.extractor(images_to_uint8(images))[0]


def measure_fid(device: str, size: int, images: int, weights: str | None, batch: int = 8) -> dict:
    """Seconds per validation image of the FID pass (generated images only; real ones once)."""
    from inpaintlab.metrics import FIDMetric, InceptionFeatures

    extractor = InceptionFeatures(weights) if weights else _RandomInception()
    metric = FIDMetric(extractor).to(device)
    data = torch.rand(images, 3, size, size, generator=torch.Generator().manual_seed(1)).to(device)
    metric.update(data[:batch], real=False)  # warm-up
    _sync(device)
    start = time.perf_counter()
    for i in range(0, images, batch):
        metric.update(data[i : i + batch], real=False)
    _sync(device)
    per_image = (time.perf_counter() - start) / images
    return {"fid_images_timed": images, "fid_s_per_image": per_image, "random_inception_weights": not weights}


def write_results(results: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"train_throughput-{results['device_kind']}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"### Training throughput: {results['device']} ({results['device_kind']})",
        "",
        (
            f"Photo recipe (UNet {results['generator_params'] / 1e6:.1f}M + PatchGAN "
            f"{results['discriminator_params'] / 1e6:.1f}M params), {results['image_size']} px, full G+D "
            f"step. FLOPs per image and step: {results['gflops_per_image']:.1f} GFLOP."
        ),
        "",
        "| precision | channels_last | compile | batch | images/s | step (s) | share of peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in results["variants"]:
        share = f"{100 * v['share_of_peak']:.1f} %" if v.get("share_of_peak") is not None else "n/a"
        lines.append(
            f"| {v['precision']} | {v['channels_last']} | {v['compile']} | {v['batch_size']} | "
            f"{v['images_per_s']:.2f} | {v['step_s_median']:.3f} | {share} |"
        )
    fid = results["fid"]
    lines += [
        "",
        (
            f"FID pass: {fid['fid_s_per_image'] * 1e3:.1f} ms per validation image, "
            f"{fid['fid_pass_s']:.1f} s for the {PHOTO_VAL_IMAGES} photo validation images, "
            f"= {100 * fid['fid_share_of_epoch']:.1f} % of a {PHOTO_TRAIN_IMAGES}-image training epoch "
            f"({fid['epoch_s']:.0f} s at the fastest rate above)."
        ),
        "",
    ]
    md = stem.with_suffix(".md")
    md.write_text("\n".join(lines))
    return stem.with_suffix(".json"), md


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default: 2 on CPU, 16 on GPU")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 3 on CPU, 30 on GPU)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps first (default: 1 CPU, 10 GPU)"
    )
    parser.add_argument(
        "--fid-images", type=int, default=None, help="images timed for FID (default 8 CPU, 200 GPU)"
    )
    parser.add_argument("--fid-weights", default=None, help="torch-fidelity Inception weights (else random)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant on GPU")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    gpu = args.device == "cuda"
    batch = args.batch_size or (16 if gpu else 2)
    steps = args.steps or (30 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 1)
    variants = [("32-true", False, False), ("bf16-mixed", False, False)]
    if gpu:
        variants += [("bf16-mixed", True, False)] + ([] if args.no_compile else [("bf16-mixed", True, True)])

    name = torch.cuda.get_device_name() if gpu else f"{cpu_name()}, {torch.get_num_threads()} threads"
    peak = next((v for k, v in GPU_PEAK_TFLOPS.items() if gpu and k in name), None)
    flops = count_flops_per_image(args.device, args.image_size)
    model = recipe_model()
    results = {
        "device": name, "device_kind": args.device, "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__, "lightning": L.__version__, "image_size": args.image_size,
        "generator_params": sum(p.numel() for p in model.generator.parameters()),
        "discriminator_params": sum(p.numel() for p in model.discriminator.parameters()),
        "gflops_per_image": flops / 1e9, "peak_tflops": peak, "variants": [],
    }  # fmt: skip
    for precision, channels_last, compile_models in variants:
        v = measure_variant(
            args.device, batch, args.image_size, steps, warmup, precision, channels_last, compile_models
        )
        if peak is not None:
            v["share_of_peak"] = (
                flops * v["images_per_s"] / (peak["bf16" if "bf16" in precision else "fp32"] * 1e12)
            )
        results["variants"].append(v)
    fid = measure_fid(args.device, args.image_size, args.fid_images or (200 if gpu else 8), args.fid_weights)
    best = max(v["images_per_s"] for v in results["variants"])
    fid["epoch_s"] = PHOTO_TRAIN_IMAGES / best
    fid["fid_pass_s"] = fid["fid_s_per_image"] * PHOTO_VAL_IMAGES
    fid["fid_share_of_epoch"] = fid["fid_pass_s"] / fid["epoch_s"]
    results["fid"] = fid
    json_path, md_path = write_results(results, args.out)
    print(md_path.read_text())
    print(f"written: {json_path}, {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
