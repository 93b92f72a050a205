"""Wall time of the command line as a user meets it: ``inpaintlab models`` and ``inpaintlab inpaint`` of
one 300x217 picture, each a fresh process (interpreter start, imports, model load, the fill, the write).

Target (issue 11): both under 2 s wall on 2 CPU cores. ``inpaint`` runs the registry's ONNX file with
ONNX Runtime (``--runtime auto``, no torch import); the same command with ``--runtime torch`` is measured
beside it. The commands run round-robin ``--repeats`` times
after one warm-up run each (the warm-up fills the OS file cache, as any second call of a user would);
reported: median and worst wall time, and the median child CPU time (all threads together; unlike wall
time it hardly moves with the machine's background load). ``-X importtime`` of ``from inpaintlab import
load`` is summarised as the time until the package is importable.

    python benchmarks/cli_latency.py [--repeats 5] [--model photo-region] [--out benchmarks/results/cli_latency]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _entry_point() -> list[str]:
    """The installed ``inpaintlab`` script next to this interpreter, else ``python -m inpaintlab.cli``."""
    script = Path(sys.executable).with_name("inpaintlab")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "inpaintlab.cli"]


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, child CPU s) of one run of ``cmd``; a non-zero exit is an error with its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def picture_and_mask(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """The shipped painting at 300x217 and a mask with a 60x40 box and a thin stroke."""
    image = Image.open(REPO / "examples" / "assets" / "monet.jpg").convert("RGB").resize((300, 217))
    mask = np.zeros((217, 300), np.uint8)
    mask[80:120, 100:160] = 255
    mask[30:34, 20:280] = 255
    image.save(folder / "in.png")
    Image.fromarray(mask).save(folder / "mask.png")
    return folder / "in.png", folder / "mask.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="photo-region", help="registry name the inpaint command uses")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "cli_latency")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="inpaintlab-cli-latency-"))
    try:
        image, mask = picture_and_mask(work)
        env = {**os.environ, "INPAINTLAB_OFFLINE": "1", "INPAINTLAB_CACHE": str(work / "cache")}
        exe = _entry_point()
        commands = {
            "inpaintlab models": [*exe, "models"],
            "inpaintlab inpaint (300x217)": [*exe, "inpaint", "--model", args.model, "--image", str(image),
                                             "--mask", str(mask), "--output", str(work / "out.png"),
                                             "--device", "cpu"],  # fmt: skip
            "inpaintlab inpaint --runtime torch (300x217)": [*exe, "inpaint", "--model", args.model, "--image",
                                                             str(image), "--mask", str(mask), "--output",
                                                             str(work / "out-torch.png"), "--device", "cpu",
                                                             "--runtime", "torch"],  # fmt: skip
            "python -c 'from inpaintlab import load'": [sys.executable, "-c", "from inpaintlab import load"],
        }
        first_call = "inpaintlab inpaint (300x217), first call: empty cache"
        commands[first_call] = commands["inpaintlab inpaint (300x217)"]
        fresh_env = {**env, "INPAINTLAB_CACHE": str(work / "fresh-cache")}  # emptied before every run

        def run(key: str) -> tuple[float, float]:
            if key == first_call:  # ONNX Runtime optimises the graph and keeps it: what a first call pays
                shutil.rmtree(work / "fresh-cache", ignore_errors=True)
                return _timed(commands[key], fresh_env)
            return _timed(commands[key], env)

        for key in commands:  # warm-up: the OS file cache (and the kept ONNX graph), as for any second call
            run(key)
        wall: dict[str, list[float]] = {k: [] for k in commands}
        cpu: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.repeats):
            for key in commands:
                w, c = run(key)
                wall[key].append(w)
                cpu[key].append(c)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    from export_latency import machine  # the same machine line as the other benchmarks

    rows = [
        {"command": k, "median_wall_s": round(statistics.median(wall[k]), 3), "max_wall_s": round(max(wall[k]), 3),
         "median_cpu_s": round(statistics.median(cpu[k]), 3)}  # fmt: skip
        for k in commands
    ]
    result = {"machine": machine(), "repeats": args.repeats, "model": args.model, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"CLI wall time, a fresh process each ({result['machine']}; {args.repeats} runs after a warm-up)",
        "",
        "| command | median wall (s) | worst wall (s) | median CPU (s) |",
        "|---|---|---|---|",
        *(f"| `{r['command']}` | {r['median_wall_s']:.2f} | {r['max_wall_s']:.2f} | {r['median_cpu_s']:.2f} |" for r in rows),
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
