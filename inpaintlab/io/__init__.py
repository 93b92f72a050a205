"""File writing shared by every part of the package: :mod:`inpaintlab.io.atomic` (all-or-nothing writes)."""

from __future__ import annotations

from inpaintlab.io.atomic import atomic_file, atomic_symlink, atomic_write, temp_file_beside

__all__ = ["atomic_file", "atomic_symlink", "atomic_write", "temp_file_beside"]
