"""Latency of an exported inpainter: ONNX Runtime and TorchScript vs PyTorch, one 256x256 picture on CPU.

Each model is exported with ``inpaintlab.export.export_model`` (static 256x256, and ``--dynamic``)
and the same graph (composited fill, harmonic prefill inside) is timed in PyTorch eager mode, as the
TorchScript file and in ONNX Runtime, all on ``--threads`` CPU threads: median wall time of
``--repeats`` runs after warm-up, timed round-robin so that every runtime sees the same background load,
and the median process CPU time per call (all threads together; unlike wall time it hardly moves with
the machine's load). Models: the shipped ``monet-blocks`` (64 px native, 1.2M parameters, here run at
256x256) and the ``unet.prefill`` architecture of the GPU recipes (256 px native, 6.9M parameters,
fresh weights: speed does not depend on training), and ``dilated_unet.base``, the 256 px zoo's generator.

    python benchmarks/export_latency.py [--threads 2] [--out benchmarks/results/export_latency]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from inpaintlab import load
from inpaintlab.export import InpaintGraph, export_model, sample_picture
from inpaintlab.export.formats import onnx_session
from inpaintlab.hub import save_weights
from inpaintlab.models import create_generator


def interleaved(runners: dict[str, object], repeats: int, warmup: int = 3) -> dict[str, tuple[float, float]]:
    """Median wall ms and median process CPU ms per call of each runner, timed round-robin (every
    runner sees the same background load, which on a shared machine moves during a run)."""
    for fn in runners.values():
        for _ in range(warmup):
            fn()
    wall: dict[str, list[float]] = {k: [] for k in runners}
    cpu: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeats):
        for key, fn in runners.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall[key].append((time.perf_counter() - w) * 1e3)
            cpu[key].append((time.process_time() - c) * 1e3)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in runners}


def machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{name}, {os.cpu_count()} cores visible, load average {load1:.1f} at start"


def sources(folder: Path) -> dict[str, str]:
    torch.manual_seed(0)
    generator = create_generator("unet.prefill")
    path = save_weights(
        generator.state_dict(), folder / "unet-prefill.safetensors",
        {"class": type(generator).__name__, "init": generator.init_args}, metadata={"resolution": 256},
    )  # fmt: skip
    dilated = save_weights(
        create_generator("dilated_unet.base", seed=0).state_dict(), folder / "dilated-unet.safetensors",
        "dilated_unet.base", metadata={"resolution": 256},
    )  # fmt: skip
    return {
        "monet-blocks": "monet-blocks",
        "unet.prefill (untrained, 6.9M)": str(path),
        "dilated_unet.base (untrained, 2.8M)": str(dilated),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--models", nargs="+", default=None, help="a subset of: monet-blocks unet.prefill dilated_unet.base")
    parser.add_argument("--kinds", nargs="+", default=["static", "dynamic"], choices=["static", "dynamic"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/export_latency"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image, mask = sample_picture(args.size, args.size)
    rows, runners = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, source in sources(folder).items():
            if args.models and not any(label.startswith(m) for m in args.models):
                continue
            inpainter = load(source, device="cpu")
            graph = InpaintGraph(inpainter.model.eval(), inpainter.value_range).eval()

            def eager(graph=graph):
                with torch.inference_mode():
                    graph(image, mask)

            rows.append({"model": label, "runtime": "PyTorch (eager)", "export": "-"})
            runners[len(rows) - 1] = eager
            for dynamic in [kind == "dynamic" for kind in args.kinds]:
                kind = "dynamic" if dynamic else f"static {args.size}x{args.size}"
                for fmt in ("torchscript", "onnx"):
                    result = export_model(
                        source, folder / f"{len(rows)}.{fmt}", fmt, dynamic=dynamic, size=args.size, overwrite=True
                    )
                    if fmt == "onnx":
                        session = onnx_session(result.path, threads=args.threads)
                        feed = {"image": image.numpy(), "mask": mask.numpy()}
                        run = lambda session=session, feed=feed: session.run(["output"], feed)
                    else:
                        module = torch.jit.load(str(result.path))

                        def run(module=module):
                            with torch.inference_mode():
                                module(image, mask)

                    rows.append({
                        "model": label, "runtime": "ONNX Runtime" if fmt == "onnx" else "TorchScript",
                        "export": kind, "max_abs_diff": max(result.max_abs_diff.values(), default=None),
                        "export_s": round(result.seconds, 1),
                    })  # fmt: skip
                    runners[len(rows) - 1] = run
                    print(rows[-1], flush=True)
        for index, (wall, cpu) in interleaved(runners, args.repeats).items():
            rows[index].update(ms=round(wall, 2), cpu_ms=round(cpu, 2))
    info = {
        "machine": machine(),
        "threads": args.threads,
        "size": args.size,
        "torch": torch.__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [
        (
            f"One {args.size}x{args.size} picture, {args.threads} CPU threads, median of {args.repeats} "
            f"interleaved runs; {info['machine']}."
        ),
        "",
        "| model | runtime | export | median wall ms | median CPU ms (all threads) | max abs diff vs PyTorch |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        diff = "-" if r.get("max_abs_diff") is None else f"{r['max_abs_diff']:.1g}"
        lines.append(
            f"| {r['model']} | {r['runtime']} | {r['export']} | {r['ms']:.1f} | {r['cpu_ms']:.1f} | {diff} |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
