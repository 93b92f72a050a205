"""serve/memory.py: the server keeps freed memory, so repeated fills stop faulting pages in."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

from inpaintlab.serve import memory

# a fill's pattern: several 8 MiB tensors alive at once, all freed, again and again. glibc's own thresholds
# move with what the process freed before (imports included), so both runs start from its initial ones
# (128 KiB: blocks above go to mmap and back to the system on free), as a fresh server can find them.
_FAULTS = """
import ctypes, ctypes.util, resource, sys, torch
from inpaintlab.serve.memory import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, retain_freed_memory
mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
assert mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1 and mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1
if sys.argv[1] == "retain":
    assert retain_freed_memory()
def work():
    held = [torch.ones(2**21) for _ in range(6)]
    return sum(float(t[0]) for t in held)
for _ in range(3):
    work()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    work()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def _has_mallopt() -> bool:
    name = ctypes.util.find_library("c")
    return sys.platform.startswith("linux") and name is not None and hasattr(ctypes.CDLL(name), "mallopt")


@pytest.mark.skipif(not _has_mallopt(), reason="needs glibc's mallopt")
def test_retained_memory_is_not_faulted_in_again():
    default, retained = _page_faults("default"), _page_faults("retain")
    assert default > 10_000  # 20 rounds of 48 MiB paged in again (about 240,000 pages)
    assert retained < default / 20


def test_without_glibc_nothing_changes(monkeypatch):
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: None)
    assert memory.retain_freed_memory() is False
    with pytest.raises(ValueError, match="trim_threshold"):
        memory.retain_freed_memory(-1)
