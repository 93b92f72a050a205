"""Shared test set-up: CPU-only by default, GPU tests skipped without CUDA, real data optional."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Tests never talk to W&B's servers or write into the user's cache.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("INPAINTLAB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    skip_data = pytest.mark.skip(reason=f"real images not found at {SHARED_DATA}")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
        if "data" in item.keywords and not SHARED_DATA.is_dir():
            item.add_marker(skip_data)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own hub cache, so no test reads or writes ~/.cache/inpaintlab."""
    monkeypatch.setenv("INPAINTLAB_CACHE", str(tmp_path_factory.mktemp("inpaintlab-cache")))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real images not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)
