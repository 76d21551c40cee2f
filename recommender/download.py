"""Download one file over HTTP(S): resumable, retried, verified, atomic.

Bytes go to ``<dest>.part`` and the file appears under its final name only after
its size and checksum are right, so an interrupted or corrupt download never
leaves a half-written file where a reader would trust it. A later call resumes
the ``.part`` with an HTTP Range request when the server allows it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from recommender.errors import ChecksumMismatch, DownloadError, OfflineError

CHUNK = 1 << 20
BIG = 10 << 20  # bytes: smaller files download too fast to need progress lines
USER_AGENT = "movie-recommender-bot/0.1 (+https://github.com/)"


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks (never whole into memory)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def expect_digest(algorithm: str, expected: str) -> Callable[[Path], None]:
    """A verifier: the file's ``algorithm`` digest must equal ``expected``."""

    def check(path: Path) -> None:
        actual = file_digest(path, algorithm)
        if actual.lower() != expected.strip().lower():
            raise ChecksumMismatch(
                f"{algorithm} is {actual}, expected {expected}; the download is corrupt "
                "or the file changed on the server."
            )

    return check


def expect_gzip(path: Path) -> None:
    """A verifier: the file is a complete gzip stream (its CRC and length check out)."""
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise ChecksumMismatch(f"not a complete gzip file ({exc})") from None


def fetch_text(url: str, timeout: float = 30.0) -> str:
    """A small text resource (a published ``.md5`` file, say)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read(1 << 16).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise OfflineError(f"cannot reach {_host(url)} ({_why(exc)})") from None


def download(
    url: str,
    dest: Path,
    *,
    verify: Callable[[Path], None] | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download ``url`` to ``dest``; ``verify`` checks the finished bytes.

    ``verify`` (see :func:`expect_digest`, :func:`expect_gzip`) raises
    :class:`ChecksumMismatch` for bad bytes; those are discarded and downloaded once
    more from scratch. Raises :class:`OfflineError` when the host cannot be reached
    at all, :class:`ChecksumMismatch` when the bytes are wrong twice in a row, and
    :class:`DownloadError` for HTTP errors or repeated truncation.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: DownloadError | None = None
    mismatches = 0
    for attempt in range(retries + 1):
        if attempt:
            sleep(min(2.0**attempt, 30.0))
        try:
            _transfer(url, part, timeout=timeout, progress=progress)
        except OfflineError as exc:
            last_error = exc
            if attempt >= 1:  # unreachable twice: no network, don't keep the user waiting
                break
            continue
        except _Truncated as exc:
            last_error = DownloadError(f"{url}: {exc}")
            continue  # keep the .part: the next attempt resumes it
        if verify is not None:
            try:
                verify(part)
            except ChecksumMismatch as exc:
                part.unlink()
                mismatches += 1
                last_error = ChecksumMismatch(f"{url}: {exc}")
                if mismatches >= 2:
                    break
                continue
        os.replace(part, dest)
        return dest
    assert last_error is not None
    raise last_error


class _Lines:
    """Progress where no bar can be drawn (a log, a pipe): a line at each quarter."""

    def __init__(self, name: str, total: int | None, have: int) -> None:
        self.name, self.total, self.seen = name, total, have
        self.said = have * 4 // total if total else 0

    def update(self, n: int) -> None:
        self.seen += n
        quarter = self.seen * 4 // self.total if self.total else 0
        if quarter > self.said:
            self.said = quarter
            print(f"  {self.name}: {quarter * 25}% of {self.total / 1e6:,.0f} MB", flush=True)

    def close(self) -> None:
        pass


def _progress(name: str, total: int | None, have: int, wanted: bool) -> tqdm | _Lines:
    """A progress bar in a terminal, else a line per quarter (only with a known size)."""
    if wanted and not sys.stderr.isatty() and total and total >= BIG:
        return _Lines(name, total, have)
    return tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                desc=name, disable=None if wanted else True, leave=False)


class _Truncated(Exception):
    """The connection closed before Content-Length bytes arrived."""


def _transfer(url: str, part: Path, *, timeout: float, progress: bool) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # our .part is already complete (or bogus): start over
            part.unlink()
            raise _Truncated("server refused to resume; restarting") from None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise OfflineError(f"cannot reach {_host(url)} ({_why(exc)})") from None
    with response:
        if response.status == 206:
            mode = "ab"
        else:  # 200: the server ignored Range, so the whole body follows
            mode, have = "wb", 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        received = have
        bar = _progress(part.name.removesuffix(".part"), total, have, progress)
        try:
            with part.open(mode) as out:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (TimeoutError, http.client.IncompleteRead, OSError) as exc:
                        raise _Truncated(
                            f"connection lost after {received} bytes ({_why(exc)})") from None
                    if not block:
                        break
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
        finally:
            bar.close()
    if total is not None and received < total:
        raise _Truncated(f"got {received} of {total} bytes")


def _host(url: str) -> str:
    return urllib.parse.urlparse(url).netloc or url


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc) or type(exc).__name__


def probe(url: str, timeout: float = 5.0) -> str | None:
    """None when ``url`` can be downloaded, else why not ("HTTP 404 ...", "cannot reach
    ...": a short read of the first byte, so it costs no more than a handshake)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT,
                                                   "Range": "bytes=0-0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        return f"cannot reach {_host(url)} ({_why(exc)})"
