"""Names a package imports on first use: one module ``__getattr__`` for every package that has them.

    __getattr__ = lazy_names(__name__, {"load": "inpaintlab.api.pretrained"})

``table`` maps each public name to the module that defines it (an explicit table, no registration at
import time), so ``import inpaintlab`` or ``import inpaintlab.api`` stays cheap and torch-free.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, table: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name`` in ``table`` is imported from ``table[name]``."""

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
