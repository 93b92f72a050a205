"""HTTP(S) download of one file: timeout, retries with backoff, mirrors, progress bar, SHA-256 check.

Every download streams into a temporary file in the destination's directory
(:func:`inpaintlab.io.atomic_file`: the umask's ordinary mode, a killed download's leftover removed by
the next one), is hashed while it streams, and is fsync'd and renamed into place only once its size
and hash are right, so a reader never sees a half-written or wrong file. Server errors, timeouts and cut-off transfers are retried; a wrong file,
an HTTP 4xx, an unknown host name and a TLS/SSL failure (a certificate problem does not go away by
itself) fail at once. Only the standard library (``urllib``) talks HTTP.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from inpaintlab.io import atomic_file

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(FileNotFoundError):
    """A file could not be downloaded from any of its URLs (a ``FileNotFoundError``: no source has it)."""


class ChecksumError(ValueError):
    """A file's size or SHA-256 is not the expected one (the bad file has been deleted)."""


class _Transient(Exception):
    """A failure worth retrying on the same URL (server error, timeout, cut-off transfer)."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file (``hashlib.file_digest``: bounded memory)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def download_url(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` atomically; retry transient failures with exponential backoff.

    Args:
        url: http(s) URL.
        dest: final path; its directory must exist. Written only when the file is complete and right.
        sha256: expected hex SHA-256 (checked before the file is renamed into place).
        size: expected size in bytes.
        timeout: socket timeout per attempt, seconds.
        retries: extra attempts after the first for server errors (5xx, 429), timeouts, refused or
            reset connections and cut-off transfers; wrong content, 4xx errors, unknown host names
            and TLS/SSL failures are not retried.
        backoff: sleep ``backoff * 2**attempt`` seconds before each retry.
        progress: show a tqdm progress bar on stderr.

    Raises:
        ChecksumError: the server sent a file of the wrong size or hash.
        DownloadError: the URL failed on every attempt.
    """
    dest = Path(dest)
    last: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff * 2 ** (attempt - 1)
            log.warning(
                "retrying %s in %.1fs (attempt %d of %d): %s", url, delay, attempt + 1, retries + 1, last
            )
            time.sleep(delay)
        try:
            return _download_once(url, dest, sha256=sha256, size=size, timeout=timeout, progress=progress)
        except _Transient as err:
            last = err.__cause__ or err
    raise DownloadError(f"could not download {dest.name} from {url} after {retries + 1} attempts: {last}")


def _download_once(url: str, dest: Path, *, sha256, size, timeout, progress) -> Path:
    request = urllib.request.Request(url, headers={"User-Agent": "inpaintlab-hub"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code in _TRANSIENT_HTTP:
            raise _Transient() from err
        raise DownloadError(f"{url} answered HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:  # refused, DNS, TLS, timeout
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        if isinstance(reason, ssl.SSLError):
            raise DownloadError(
                f"TLS/SSL failure talking to {urllib.parse.urlsplit(url).netloc} ({reason}); not retried: "
                "check the URL (https:// on a plain-HTTP server?), the system's CA certificates "
                "(SSL_CERT_FILE) or a proxy that intercepts TLS"
            ) from None
        if isinstance(reason, socket.gaierror):
            raise DownloadError(
                f"{url}: the host name {urllib.parse.urlsplit(url).hostname!r} does not resolve ({reason}); "
                "check the URL and the network"
            ) from None
        raise _Transient() from err

    with response, atomic_file(dest) as tmp:
        with open(tmp, "wb") as out:
            announced = response.headers.get("Content-Length")
            total = int(announced) if announced and announced.isdigit() else size
            digest, received = hashlib.sha256(), 0
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                file=sys.stderr,
                disable=not progress,
                leave=False,
            ) as bar:
                try:
                    while block := response.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        received += len(block)
                        bar.update(len(block))
                except (http.client.IncompleteRead, OSError) as err:  # cut off, reset, timed out
                    raise _Transient() from err
        if announced and announced.isdigit() and received != int(announced):
            raise _Transient() from ConnectionError(f"transfer cut off: got {received} of {announced} bytes")
        actual = digest.hexdigest()
        if (size is not None and received != size) or (sha256 is not None and actual != sha256):
            raise ChecksumError(
                f"{url} sent {dest.name} as {received} bytes with sha256 {actual}, expected "
                f"{size if size is not None else 'any number of'} bytes with sha256 {sha256 or '(any)'}: "
                "a truncated or different file; it was deleted. Run again, try another mirror "
                "(INPAINTLAB_HUB_URL) or update inpaintlab"
            )
    return dest


def download_mirrors(
    urls: Sequence[str],
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Try each mirror in turn with :func:`download_url`; the first good file wins.

    Raises:
        ChecksumError: no mirror worked and at least one sent a wrong file (all failures listed).
        DownloadError: no mirror worked (all failures listed).
    """
    if not urls:
        raise DownloadError(f"no URL to download {Path(dest).name} from; add urls to its registry entry")
    failures: list[tuple[str, Exception]] = []
    for number, url in enumerate(urls, 1):
        try:
            return download_url(
                url,
                dest,
                sha256=sha256,
                size=size,
                timeout=timeout,
                retries=retries,
                backoff=backoff,
                progress=progress,
            )
        except (DownloadError, ChecksumError) as err:
            if number < len(urls):  # the last failure is in the error raised below
                log.warning("mirror failed for %s, trying the next: %s", Path(dest).name, err)
            failures.append((url, err))
    if len(failures) == 1:
        raise failures[0][1]
    detail = "\n".join(f"  - {err}" for _, err in failures)
    kind = ChecksumError if any(isinstance(e, ChecksumError) for _, e in failures) else DownloadError
    raise kind(f"every mirror failed for {Path(dest).name}:\n{detail}")
