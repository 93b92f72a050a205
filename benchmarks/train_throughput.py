"""Training throughput of a recipe: images/s of a full G+D step, FLOPs, FID cost.

    python benchmarks/train_throughput.py                       # CPU: fp32 and bf16 at a small batch
    python benchmarks/train_throughput.py --device cuda         # GPU: fp32, bf16, + channels_last, + compile
    python benchmarks/train_throughput.py --device cuda --seconds 30 \
        --variants 32-true,bf16-mixed,bf16-mixed+cl,bf16-mixed+cl@64,bf16-mixed+cl+compile@64
    python benchmarks/train_throughput.py --recipe examples/configs/gpu/cyclegan-monet.yaml --variants 32-true,bf16-mixed

What it measures, for the recipe's model (default ``examples/configs/photo-center.yaml``: UNet ~6.9M
parameters + 3-layer PatchGAN, 256 px), built from the recipe's ``model.class_path`` and ``init_args``
with warm-up, FID, grids and ``init_from`` off, so every step has one D and one G update:

* images/s of a full training step through Lightning (``training_step``: G forward, D update on real and
  fake, G update through D, EMA), median over timed steps after warm-up steps, on synthetic batches that
  already sit on the device (data loading and host-to-device copies excluded), for each variant
  ``PRECISION[+cl][+compile][@BATCH]`` (cl: channels_last; both only for models that take them). Either a
  fixed number of timed steps (``--steps``) or as many as fit in ``--seconds``;
* FLOPs per image of one step (``torch.utils.flop_counter.FlopCounterMode``: forward + backward of both
  networks), and the share of the GPU's dense peak that the measured rate implies;
* for inpainting recipes, the cost of an FID pass (Inception-V3 features of the validation images) relative
  to a training epoch of the photo set (2500 / 200 images). Without ``--fid-weights`` the Inception network
  has random weights: same cost, meaningless values.

A CycleGAN recipe (data a ``StylizeDataModule``) gets batches ``{"photo", "monet"}``; its images/s count
photo+painting pairs. Results go to ``<out>/train_throughput-<tag>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import statistics
import sys
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
from inpaintlab.tasks.stylize import StylizeDataModule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "examples" / "configs" / "photo-center.yaml"
PHOTO_TRAIN_IMAGES, PHOTO_VAL_IMAGES = 2500, 200
CPU_VARIANTS = "32-true,bf16-mixed"
GPU_VARIANTS = "32-true,bf16-mixed,bf16-mixed+cl,bf16-mixed+cl+compile"

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
# Switched off for the measurement (where the model class takes them): every step trains G and D.
MEASURE_OVERRIDES = {"warmup_steps": 0, "fid_every_n_epochs": 0, "init_from": None, "num_grid_images": 0}


def parse_variant(spec: str, default_batch: int) -> dict:
    """``"bf16-mixed+cl+compile@64"`` -> precision, channels_last, compile, batch_size."""
    body, _, batch = spec.strip().partition("@")
    precision, *flags = body.split("+")
    unknown = set(flags) - {"cl", "compile"}
    if not precision or unknown:
        raise ValueError(f"variant {spec!r}: expected PRECISION[+cl][+compile][@BATCH], e.g. bf16-mixed+cl@64")
    return {
        "precision": precision, "channels_last": "cl" in flags, "compile": "compile" in flags,
        "batch_size": int(batch) if batch else default_batch,
    }  # fmt: skip


def _import_class(class_path: str):
    """``"package.module.Name"`` -> the object (ImportError / AttributeError when there is none)."""
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class Recipe:
    """A recipe's model class and init_args, and whether it trains on unpaired photo/Monet batches."""

    def __init__(self, path: Path, overrides: dict | None = None) -> None:
        config = yaml.safe_load(Path(path).read_text())
        self.path = Path(path)
        model = config["model"]
        self.model_class = _import_class(model["class_path"])
        self.params = set(inspect.signature(self.model_class).parameters)
        self.init_args = {**(model.get("init_args") or {}), **(overrides or {})}
        data_path = str((config.get("data") or {}).get("class_path", ""))
        data_class = _import_class(data_path) if "." in data_path else None
        # by class, not by name: the stylize data module was renamed once, and this test then fed a CycleGAN
        # inpainting batches (KeyError: 'photo')
        self.unpaired = isinstance(data_class, type) and issubclass(data_class, StylizeDataModule)

    def build(self, **overrides):
        wanted = {**self.init_args, **MEASURE_OVERRIDES, **overrides}
        return self.model_class(**{k: v for k, v in wanted.items() if k in self.params})

    def supports(self, variant: dict) -> bool:
        return all(not variant[flag] or arg in self.params for flag, arg in (("channels_last", "channels_last"), ("compile", "compile_models")))


class DeviceBatches(Dataset):
    """``steps`` ready batches (a few distinct ones, reused) already on ``device``; use batch_size=None."""

    def __init__(self, steps: int, batch: int, size: int, device: str, unpaired: bool, distinct: int = 4) -> None:
        generator = torch.Generator().manual_seed(0)
        self.steps, self.batches = steps, []
        for _ in range(distinct):
            images = torch.rand(batch, 3, size, size, generator=generator)
            if unpaired:
                item = {"photo": images, "monet": torch.rand(batch, 3, size, size, generator=generator)}
            else:
                item = {"image": images, "mask": BlockMasks()(batch, size, generator=generator), "kind": ["blocks"] * batch}
            self.batches.append({k: v.to(device) if torch.is_tensor(v) else v for k, v in item.items()})

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, i: int) -> dict:
        return self.batches[i % len(self.batches)]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class StepTimer(Callback):
    """Times every step; stops training after ``warmup`` steps plus ``seconds`` of timed steps (if given)."""

    def __init__(self, device: str, warmup: int = 0, seconds: float | None = None) -> None:
        self.device, self.warmup, self.seconds, self.times = device, warmup, seconds, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        _sync(self.device)
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        _sync(self.device)
        self.times.append(time.perf_counter() - self.start)
        if self.seconds is not None and sum(self.times[self.warmup :]) >= self.seconds:
            trainer.should_stop = True


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


def _fit(model, recipe: Recipe, device, batch, size, steps, precision, callbacks) -> None:
    loader = DataLoader(DeviceBatches(steps, batch, size, device, recipe.unpaired), batch_size=None, num_workers=0)
    trainer = L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu", devices=1, precision=precision, max_epochs=1,
        limit_train_batches=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=callbacks,
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=loader)


def measure_variant(recipe: Recipe, device: str, variant: dict, size: int, steps: int, warmup: int,
                    seconds: float | None) -> dict:  # fmt: skip
    torch.manual_seed(0)
    extra = {}
    if "channels_last" in recipe.params:
        extra = {"channels_last": variant["channels_last"], "compile_models": variant["compile"]}
    model = recipe.build(**extra)
    timer = StepTimer(device, warmup, seconds)
    max_steps = warmup + (steps if seconds is None else 1_000_000)
    start = time.perf_counter()
    _fit(model, recipe, device, variant["batch_size"], size, max_steps, variant["precision"], [timer])
    timed = timer.times[warmup:] or timer.times[-1:]
    step_s = statistics.median(timed)
    return {
        **variant, "image_size": size, "timed_steps": len(timed), "warmup_steps": warmup,
        "warmup_s": sum(timer.times[:warmup]), "wall_s": time.perf_counter() - start,
        "step_s_median": step_s, "images_per_s": variant["batch_size"] / step_s,
    }  # fmt: skip


def count_flops_per_image(recipe: Recipe, device: str, size: int) -> float:
    counter = FlopCounter()
    _fit(recipe.build(), recipe, device, 1, size, 1, "32-true", [counter])
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
            self.extractor = _NoLoad("inception-v3-compat", ["2048"], feature_extractor_weights_path=empty.name)

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


def write_results(results: dict, out_dir: Path, tag: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"train_throughput-{tag}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    unit = "photo+painting pairs/s" if results["unpaired"] else "images/s"
    lines = [
        f"### Training throughput: {results['device']} ({results['device_kind']})",
        "",
        (
            f"`{results['recipe']}` ({results['model_class']}, generator {results['generator_params'] / 1e6:.1f}M + "
            f"discriminator {results['discriminator_params'] / 1e6:.1f}M params), {results['image_size']} px, full G+D "
            f"step, torch {results['torch']}. FLOPs per image and step: {results['gflops_per_image']:.1f} GFLOP."
        ),
        "",
        f"| precision | channels_last | compile | batch | {unit} | step (s) | timed steps | share of peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in results["variants"]:
        if "skipped" in v:
            lines.append(f"| {v['precision']} | {v['channels_last']} | {v['compile']} | {v['batch_size']} | {v['skipped']} | | | |")
            continue
        share = f"{100 * v['share_of_peak']:.1f} %" if v.get("share_of_peak") is not None else "n/a"
        lines.append(
            f"| {v['precision']} | {v['channels_last']} | {v['compile']} | {v['batch_size']} | "
            f"{v['images_per_s']:.2f} | {v['step_s_median']:.4f} | {v['timed_steps']} | {share} |"
        )
    fid = results.get("fid")
    if fid:
        lines += [
            "",
            (
                f"FID pass: {fid['fid_s_per_image'] * 1e3:.1f} ms per validation image, "
                f"{fid['fid_pass_s']:.1f} s for the {PHOTO_VAL_IMAGES} photo validation images, "
                f"= {100 * fid['fid_share_of_epoch']:.1f} % of a {PHOTO_TRAIN_IMAGES}-image training epoch "
                f"({fid['epoch_s']:.1f} s at the fastest rate above)."
            ),
        ]
    md = stem.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n")
    return stem.with_suffix(".json"), md


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def _parse_override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--model-override wants KEY=VALUE (YAML value), got {text!r}")
    return key, yaml.safe_load(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="training recipe (model.class_path + init_args)")
    parser.add_argument("--model-override", type=_parse_override, action="append", default=[], metavar="KEY=VALUE",
                        help="replace a model init_arg (YAML value), e.g. generator=unet.tiny (repeatable)")  # fmt: skip
    parser.add_argument("--variants", default=None, help=f"comma list (default CPU: {CPU_VARIANTS}; GPU: {GPU_VARIANTS})")
    parser.add_argument("--batch-size", type=int, default=None, help="batch of variants without @BATCH (2 CPU, 16 GPU)")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 3 on CPU, 30 on GPU)")
    parser.add_argument("--seconds", type=float, default=None, help="time each variant this long instead of --steps")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 1 CPU, 10 GPU)")
    parser.add_argument("--fid-images", type=int, default=None, help="images timed for FID (default 8 CPU, 200 GPU)")
    parser.add_argument("--fid-weights", default=None, help="torch-fidelity Inception weights (else random)")
    parser.add_argument("--no-fid", action="store_true", help="skip the FID timing")
    parser.add_argument("--no-compile", action="store_true", help="drop the torch.compile variants")
    parser.add_argument("--tag", default=None, help="results file suffix (default: the device kind)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    gpu = args.device == "cuda"
    recipe = Recipe(args.recipe, dict(args.model_override))
    batch = args.batch_size or (16 if gpu else 2)
    steps = args.steps or (30 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 1)
    variants = [parse_variant(s, batch) for s in (args.variants or (GPU_VARIANTS if gpu else CPU_VARIANTS)).split(",")]
    if args.no_compile:
        variants = [v for v in variants if not v["compile"]]

    name = torch.cuda.get_device_name() if gpu else f"{cpu_name()}, {torch.get_num_threads()} threads"
    peak = next((v for k, v in GPU_PEAK_TFLOPS.items() if gpu and k in name), None)
    flops = count_flops_per_image(recipe, args.device, args.image_size)
    model = recipe.build()
    g_params = sum(_params(getattr(model, n, None)) for n in ("generator", "photo_to_monet", "monet_to_photo"))
    d_params = sum(_params(getattr(model, n, None)) for n in ("discriminator", "d_monet", "d_photo"))
    results = {
        "device": name, "device_kind": args.device, "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__, "lightning": L.__version__, "image_size": args.image_size,
        "recipe": str(args.recipe.resolve().relative_to(REPO)) if args.recipe.resolve().is_relative_to(REPO) else str(args.recipe),
        "model_class": recipe.model_class.__name__, "unpaired": recipe.unpaired,
        "model_overrides": dict(args.model_override),
        "generator_params": g_params, "discriminator_params": d_params,
        "gflops_per_image": flops / 1e9, "peak_tflops": peak, "variants": [],
    }  # fmt: skip
    for variant in variants:
        if not recipe.supports(variant):
            results["variants"].append({**variant, "skipped": f"{recipe.model_class.__name__} has no such option"})
            continue
        v = measure_variant(recipe, args.device, variant, args.image_size, steps, warmup, args.seconds)
        if peak is not None:
            v["share_of_peak"] = flops * v["images_per_s"] / (peak["bf16" if "bf16" in v["precision"] else "fp32"] * 1e12)
        results["variants"].append(v)
        print(json.dumps(v), flush=True)
        write_results(results, args.out, args.tag or args.device)  # kept if a later variant is stopped
    measured = [v["images_per_s"] for v in results["variants"] if "images_per_s" in v]
    if not (args.no_fid or recipe.unpaired) and measured:
        fid = measure_fid(args.device, args.image_size, args.fid_images or (200 if gpu else 8), args.fid_weights)
        fid["epoch_s"] = PHOTO_TRAIN_IMAGES / max(measured)
        fid["fid_pass_s"] = fid["fid_s_per_image"] * PHOTO_VAL_IMAGES
        fid["fid_share_of_epoch"] = fid["fid_pass_s"] / fid["epoch_s"]
        results["fid"] = fid
    json_path, md_path = write_results(results, args.out, args.tag or args.device)
    print(md_path.read_text())
    print(f"written: {json_path}, {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
