"""Which generator gets the most out of a CPU-second at 256 px: training rate, cost and inference latency.

For each candidate architecture (the zoo's choice is made from this table, see the README):

* parameters and forward GFLOP per 256x256 picture (``torch.utils.flop_counter``);
* training images/s of a reconstruction step (forward, masked L1, backward, Adam) at batch 8, with and
  without channels_last, median of timed steps after a warm-up step, on synthetic in-memory batches
  with LaMa thick stroke masks;
* the share of the CPU's fp32 peak that rate implies (forward + backward = 3x the forward FLOPs; peak =
  cores x 2 FMA units x 8 fp32 lanes x 2 FLOP x clock, AVX2);
* milliseconds to inpaint one 256x256 picture (``Inpainter``, strategy auto, eval mode).

    python benchmarks/generator_throughput.py          # writes results/generator_throughput-cpu.{json,md}
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from inpaintlab.api import Inpainter
from inpaintlab.masks import stroke_mask
from inpaintlab.models import create_generator

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = {
    "unet.prefill (base 16, depth 7, max 128)": ("unet.prefill", {"base_channels": 16, "depth": 7, "max_channels": 128}),
    "unet.prefill": ("unet.prefill", {}),
    "dilated_unet.base": ("dilated_unet.base", {}),
}


def cpu_peak_gflops() -> tuple[str, float]:
    name, mhz = "cpu", None
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and name == "cpu":
            name = line.split(":", 1)[1].strip()
        if line.startswith("cpu MHz") and mhz is None:
            mhz = float(line.split(":", 1)[1])
    cores = torch.get_num_threads()
    return f"{name}, {cores} threads", cores * 2 * 8 * 2 * (mhz or 0) / 1e3


def measure(preset: str, overrides: dict, size: int, batch: int, steps: int) -> dict:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=g)
    masks = stroke_mask(size, style="thick", batch=batch, generator=g)
    model = create_generator(preset, seed=0, **overrides)
    with FlopCounterMode(display=False) as counter:
        model.predict(images[:1], masks[:1])
    row = {"params": sum(p.numel() for p in model.parameters()), "gflop_forward": counter.get_total_flops() / 1e9}
    for channels_last in (False, True):
        net = create_generator(preset, seed=0, **overrides)
        x = images
        if channels_last:
            net, x = net.to(memory_format=torch.channels_last), images.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.Adam(net.parameters(), 1e-4)
        times = []
        for step in range(steps + 1):
            start = time.perf_counter()
            loss = ((net.predict(x, masks) - x).abs() * masks).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step:  # the first step warms up
                times.append(time.perf_counter() - start)
        row[f"train_img_s{'_cl' if channels_last else ''}"] = batch / statistics.median(times)
    inpainter = Inpainter(model.eval(), device="cpu", resolution=size)
    inpainter(images[:1], masks[:1])
    start = time.perf_counter()
    for _ in range(5):
        inpainter(images[:1], masks[:1])
    row["inference_ms"] = (time.perf_counter() - start) / 5 * 1e3
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    machine, peak = cpu_peak_gflops()
    rows = {}
    for label, (preset, overrides) in CANDIDATES.items():
        rows[label] = row = measure(preset, overrides, args.size, args.batch, args.steps)
        best = max(row["train_img_s"], row["train_img_s_cl"])
        row["share_of_peak"] = 3 * row["gflop_forward"] * best / peak if peak else None
        print(label, json.dumps(row), flush=True)
    lines = [
        f"### Generator throughput at {args.size} px: {machine} (fp32 peak {peak:.0f} GFLOP/s)",
        "",
        "| generator | params | GFLOP / forward | train img/s | + channels_last | share of peak | inference ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        lines.append(
            f"| {label} | {r['params'] / 1e6:.2f}M | {r['gflop_forward']:.2f} | {r['train_img_s']:.2f} | "
            f"{r['train_img_s_cl']:.2f} | {100 * (r['share_of_peak'] or 0):.0f} % | {r['inference_ms']:.0f} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / "generator_throughput-cpu"
    meta = {"machine": machine, "peak_gflops": peak, "size": args.size, "batch": args.batch, "torch": torch.__version__}
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
