"""inpaintlab.io.atomic: all-or-nothing writes with the umask's mode, and the leftovers of killed writers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inpaintlab.io import atomic_file, atomic_symlink, atomic_write, temp_file_beside
from inpaintlab.io.atomic import LEFTOVER_AGE_S
from inpaintlab.training.checkpoint_io import AtomicCheckpointIO

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes, signals and process ids of POSIX")
REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def run_python(code: str, **kwargs) -> subprocess.Popen:
    """A Python process running ``code`` with this checkout's inpaintlab importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code], env=env, text=True, **kwargs)


def make_old(path: Path) -> None:
    old = time.time() - LEFTOVER_AGE_S - 60
    os.utime(path, (old, old), follow_symlinks=False)


# --------------------------------------------------------------------------------------------- mode


@posix_only
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_a_plain_open_gives(tmp_path, mask, mode):
    replaced = tmp_path / "replaced.bin"
    replaced.write_bytes(b"old")
    replaced.chmod(0o600 if mode != 0o600 else 0o644)
    with umask(mask):
        atomic_write(tmp_path / "new.bin", b"data")
        atomic_write(replaced, b"new")
        with atomic_file(tmp_path / "by_name.pt") as tmp:  # a writer that takes a file name
            torch.save({"a": 1}, tmp)
        AtomicCheckpointIO().save_checkpoint({"epoch": 1}, tmp_path / "last.ckpt")
        with open(tmp_path / "plain.bin", "wb"):
            pass
    for name in ("new.bin", "replaced.bin", "by_name.pt", "last.ckpt", "plain.bin"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    assert replaced.read_bytes() == b"new"
    assert names(tmp_path) == ["by_name.pt", "last.ckpt", "new.bin", "plain.bin", "replaced.bin"]


# ---------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("error", [ValueError("the writer failed"), KeyboardInterrupt()])
def test_an_error_mid_write_leaves_the_old_file_and_no_temporary_file(tmp_path, error):
    path = tmp_path / "best.ckpt"
    path.write_bytes(b"the old checkpoint")
    with pytest.raises(type(error)), atomic_file(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".best.ckpt.") and tmp.suffix == ".tmp"
        tmp.write_bytes(b"half of the new")
        raise error
    assert path.read_bytes() == b"the old checkpoint"
    assert names(tmp_path) == ["best.ckpt"]


def test_overwrite_false_never_replaces_a_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"published")
    with pytest.raises(FileExistsError, match=r"w\.safetensors already exists; nothing was written"):
        atomic_write(path, b"new", overwrite=False)
    late = tmp_path / "late.yaml"
    appeared = "appeared while it was being written; nothing was overwritten"
    with pytest.raises(FileExistsError, match=appeared), atomic_file(late, overwrite=False) as tmp:
        tmp.write_bytes(b"ours")
        late.write_bytes(b"another writer's")  # appears between the check and the rename
    assert path.read_bytes() == b"published" and late.read_bytes() == b"another writer's"
    assert names(tmp_path) == ["late.yaml", "w.safetensors"]
    assert atomic_write(tmp_path / "free.yaml", b"x", overwrite=False).read_bytes() == b"x"


def test_a_folder_at_the_path_is_a_clear_error(tmp_path):
    folder = tmp_path / "w.safetensors"
    folder.mkdir()
    fix = r"is a folder, so the file cannot be written there: remove or rename that folder"
    with pytest.raises(IsADirectoryError, match=fix) as caught:
        atomic_write(folder, b"data")
    assert str(folder) in str(caught.value)
    with pytest.raises(IsADirectoryError, match=fix):
        AtomicCheckpointIO().save_checkpoint({"epoch": 1}, folder)
    late = tmp_path / "late.pt"
    with pytest.raises(IsADirectoryError, match=fix), atomic_file(late) as tmp:
        tmp.write_bytes(b"x")
        (late / "inside").mkdir(parents=True)  # a folder appears meanwhile
    assert names(tmp_path) == ["late.pt", "w.safetensors"] and folder.is_dir()


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cannot write .*x\.bin: the folder .*nope does not exist"):
        atomic_write(tmp_path / "nope" / "x.bin", b"data")


# --------------------------------------------------------------------------------- leftovers


@posix_only
def test_a_killed_writers_leftover_is_removed_by_the_next_write(tmp_path):
    path = tmp_path / "last.ckpt"
    path.write_bytes(b"before the crash")
    code = (
        "import os, signal, sys\n"
        "from inpaintlab.io import atomic_file\n"
        "with atomic_file(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half a checkpoint')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    writer = run_python(code.replace("sys.argv[1]", repr(str(path))))
    assert writer.wait(timeout=60) == -signal.SIGKILL
    leftovers = [name for name in names(tmp_path) if name != "last.ckpt"]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".last.ckpt.{writer.pid}.")
    assert path.read_bytes() == b"before the crash"

    atomic_write(path, b"after")
    assert names(tmp_path) == ["last.ckpt"] and path.read_bytes() == b"after"


@posix_only
def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    path = tmp_path / "model.onnx"
    code = (
        "import sys\n"
        "from inpaintlab.io import temp_file_beside\n"
        f"print(temp_file_beside({str(path)!r}), flush=True)\n"
        "sys.stdin.read()\n"  # writing, until the test lets it go
    )
    writer = run_python(code, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        theirs = Path(writer.stdout.readline().strip())
        assert theirs.parent == tmp_path and theirs.is_file()
        with atomic_file(path) as tmp:  # this process's own temporary file (another thread's, say)
            tmp.write_bytes(b"ours")
            atomic_write(path, b"a thread's")
            assert tmp.is_file()
        assert theirs.is_file() and path.read_bytes() == b"ours"
    finally:
        writer.communicate("", timeout=60)
    assert names(tmp_path) == sorted(["model.onnx", theirs.name])


def test_leftovers_that_cannot_be_checked_go_after_a_day(tmp_path):
    """Another machine's (the folder is shared) and older inpaintlab versions' temporary files: no process
    to ask, so only their age tells; files that are not temporary files of this target stay."""
    path = tmp_path / "w.safetensors"
    old_names = [
        f".w.safetensors.{os.getpid()}.another-machine.0123456789ab.tmp",
        ".w.safetensors.0123456789ab.part",  # hub download
        ".w.safetensors.k2_9xq1a.tmp",  # tempfile.mkstemp (checkpoints, exports)
        f".w.safetensors.123.{'ab' * 16}.tmp",  # FID cache
    ]
    kept = [".w.safetensors.notes", ".x.safetensors.0123456789ab.part", "w.safetensors.0123456789ab.part"]
    for name in old_names + kept:
        (tmp_path / name).write_bytes(b"x")
    atomic_write(path, b"1")  # all fresh: a writer may still be at work
    assert names(tmp_path) == sorted([*old_names, *kept, "w.safetensors"])
    for name in old_names + kept:
        make_old(tmp_path / name)
    atomic_write(path, b"2")
    assert names(tmp_path) == sorted([*kept, "w.safetensors"])


@posix_only
def test_atomic_symlink_replaces_a_link_and_cleans_a_dead_writers_leftover(tmp_path):
    (tmp_path / "version_0").mkdir()
    (tmp_path / "version_1").mkdir()
    latest = tmp_path / "latest"
    atomic_symlink(latest, "version_0", target_is_directory=True)
    killed = run_python("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert killed.wait(timeout=60) == -signal.SIGKILL
    ours = temp_file_beside(latest)  # a temporary name of this machine, then given the dead process's id
    ours.unlink()
    leftover = ours.with_name(ours.name.replace(f".{os.getpid()}.", f".{killed.pid}.", 1))
    leftover.symlink_to("version_0", target_is_directory=True)
    atomic_symlink(latest, "version_1", target_is_directory=True)
    assert os.readlink(latest) == "version_1"
    assert names(tmp_path) == ["latest", "version_0", "version_1"]
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="remove or rename that folder"):
        atomic_symlink(tmp_path / "folder", "version_1")
