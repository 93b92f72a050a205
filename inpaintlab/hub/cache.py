"""Find a checkpoint file locally or fetch it into the cache, verified on every use.

Sources, in order:

1. the cache: ``$INPAINTLAB_CACHE`` (default ``~/.cache/inpaintlab``), file ``<cache>/<sha256>/<entry.file>``:
   stored by content, so two versions of one file name (a new release, two installed versions sharing
   the cache) live side by side and a mismatching file is never the cache's only copy of a good one;
2. the files the project ships in its own repository (``hub/`` next to the ``inpaintlab`` package
   in a clone or an editable install), so a fresh clone works with no network;
3. the network: ``$INPAINTLAB_HUB_URL/<entry.file>`` when that variable is set, then the entry's
   ``urls`` (mirrors) in order. ``INPAINTLAB_OFFLINE=1`` skips this step entirely.

The SHA-256 and size are checked every time a file is handed out. A bad cached file is deleted; a
bad file in the repository is left alone (it is under version control) and reported. Downloads
hold a per-file lock (``filelock``) so two processes never write the same cache file at once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from filelock import FileLock, Timeout

from inpaintlab.hub.download import ChecksumError, download_mirrors, sha256_file
from inpaintlab.hub.registry import CheckpointEntry

log = logging.getLogger(__name__)

CACHE_ENV = "INPAINTLAB_CACHE"
OFFLINE_ENV = "INPAINTLAB_OFFLINE"
HUB_URL_ENV = "INPAINTLAB_HUB_URL"
LOCK_TIMEOUT_S = 30 * 60.0
_LFS_POINTER = b"version https://git-lfs"


class OfflineError(FileNotFoundError):
    """Offline mode is on and the checkpoint file is not available locally."""


def cache_dir() -> Path:
    """The cache folder: ``$INPAINTLAB_CACHE`` or ``~/.cache/inpaintlab`` (not created here)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "inpaintlab").expanduser()


def cache_path(entry: CheckpointEntry) -> Path:
    """Where the cache keeps the entry's file: ``<cache>/<sha256>/<file>`` (by content, not by name)."""
    return cache_dir() / entry.sha256 / entry.file


def is_offline() -> bool:
    """True when ``$INPAINTLAB_OFFLINE`` is set to 1/true/yes/on."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def repo_hub_dir() -> Path | None:
    """The repository's ``hub/`` folder when running from a clone or editable install, else None."""
    root = Path(__file__).resolve().parents[2]
    hub = root / "hub"
    # pyproject.toml marks a source tree: never mistake an unrelated site-packages/hub for ours
    return hub if hub.is_dir() and (root / "pyproject.toml").is_file() else None


def hub_urls(entry: CheckpointEntry) -> list[str]:
    """Download URLs in the order tried: ``$INPAINTLAB_HUB_URL/<file>`` first, then the entry's mirrors."""
    urls = []
    base = os.environ.get(HUB_URL_ENV, "").strip()
    if base:
        urls.append(f"{base.rstrip('/')}/{entry.file}")
    urls += [u for u in entry.urls if u not in urls]
    return urls


def verify_file(path: Path, sha256: str, size: int | None = None, *, delete: bool, fix: str) -> None:
    """Check a file's size and SHA-256; on a mismatch delete it (if ``delete``), raise ``ChecksumError``."""
    actual_size = path.stat().st_size
    actual = sha256_file(path)
    if actual == sha256 and (size is None or actual_size == size):
        return
    problem = f"has {actual_size} bytes and sha256 {actual}, expected {size} bytes and sha256 {sha256}"
    if size is not None and actual_size < size:
        problem += " (truncated)"
    if delete:
        path.unlink(missing_ok=True)
        fix = f"it was deleted; {fix}"
    raise ChecksumError(f"checkpoint file {path} {problem}; {fix}")


def _is_lfs_pointer(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(_LFS_POINTER)) == _LFS_POINTER


def local_file(entry: CheckpointEntry) -> tuple[Path, str] | None:
    """Where the entry's file already is, without hashing: ``(path, "cache" | "repo")`` or None.

    Only the size is compared; :func:`fetch` does the full check.
    """
    cached = cache_path(entry)
    if cached.is_file() and cached.stat().st_size == entry.bytes:
        return cached, "cache"
    hub = repo_hub_dir()
    if hub is not None and (hub / entry.file).is_file() and (hub / entry.file).stat().st_size == entry.bytes:
        return hub / entry.file, "repo"
    return None


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
        ChecksumError: a local or downloaded file has the wrong size/hash (message says what to do).
        OfflineError: offline and the file is in neither the cache nor the repository.
        DownloadError: every URL failed.
    """
    offline = is_offline() if offline is None else offline
    cached = cache_path(entry)
    if cached.is_file():
        verify_file(cached, entry.sha256, entry.bytes, delete=True, fix="run again to download a fresh copy")
        return cached
    hub = repo_hub_dir()
    if hub is not None and (hub / entry.file).is_file():
        shipped = hub / entry.file
        if _is_lfs_pointer(shipped):
            log.warning(
                "%s is a Git LFS pointer, not the weights (run `git lfs pull`); trying the cache/network",
                shipped,
            )
        elif shipped.stat().st_size != entry.bytes:
            # another checkpoint under the same file name (e.g. an entry of $INPAINTLAB_REGISTRY): not ours
            log.info("%s is another checkpoint than %r (size differs); trying the network", shipped, entry.name)
        else:
            verify_file(
                shipped,
                entry.sha256,
                entry.bytes,
                delete=False,
                fix=f"restore it with `git checkout -- hub/{entry.file}` (or `git lfs pull`), "
                "or delete it to download",
            )
            return shipped
    if offline:
        places = [str(cached)] + ([str(hub / entry.file)] if hub is not None else [])
        raise OfflineError(
            f"checkpoint {entry.name!r} is not available offline: {entry.file} is not in "
            f"{' or '.join(places)}. Unset {OFFLINE_ENV} to download it, or copy the file to {cached}"
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(cached) + ".lock", timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            if cached.is_file():  # another process finished the download while we waited
                verify_file(
                    cached, entry.sha256, entry.bytes, delete=True, fix="run again to download a fresh copy"
                )
                return cached
            return download_mirrors(
                hub_urls(entry),
                cached,
                sha256=entry.sha256,
                size=entry.bytes,
                timeout=timeout,
                retries=retries,
                backoff=backoff,
                progress=progress,
            )
    except Timeout:
        raise TimeoutError(
            f"waited {LOCK_TIMEOUT_S:.0f}s for another process downloading {entry.file} "
            f"(lock {lock.lock_file}); if no other process is running, delete the lock file and try again"
        ) from None
