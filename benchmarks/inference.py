"""Inference latency and memory of ``load(...)(img, mask)``.

Rows: one 256x256 image on CPU with a centre hole and with 8 scattered blocks (median of repeated
runs; target under 80 ms on 2 cores), a 4000x3000 photo with a 5% hole on CPU (windows around the hole at native resolution), and batch
throughput on a GPU when one is available. Peak memory: CPU resident-set growth (``ru_maxrss``) and
``torch.cuda.max_memory_allocated``. ``--model NAME`` is a registry checkpoint; the default,
``photo-blocks``, has the zoo's largest architecture (speed does not depend on the style).

    python benchmarks/inference.py [--model photo-center] [--out benchmarks/results/inference]
    python benchmarks/inference.py --retain-freed-memory --out benchmarks/results/inference-retained
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from inpaintlab import load
from inpaintlab.serve.memory import retain_freed_memory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name


def median_ms(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="photo-blocks")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-texture", dest="texture", action="store_false", help="the fill without its texture stage")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/inference"))
    parser.add_argument("--retain-freed-memory", action="store_true",
                        help="keep freed memory in the process first, as `inpaintlab serve` does (glibc)")
    args = parser.parse_args()
    if args.retain_freed_memory and not retain_freed_memory():
        parser.error("--retain-freed-memory needs glibc's mallopt")
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    rows = []

    cpu = load(args.model, device="cpu", texture=args.texture)
    image = torch.rand(1, 3, 256, 256)
    mask = torch.zeros(1, 1, 256, 256)
    mask[..., 96:160, 96:160] = 1
    before = rss_mb()
    ms = median_ms(lambda: cpu(image, mask), args.repeats)
    rows.append({"case": "256x256, one image, 64x64 centre hole", "device": f"CPU, {args.threads} threads",
                 "median_ms": round(ms, 1), "peak_rss_growth_mb": round(rss_mb() - before, 1)})
    # holes spread over the picture: their bounding box (which the prefill relaxes) covers 71% of it. No memory
    # figure: ru_maxrss is the process's high-water mark, which the row before has already raised.
    blocks = torch.zeros(1, 1, 256, 256)
    for top, left in np.random.default_rng(1).integers(0, 256 - 32, (8, 2)):
        blocks[..., top : top + 32, left : left + 32] = 1
    ms = median_ms(lambda: cpu(image, blocks), args.repeats)
    rows.append({"case": "256x256, one image, 8 scattered 32x32 blocks", "device": f"CPU, {args.threads} threads",
                 "median_ms": round(ms, 1), "peak_rss_growth_mb": None})

    big = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    hole = np.zeros((3000, 4000), dtype=bool)
    side = int((0.05 * 3000 * 4000) ** 0.5)  # a 5% square hole
    hole[1200 : 1200 + side, 1500 : 1500 + side] = True
    before = rss_mb()
    ms = median_ms(lambda: cpu(big, hole), max(3, args.repeats // 4), warmup=1)
    rows.append({"case": "4000x3000 uint8, 5% hole", "device": f"CPU, {args.threads} threads", "median_ms": round(ms, 1),
                 "peak_rss_growth_mb": round(rss_mb() - before, 1)})

    if torch.cuda.is_available():
        gpu = load(args.model, device="cuda", texture=args.texture)
        batch = 64
        images = torch.rand(batch, 3, 256, 256, device="cuda")
        masks = torch.zeros(batch, 1, 256, 256, device="cuda")
        masks[..., 96:160, 96:160] = 1
        torch.cuda.reset_peak_memory_stats()

        def run():
            gpu(images, masks)
            torch.cuda.synchronize()

        ms = median_ms(run, args.repeats)
        rows.append({"case": f"256x256, batch {batch}", "device": torch.cuda.get_device_name(), "median_ms": round(ms, 1),
                     "images_per_s": round(batch / ms * 1e3, 1),
                     "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)})

    meta = {"model": cpu.name, "machine": f"{platform.machine()} {cpu_name()}".strip(), "torch": torch.__version__,
            "retain_freed_memory": args.retain_freed_memory}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = ["| case | device | median ms | peak memory |", "|---|---|---|---|"]
    for r in rows:
        if "peak_gpu_mb" in r:
            memory = f"{r['peak_gpu_mb']} MB GPU"
        else:
            memory = "-" if r["peak_rss_growth_mb"] is None else f"+{r['peak_rss_growth_mb']} MB RSS"
        lines.append(f"| {r['case']} | {r['device']} | {r['median_ms']} | {memory} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(json.dumps(meta))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
