"""Find a checkpoint file locally or fetch it into the cache, verified on every use.

Sources, in order (the first verified copy wins):

1. the cache, stored by content: ``<cache>/<sha256>/<entry.file>``, cache = ``$INPAINTLAB_CACHE``
   (default ``~/.cache/inpaintlab``). Two versions of one file name (a newer registry, two installs
   sharing one cache) live side by side, so loading one never touches the other;
2. the files shipped inside the package (``inpaintlab/hub/files/``, package data of the wheel and the
   same folder in a clone), so an installed package inpaints offline at once;
3. the network: ``$INPAINTLAB_HUB_URL/<entry.file>`` when that variable is set, then the entry's
   ``urls`` (mirrors) in order. ``INPAINTLAB_OFFLINE=1`` skips this step entirely.

The SHA-256 and size are checked every time a file is handed out. A cached copy whose content is not
its address is removed with a warning and the next source is tried in the same call; a shipped file
with the wrong content is reported with a warning (never deleted: it belongs to the installation) and
the next source is tried. When no source has a verified copy, one :class:`FileNotFoundError`
(:class:`OfflineError` or :class:`~inpaintlab.hub.download.DownloadError`) names every source tried
and the fixes. Downloads hold a per-file lock (``filelock``) so two processes never write the same
cache file at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from inpaintlab.hub.download import ChecksumError, DownloadError, download_mirrors, sha256_file
from inpaintlab.hub.registry import CheckpointEntry

log = logging.getLogger(__name__)

CACHE_ENV = "INPAINTLAB_CACHE"
OFFLINE_ENV = "INPAINTLAB_OFFLINE"
HUB_URL_ENV = "INPAINTLAB_HUB_URL"
LOCK_TIMEOUT_S = 30 * 60.0
SHIPPED_DIR = Path(__file__).resolve().parent / "files"
_LFS_POINTER = b"version https://git-lfs"


class OfflineError(FileNotFoundError):
    """Offline mode is on and no verified copy of the checkpoint file is available locally."""


def cache_dir() -> Path:
    """The cache folder: ``$INPAINTLAB_CACHE`` or ``~/.cache/inpaintlab`` (not created here)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "inpaintlab").expanduser()


def cache_path(entry: CheckpointEntry) -> Path:
    """Where the cache keeps the entry's file: ``<cache>/<sha256>/<file>`` (content-addressed)."""
    return cache_dir() / entry.sha256 / entry.file


def shipped_dir() -> Path:
    """The folder of checkpoint files shipped inside the package (``inpaintlab/hub/files``)."""
    return SHIPPED_DIR


def is_offline() -> bool:
    """True when ``$INPAINTLAB_OFFLINE`` is set to 1/true/yes/on."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def hub_urls(entry: CheckpointEntry) -> list[str]:
    """Download URLs in the order tried: ``$INPAINTLAB_HUB_URL/<file>`` first, then the entry's mirrors."""
    urls = []
    base = os.environ.get(HUB_URL_ENV, "").strip()
    if base:
        urls.append(f"{base.rstrip('/')}/{entry.file}")
    urls += [u for u in entry.urls if u not in urls]
    return urls


def file_problem(path: Path, sha256: str, size: int | None = None) -> str | None:
    """None when ``path`` has this size and SHA-256, else what is wrong with it (for messages)."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        problem = f"has {actual_size} bytes, expected {size}"
        return problem + " (truncated)" if actual_size < size else problem
    actual = sha256_file(path)
    if actual != sha256:
        return f"has sha256 {actual}, expected {sha256}"
    return None


def verify_file(path: Path, sha256: str, size: int | None = None, *, delete: bool, fix: str) -> None:
    """Check a file's size and SHA-256; on a mismatch delete it (if ``delete``), raise ``ChecksumError``."""
    problem = file_problem(path, sha256, size)
    if problem is None:
        return
    if delete:
        path.unlink(missing_ok=True)
        fix = f"it was deleted; {fix}"
    raise ChecksumError(f"checkpoint file {path} {problem}; {fix}")


def _is_lfs_pointer(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(_LFS_POINTER)) == _LFS_POINTER


def local_file(entry: CheckpointEntry) -> tuple[Path, str] | None:
    """Where the entry's file already is, without hashing: ``(path, "cache" | "package")`` or None.

    Only the size is compared; :func:`fetch` does the full check.
    """
    for path, where in ((cache_path(entry), "cache"), (shipped_dir() / entry.file, "package")):
        if path.is_file() and path.stat().st_size == entry.bytes:
            return path, where
    return None


@contextlib.contextmanager
def download_lock(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` (``filelock``), the lock every writer and remover of a cache file takes;
    waiting longer than ``LOCK_TIMEOUT_S`` is a ``TimeoutError`` with the fix."""
    lock = FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        raise TimeoutError(
            f"waited {LOCK_TIMEOUT_S:.0f}s for another process using {path.name} (lock {lock.lock_file}); "
            "if no other process is running, delete the lock file and try again"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _check_cached(path: Path, entry: CheckpointEntry, tried: list[str]) -> bool:
    """True if the cached copy is good; a bad one is removed (with a warning) and noted in ``tried``."""
    if not path.is_file():
        tried.append(f"cache {path}: " + ("a folder, not the file (remove it)" if path.is_dir() else "absent"))
        return False
    problem = file_problem(path, entry.sha256, entry.bytes)
    if problem is None:
        return True
    with download_lock(path):  # never remove a good copy another process has just put in its place
        problem = file_problem(path, entry.sha256, entry.bytes) if path.is_file() else "is absent"
        if problem is None:
            return True
        path.unlink(missing_ok=True)
    warnings.warn(
        f"the cached copy {path} of {entry.name!r} {problem}; it was removed, trying the next source",
        stacklevel=3,
    )
    tried.append(f"cache {path}: {problem} (removed)")
    return False


def _check_shipped(path: Path, entry: CheckpointEntry, tried: list[str]) -> bool:
    """True if the package ships a verified copy; problems are warned about and noted in ``tried``."""
    if not path.is_file():
        tried.append(f"package {path}: absent")
        return False
    if _is_lfs_pointer(path):
        problem = "is a Git LFS pointer, not the weights (run `git lfs pull`)"
    elif path.stat().st_size != entry.bytes:
        # another checkpoint under the same file name (e.g. an entry of $INPAINTLAB_REGISTRY): not ours
        log.info("%s is another checkpoint than %r (size differs); trying the next source", path, entry.name)
        tried.append(
            f"package {path}: {path.stat().st_size} bytes, expected {entry.bytes}: another checkpoint of that "
            "name, or a damaged copy (reinstall inpaintlab, or `git checkout` it in a clone)"
        )
        return False
    else:
        problem = file_problem(path, entry.sha256, entry.bytes)
        if problem is None:
            return True
        problem += " (damaged: reinstall inpaintlab, or `git checkout` it in a clone)"
    warnings.warn(f"the shipped file {path} {problem}; trying the next source", stacklevel=3)
    tried.append(f"package {path}: {problem}")
    return False


def fetch(
    entry: CheckpointEntry,
    *,
    offline: bool | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 1.0,
) -> Path:
    """A verified local path to the entry's weights file, downloading it into the cache if needed.

    Args:
        entry: registry entry.
        offline: never touch the network; default ``$INPAINTLAB_OFFLINE``.
        progress, timeout, retries, backoff: passed to the downloader.

    Raises:
        OfflineError: offline and no verified copy in the cache or the package (a ``FileNotFoundError``).
        DownloadError: no verified copy locally and every URL failed or there is none (a
            ``FileNotFoundError``); the message lists every source tried and the fixes.
        TimeoutError: another process held the download lock for too long.
    """
    offline = is_offline() if offline is None else offline
    cached = cache_path(entry)
    tried: list[str] = []
    if _check_cached(cached, entry, tried):
        return cached
    if _check_shipped(shipped_dir() / entry.file, entry, tried):
        return shipped_dir() / entry.file
    fixes = (
        f"set {HUB_URL_ENV} to a server that has {entry.file}, run `inpaintlab download {entry.name}` "
        f"where there is network, or pass load() the path of a .safetensors file"
    )
    if offline:
        raise OfflineError(
            f"checkpoint {entry.name!r} is not available offline ({OFFLINE_ENV} is on); tried "
            + "; ".join(tried)
            + f". Unset {OFFLINE_ENV} to download it, copy a verified {entry.file} to {cached}, or {fixes}"
        )
    urls = hub_urls(entry)
    if not urls:
        raise DownloadError(
            f"checkpoint {entry.name!r} is not shipped with this installation and has no download URL; "
            "tried " + "; ".join(tried) + f". To get it: {fixes}"
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        with download_lock(cached):
            if cached.is_file() and file_problem(cached, entry.sha256, entry.bytes) is None:
                return cached  # another process finished the download while we waited
            return download_mirrors(
                urls,
                cached,
                sha256=entry.sha256,
                size=entry.bytes,
                timeout=timeout,
                retries=retries,
                backoff=backoff,
                progress=progress,
            )
    except (DownloadError, ChecksumError) as err:
        raise DownloadError(
            f"could not get checkpoint {entry.name!r}: tried " + "; ".join(tried) + f"; then {err}. To get it: "
            f"check the network or {fixes}"
        ) from None
