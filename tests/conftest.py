"""Shared test set-up: CPU-only by default, GPU tests skipped without CUDA, real data optional.

Shared parts: :class:`ChannelStats` (a tiny FID feature extractor), the synthetic image folders
(``image_root`` for inpainting, ``domains`` for the photo/Monet tasks) and ``run_script``, the harness
that runs a script in a fresh interpreter (two-process DDP: Lightning relaunches it for rank 1). Scripts
run that way can ``from conftest import ChannelStats``: the tests folder is on their ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

# Tests never talk to W&B's servers or write into the user's cache.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
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


class ChannelStats(nn.Module):
    """A deterministic FID feature extractor for tests: the per-channel means (3 features)."""

    num_features = 3

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))


@pytest.fixture(scope="session")
def image_root(tmp_path_factory) -> Path:
    """``train/`` (8) and ``val/`` (8) synthetic 32 px pictures for the inpainting tests."""
    from inpaintlab.data.synthetic import write_image_folder

    root = tmp_path_factory.mktemp("images")
    write_image_folder(root / "train", 8, 32, seed=0)
    write_image_folder(root / "val", 8, 32, seed=1)
    return root


@pytest.fixture(scope="session")
def domains(tmp_path_factory) -> Path:
    """``{photo,monet}/{train,val}`` synthetic 20 px pictures (6/4 train, 4/2 val) for the two-domain tasks."""
    from inpaintlab.data.synthetic import write_image_folder

    root = tmp_path_factory.mktemp("domains")
    write_image_folder(root / "photo/train", 6, 20, seed=0)
    write_image_folder(root / "monet/train", 4, 20, seed=1)
    write_image_folder(root / "photo/val", 4, 20, seed=2)
    write_image_folder(root / "monet/val", 2, 20, seed=3)
    return root


@pytest.fixture
def run_script(tmp_path):
    """``run_script(source, *args, timeout=300)``: run ``source`` as a script in ``tmp_path`` in a fresh
    interpreter (the repository and the tests folder on ``PYTHONPATH``, no inherited DDP rank variables);
    fails the test with the script's output unless it exits with 0."""

    def run(source: str, *args, timeout: float = 300) -> subprocess.CompletedProcess:
        script = tmp_path / "script.py"
        script.write_text(source)
        path = os.pathsep.join([str(REPO_ROOT), str(TESTS), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": path}
        for name in ("LOCAL_RANK", "NODE_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(name, None)
        # its own process group: on a timeout the ranks Lightning launched are ended with the script
        proc = subprocess.Popen(
            [sys.executable, str(script), *map(str, args)], cwd=tmp_path, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            pytest.fail(f"script timed out after {timeout} s:\n{stdout[-3000:]}{stderr[-5000:]}")
        assert proc.returncode == 0, stdout[-3000:] + stderr[-5000:]
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    return run


def start_uvicorn(app) -> tuple[str, object, threading.Thread]:
    """Serve ``app`` with uvicorn on a free loopback port in a daemon thread, once it has started:
    ``(base url without a trailing slash, server, thread)``; stop with ``server.should_exit = True``."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread
