"""All-or-nothing file writes: a temporary file beside the target, fsync'd, then renamed into place.

Every file the package keeps (checkpoints, hub weights and downloads, exports, the FID cache, pictures,
configs, the ``latest`` link of a run) is written through this module:

* the data goes to a temporary file in the target's folder, ``.<name>.<pid>.<host>.<random>.tmp`` (a
  leading dot and a ``.tmp`` suffix: no ``*.ckpt`` or ``*.onnx`` pattern picks it up), created with the
  mode a plain ``open()`` gives (``0o666 & ~umask``; ``tempfile.mkstemp`` would give 0600), so a cache or
  run folder shared by a group stays readable after the rename;
* it is fsync'd and renamed over the target (``os.replace``), or hard-linked into place where the target
  must not be overwritten (a file that appeared meanwhile is then never replaced), and the folder is
  fsync'd: after a crash or a power cut a reader finds the old file or the new one, never half of one;
* on an error or Ctrl-C the temporary file is removed. A writer killed outright (SIGKILL, out of memory,
  a power cut) cannot remove it, so each write first removes the leftovers of dead writers of the same
  target: at once where the process named in the file name no longer runs (``<host>``, the host name and
  the Linux pid namespace, says the id is one of this machine's), otherwise (written on another machine
  sharing the folder, by an older inpaintlab whose names carry no process id, or a process id now
  reused) once the file is a day old. A live writer's file is left alone (no writer leaves its file
  untouched for a day).

Finding leftovers lists the target's folder on every write (about 0.6 ms per thousand files).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

LEFTOVER_AGE_S = 24 * 3600.0
"""A temporary file untouched this long is a leftover whoever wrote it: no writer pauses that long."""

_NAME_KEPT = 160  # characters of the target's name in a temporary name (at most 255 in all)
# the temporary names of inpaintlab before this module: download ".part" (12 hex), tempfile.mkstemp
# (8 characters) and the FID cache (pid and 32 hex)
_OLD_SUFFIX = r"(?:[0-9a-f]{12}\.part|[a-z0-9_]{8}\.tmp|\d+\.[0-9a-f]{32}\.tmp)"


@functools.cache
def _host() -> str:
    """This machine as it goes into a temporary name (letters, digits and '-'): its name and, on Linux,
    its process-id namespace, so that containers sharing a folder and a host name never judge each
    other's process ids."""
    name = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
    try:
        return f"{name}-{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:  # not Linux
        return name


def _folder_error(path: Path) -> IsADirectoryError:
    return IsADirectoryError(
        f"{path} is a folder, so the file cannot be written there: remove or rename that folder, "
        "or write the file to another path"
    )


def _process_runs(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (True where it cannot be told, e.g. on Windows,
    where ``os.kill`` would end the process)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def _remove_leftovers(path: Path) -> None:
    """Remove the temporary files of dead writers of ``path`` (see the module doc); never raises."""
    ours = re.compile(re.escape(f".{path.name[:_NAME_KEPT]}.") + r"(\d+)\.([A-Za-z0-9-]+)\.[0-9a-f]{12}\.tmp")
    old = re.compile(re.escape(f".{path.name}.") + _OLD_SUFFIX)
    prefix = f".{path.name[:_NAME_KEPT]}."
    now = time.time()
    try:
        with os.scandir(path.parent) as entries:
            for entry in entries:
                if not entry.name.startswith(prefix):
                    continue
                match = ours.fullmatch(entry.name)
                if match is None and old.fullmatch(entry.name) is None:
                    continue
                try:
                    dead = match is not None and match[2] == _host() and not _process_runs(int(match[1]))
                    if dead or now - entry.stat(follow_symlinks=False).st_mtime > LEFTOVER_AGE_S:
                        os.unlink(entry.path)
                except OSError:  # removed by another writer meanwhile, or not ours to remove
                    continue
    except OSError:  # the folder cannot be listed: writing will say what is wrong
        return


def _temp_name(path: Path) -> Path:
    name = f".{path.name[:_NAME_KEPT]}.{os.getpid()}.{_host()}.{secrets.token_hex(6)}.tmp"
    return path.with_name(name)


def temp_file_beside(path: str | os.PathLike) -> Path:
    """A new, empty temporary file in ``path``'s folder, named for ``path`` and this process, with the mode
    of any new file (``0o666 & ~umask``); the dead writers' leftovers of ``path`` are removed first.

    For a writer that needs a file name (e.g. ONNX Runtime's ``optimized_model_filepath``); the caller
    removes the file. :func:`atomic_file` uses it and also renames it into place.
    """
    path = Path(path)
    _remove_leftovers(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _temp_name(path)
        try:
            os.close(os.open(tmp, flags, 0o666))
            return tmp
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        except FileNotFoundError:
            if path.parent.is_dir():
                raise
            raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist") from None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Persist a rename: fsync the folder (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _move_into_place(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        try:
            os.replace(tmp, path)
        except IsADirectoryError:  # a folder appeared at path meanwhile
            raise _folder_error(path) from None
        return
    appeared = FileExistsError(f"{path} appeared while it was being written; nothing was overwritten")
    try:
        os.link(tmp, path)  # atomic, and fails where a file is there
    except FileExistsError:
        raise appeared from None
    except OSError:  # a file system without hard links
        if os.path.lexists(path):
            raise appeared from None
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Write ``path`` all or nothing: yields a new temporary file beside it to write (by name; open it
    with ``"wb"``), which becomes ``path`` when the block ends without an error (see the module doc).

    The folder must exist. With ``overwrite=False`` an existing ``path`` is never replaced: a
    ``FileExistsError`` before the block runs, or after it when a file appeared meanwhile (callers
    check first themselves to name the fix). An error in the block removes the temporary file and leaves
    ``path`` as it was.

    Raises:
        IsADirectoryError: ``path`` is a folder (the message names the fix).
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise _folder_error(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} already exists; nothing was written")
    tmp = temp_file_beside(path)
    try:
        yield tmp
        _fsync_file(tmp)
        _move_into_place(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)  # after an error, or the name left beside a hard link
    _fsync_folder(path.parent)


def atomic_write(
    path: str | os.PathLike, data: bytes | bytearray | memoryview, *, overwrite: bool = True
) -> Path:
    """Write ``data`` to ``path`` all or nothing (:func:`atomic_file`); returns ``path``."""
    with atomic_file(path, overwrite=overwrite) as tmp, open(tmp, "wb") as out:
        out.write(data)
    return Path(path)


def atomic_symlink(link: str | os.PathLike, target: str, *, target_is_directory: bool = False) -> None:
    """Make ``link`` a symbolic link to ``target`` atomically (a temporary link renamed over it): a reader
    finds the old link or the new one. A folder at ``link`` is an ``IsADirectoryError``."""
    link = Path(link)
    _remove_leftovers(link)
    while True:
        tmp = _temp_name(link)
        try:
            tmp.symlink_to(target, target_is_directory=target_is_directory)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    try:
        os.replace(tmp, link)
    except IsADirectoryError:
        raise _folder_error(link) from None
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(link.parent)
