"""``inpaintlab models [NAME]``: the registry's checkpoints as a table (local or not, key metrics), or
one entry in full. Imports no torch.
"""

from __future__ import annotations

import argparse

from inpaintlab.cli.common import registry_entry

_SUMMARY_METRICS = 2  # metrics shown per row of `inpaintlab models`; `models NAME` shows them all


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "models", help="list the registry's checkpoints (inpaintlab models NAME: one entry in full)"
    )
    parser.add_argument("name", nargs="?", help="show this entry in full (every metric, recipe, file)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from inpaintlab.hub import default_registry_path, entry_to_yaml, load_registry, local_file

    entries = load_registry()
    if args.name:
        entry = registry_entry(args.name, entries)
        where = local_file(entry)
        print(entry_to_yaml(entry), end="")
        print(
            f"# local: {where[0]} ({where[1]})" if where else "# local: no (`inpaintlab download` fetches it)"
        )
        return 0
    if not entries:
        print(f"no checkpoints in the registry yet ({default_registry_path()})")
        return 0
    rows = [("NAME", "STYLE", "MASK", "PX", "SIZE", "LOCAL", "METRICS")]
    for name, entry in entries.items():
        where = local_file(entry)
        rows.append(
            (
                name,
                entry.style,
                entry.mask or "-",
                str(entry.resolution),
                _size(entry.bytes),
                where[1] if where else "no",
                _metrics_summary(entry.metrics),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    print(f"\n`inpaintlab models NAME` shows every metric of one; registry: {default_registry_path()}")
    return 0


def _metrics_summary(metrics: dict[str, float]) -> str:
    """The first metrics of an entry (``val_`` / ``bench_`` dropped from their names) and how many more there are."""
    shown = [
        f"{k.removeprefix('val_').removeprefix('bench_')}={v:.4g}"
        for k, v in list(metrics.items())[:_SUMMARY_METRICS]
    ]
    more = len(metrics) - len(shown)
    return (" ".join(shown) or "-") + (f" (+{more})" if more > 0 else "")


def _size(nbytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes} B"
