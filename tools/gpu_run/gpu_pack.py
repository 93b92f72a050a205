"""Build what a GPU run carries (``.gpu/``, git-ignored): a compact data pack and the wheels that machine lacks.

    python tools/gpu_run/gpu_pack.py                 # .gpu/data.zip + .gpu/wheels/, sized to fit the 64 MiB transfer
    python tools/gpu_run/gpu_pack.py --check         # only the size arithmetic (exit 1 when over the limit)
    python tools/gpu_run/gpu_pack.py --limit 12 --pack /tmp/gpu-tiny/data.zip --no-wheels   # a tiny pack for dry runs

The device tool sends the repository's tracked and untracked-not-ignored files plus the carried paths,
64 MiB in all. The pack gets what the tree and the wheels leave (less ``--margin-mib``): every image of
``../shared/data`` re-encoded at 256 px (WebP by default; JPEG with ``--codec jpeg``) at the highest quality
that fits, trying ``--qualities`` from the top; if even the lowest does not fit, a seeded random subset of
photo/train goes in (the val sets and monet/train always go in whole). Sizes are predicted from a sample of
each set, then the real encodings are trimmed to fit.

The pack is one zip of stored (uncompressed: the pictures are compressed already) members, about 150
bytes of overhead each (a tar's headers and padding cost 5 times that): ``manifest.json`` (codec, quality,
per set its members and their original file names) and ``photo/train/00000.webp``... Members keep the
sorted order of the original names, so val image ``i`` (and its fixed mask) is the same picture as on the
CPU machine. ``unpack()`` checks every member's CRC and the manifest's counts;
``tools/gpu_run/gpu_driver.py`` unpacks it on the GPU machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MIB = 2**20
TRANSFER_LIMIT = 64 * MIB  # working tree + carried paths, per device call
PACK_FORMAT = "inpaintlab-gpu-pack/1"
IMAGE_SIZE = 256
# Priority order: the last set is the one cut when the budget is short.
PACK_SETS = ("photo/val", "monet/val", "monet/train", "photo/train")
TRIM_SET = "photo/train"
QUALITIES = (90, 80, 75, 70, 65, 60, 55, 50)
MEMBER_OVERHEAD = 180  # bytes per picture besides its data: zip headers (~120) and its manifest line (~60)
CODECS = {"webp": ("WEBP", ".webp", {"method": 6}), "jpeg": ("JPEG", ".jpg", {"optimize": True})}
SOURCE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
# What the GPU machine's image lacks (/work/.library/device/KINDS.md lists what it has): versions are the
# ones installed here, so the dry run tests the same code.
WHEELS = ("kornia", "kornia_rs", "torch-fidelity", "jsonargparse", "docstring-parser", "typeshed-client")
PIP_PLATFORM_ARGS = (
    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_27_x86_64",
    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64", "--platform", "manylinux1_x86_64",
)  # fmt: skip


@dataclass(frozen=True)
class SetEstimate:
    """A set's image count and its mean encoded bytes per image at each quality."""

    count: int
    bytes_per_image: dict[int, float]


@dataclass(frozen=True)
class PackPlan:
    quality: int
    counts: dict[str, int]
    predicted_bytes: int


def plan_pack(sets: dict[str, SetEstimate], budget: int, qualities=QUALITIES, trim: str = TRIM_SET,
              overhead: int = MEMBER_OVERHEAD) -> PackPlan:  # fmt: skip
    """The highest quality at which every set fits in ``budget`` bytes (``overhead`` more per picture);
    else the lowest quality with ``trim`` cut to what is left. ``ValueError`` when the other sets alone
    do not fit."""
    if budget <= 0:
        raise ValueError(f"no room for a data pack: the budget is {budget / MIB:.1f} MiB (free space in the transfer)")
    ordered = sorted(qualities, reverse=True)
    for q in ordered:
        total = sum(s.count * (s.bytes_per_image[q] + overhead) for s in sets.values())
        if total <= budget:
            return PackPlan(q, {n: s.count for n, s in sets.items()}, int(total))
    q = ordered[-1]
    fixed = sum(s.count * (s.bytes_per_image[q] + overhead) for n, s in sets.items() if n != trim)
    if trim not in sets or fixed > budget:
        raise ValueError(
            f"the data pack does not fit: at quality {q} the sets other than {trim} need {fixed / MIB:.1f} MiB, "
            f"the transfer leaves {budget / MIB:.1f} MiB; free room in the repository (see --check) or pass --limit"
        )
    per_image = sets[trim].bytes_per_image[q] + overhead
    keep = min(sets[trim].count, int((budget - fixed) // per_image))
    counts = {n: (keep if n == trim else s.count) for n, s in sets.items()}
    return PackPlan(q, counts, int(fixed + keep * per_image))


def trim_to_budget(encoded: dict[str, list[bytes]], budget: int, trim: str = TRIM_SET,
                   overhead: int = MEMBER_OVERHEAD) -> dict[str, list[bytes]]:  # fmt: skip
    """Drop images from the end of ``trim`` until the total (``overhead`` more per picture) fits ``budget``
    (the plan's sizes are estimates from a sample)."""
    out = {n: list(v) for n, v in encoded.items()}
    total = sum(len(b) + overhead for v in out.values() for b in v)
    while total > budget and out.get(trim):
        total -= len(out[trim].pop()) + overhead
    if total > budget:
        raise ValueError(f"the pack needs {total / MIB:.1f} MiB without any {trim} image; the budget is {budget / MIB:.1f} MiB")
    return out


def choose_subset(names: list[str], count: int, seed: int = 0) -> list[str]:
    """``count`` of ``names``, drawn by a seeded shuffle, returned in sorted order."""
    chosen = sorted(names)
    random.Random(seed).shuffle(chosen)
    return sorted(chosen[:count])


def load_square(path: Path, size: int = IMAGE_SIZE):
    """A picture as an RGB PIL image of ``size`` x ``size`` (centre square, resized only if needed)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
    w, h = im.size
    if (w, h) != (size, size):
        side = min(w, h)
        im = im.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        im = im.resize((size, size), resample=3)  # bicubic
    return im


def encode(image, codec: str, quality: int) -> bytes:
    fmt, _, options = CODECS[codec]
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=quality, **options)
    return buffer.getvalue()


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_pack(path: Path, encoded: dict[str, list[tuple[str, bytes]]], codec: str, quality: int,
               totals: dict[str, int] | None = None, source: str = "") -> dict:  # fmt: skip
    """Write the zip (``manifest.json`` first) atomically; ``encoded[set]`` is ``[(original name, bytes)]``."""
    ext = CODECS[codec][1]
    manifest = {"format": PACK_FORMAT, "codec": codec, "quality": quality, "image_size": IMAGE_SIZE,
                "source": source, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "sets": {}}  # fmt: skip
    members = []
    for name, items in encoded.items():
        files = []
        for i, (original, data) in enumerate(items):
            member = f"{name}/{i:05d}{ext}"
            files.append([member, original])
            members.append((member, data))
        total = (totals or {}).get(name, len(items))
        manifest["sets"][name] = {"count": len(items), "of": total, "bytes": sum(len(d) for _, d in items), "files": files}

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as pack:
            for member, data in [("manifest.json", json.dumps(manifest, separators=(",", ":")).encode()), *members]:
                pack.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), data)

    _atomic_write(Path(path), write)
    return manifest


def read_manifest(path: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as pack:
            manifest = json.loads(pack.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError) as err:
        raise ValueError(f"{path} is not a data pack from tools/gpu_run/gpu_pack.py ({err}); rebuild it") from None
    if manifest.get("format") != PACK_FORMAT:
        raise ValueError(f"{path}: pack format {manifest.get('format')!r}, expected {PACK_FORMAT!r}")
    return manifest


def unpack(path: Path, dest: Path) -> dict:
    """Extract the pack into ``dest`` (``dest/photo/train/...``), checking every member's CRC."""
    manifest = read_manifest(path)
    expected = {m for s in manifest["sets"].values() for m, _ in s["files"]}
    dest = Path(dest)
    with zipfile.ZipFile(path) as pack:
        for name in pack.namelist():
            if name == "manifest.json":
                continue
            if name not in expected:
                raise ValueError(f"{path}: unexpected member {name!r}")
            try:
                data = pack.read(name)  # checks the CRC
            except zipfile.BadZipFile as err:
                raise ValueError(f"{path}: member {name} is corrupt ({err}); rebuild the pack") from None
            expected.discard(name)
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    if expected:
        raise ValueError(f"{path}: {len(expected)} members of the manifest are missing, e.g. {next(iter(expected))}")
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def transfer_bytes(repo: Path = REPO, carried: tuple[str, ...] = ()) -> dict[str, int]:
    """Bytes the device tool would send: tracked + untracked-not-ignored files, and each carried path."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True,
    ).stdout.split(b"\0")
    tree = sum((repo / os.fsdecode(p)).stat().st_size for p in listed if p and (repo / os.fsdecode(p)).is_file())
    sizes = {"tree": tree}
    for c in carried:
        root = repo / c
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
        sizes[c] = sum(p.stat().st_size for p in files)
    return sizes


def source_files(data: Path, name: str) -> list[Path]:
    folder = data / name
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist; pass --data pointing at the shared data (photo/, monet/)")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SOURCE_EXTENSIONS)


def download_wheels(dest: Path) -> list[Path]:
    from importlib.metadata import version

    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    pins = [f"{name}=={version(name)}" for name in WHEELS]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PIP_PLATFORM_ARGS, "-d", str(dest), *pins]
    subprocess.run(cmd, check=True)
    return sorted(dest.glob("*.whl"))


def _encode_all(images: dict[str, list[Path]], codec: str, quality: int, threads: int) -> dict[str, list[tuple[str, bytes]]]:
    def one(path: Path) -> tuple[str, bytes]:
        return path.name, encode(load_square(path), codec, quality)

    with ThreadPoolExecutor(threads) as pool:
        return {name: list(pool.map(one, files)) for name, files in images.items()}


def estimate(files: dict[str, list[Path]], codec: str, qualities, sample: int, threads: int) -> dict[str, SetEstimate]:
    estimates = {}
    for name, paths in files.items():
        picked = random.Random(1).sample(paths, min(sample, len(paths)))
        squares = [load_square(p) for p in picked]
        per_q = {}
        with ThreadPoolExecutor(threads) as pool:
            for q in qualities:
                per_q[q] = sum(pool.map(lambda im, q=q: len(encode(im, codec, q)), squares)) / max(1, len(squares))
        estimates[name] = SetEstimate(len(paths), per_q)
    return estimates


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--gpu-dir", type=Path, default=REPO / ".gpu", help="the carried folder (default .gpu)")
    parser.add_argument("--pack", type=Path, default=None, help="pack file (default <gpu-dir>/data.zip)")
    parser.add_argument("--codec", choices=sorted(CODECS), default="webp")
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)), help="tried from the highest")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per set (tiny packs)")
    parser.add_argument("--margin-mib", type=float, default=2.0, help="room left for changes before the run")
    parser.add_argument("--budget-mib", type=float, default=None, help="pack size limit (default: what the transfer leaves)")
    parser.add_argument("--sample", type=int, default=32, help="images per set encoded to predict sizes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-wheels", action="store_true", help="keep <gpu-dir>/wheels as it is")
    parser.add_argument("--check", action="store_true", help="only print the transfer size arithmetic")
    args = parser.parse_args(argv)
    pack = args.pack or args.gpu_dir / "data.zip"
    carried = str(args.gpu_dir.resolve().relative_to(REPO)) if args.gpu_dir.resolve().is_relative_to(REPO) else None

    if args.check:
        sizes = transfer_bytes(REPO, (carried,) if carried else ())
        total = sum(sizes.values())
        for k, v in sizes.items():
            print(f"{k:>10}: {v / MIB:7.2f} MiB")
        print(f"{'total':>10}: {total / MIB:7.2f} MiB of {TRANSFER_LIMIT / MIB:.0f} MiB ({'fits' if total <= TRANSFER_LIMIT else 'TOO LARGE'})")
        if total > TRANSFER_LIMIT:
            print("the shipped inpainters' files do not travel: `python tools/gpu_run/gpu_park.py park` moves them out of the tree")
        return 0 if total <= TRANSFER_LIMIT else 1

    if not args.no_wheels:
        wheels = download_wheels(args.gpu_dir / "wheels")
        print(f"wheels: {len(wheels)} files, {sum(w.stat().st_size for w in wheels) / MIB:.2f} MiB")
    pack.unlink(missing_ok=True)  # the old pack must not count against the new one's budget
    if args.budget_mib is not None:
        budget = int(args.budget_mib * MIB)
    else:
        sizes = transfer_bytes(REPO, (carried,) if carried else ())
        budget = int(TRANSFER_LIMIT - sum(sizes.values()) - args.margin_mib * MIB)
        if budget <= 0:
            raise SystemExit(
                f"the tree alone is {sizes['tree'] / MIB:.1f} MiB, no room for a pack in {TRANSFER_LIMIT / MIB:.0f} MiB: "
                "run `python tools/gpu_run/gpu_park.py park` (the shipped inpainters' files, which the GPU run does not use), "
                "then this again"
            )
        print("transfer without the pack: " + ", ".join(f"{k} {v / MIB:.2f} MiB" for k, v in sizes.items()))
    files = {name: source_files(args.data, name) for name in PACK_SETS}
    totals = {name: len(paths) for name, paths in files.items()}
    if args.limit:  # val sets: the first images (val image i keeps its index); training sets: a seeded draw
        files = {n: p[: args.limit] if n.endswith("/val") else choose_subset_paths(p, args.limit) for n, p in files.items()}
    qualities = [int(q) for q in args.qualities.split(",")]
    plan = plan_pack(estimate(files, args.codec, qualities, args.sample, args.threads), budget, qualities)
    print(f"plan: quality {plan.quality}, {plan.counts}, predicted {plan.predicted_bytes / MIB:.2f} MiB of {budget / MIB:.2f} MiB")
    files[TRIM_SET] = choose_subset_paths(files[TRIM_SET], plan.counts[TRIM_SET])
    encoded = _encode_all(files, args.codec, plan.quality, args.threads)
    kept = trim_to_budget({n: [b for _, b in v] for n, v in encoded.items()}, budget)
    encoded = {n: v[: len(kept[n])] for n, v in encoded.items()}
    manifest = write_pack(pack, encoded, args.codec, plan.quality, totals, source=str(args.data))
    while pack.stat().st_size > budget and encoded[TRIM_SET]:  # the overhead per picture is an estimate too
        encoded[TRIM_SET] = encoded[TRIM_SET][: -max(1, (pack.stat().st_size - budget) // 4000)]
        manifest = write_pack(pack, encoded, args.codec, plan.quality, totals, source=str(args.data))
    print(f"wrote {pack}: {pack.stat().st_size / MIB:.2f} MiB, quality {plan.quality}, "
          + ", ".join(f"{n} {s['count']}/{s['of']}" for n, s in manifest["sets"].items()))  # fmt: skip
    if carried:
        sizes = transfer_bytes(REPO, (carried,))
        print(f"transfer with carry {carried}: {sum(sizes.values()) / MIB:.2f} MiB of {TRANSFER_LIMIT / MIB:.0f} MiB")
    return 0


def choose_subset_paths(paths: list[Path], count: int) -> list[Path]:
    by_name = {p.name: p for p in paths}
    return [by_name[n] for n in choose_subset(list(by_name), count)]


if __name__ == "__main__":
    raise SystemExit(main())
