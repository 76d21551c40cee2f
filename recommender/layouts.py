"""Recognise the MovieLens layouts we can ingest, in a folder or a zip.

- ``ml100k``: GroupLens' 100K release (``u.data``, ``u.item``, ``u.genre``), pipe/tab
  separated, Latin-1.
- ``recbole``: RecBole's copy of 100K (``*.inter``, ``*.item``), tab separated with
  typed headers such as ``user_id:token``.
- ``csv``: ml-latest-small, ml-25m, ml-32m (``ratings.csv``, ``movies.csv`` and
  optionally ``links.csv``).
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from recommender.errors import UnsupportedLayout

_WANTED = {"u.data", "u.item", "u.genre", "ratings.csv", "movies.csv", "links.csv"}
_WANTED_SUFFIXES = (".inter", ".item")


@dataclass(frozen=True)
class Layout:
    kind: str  # "ml100k" | "recbole" | "csv"
    ratings: Path
    items: Path
    links: Path | None = None
    genres: Path | None = None


def detect(folder: Path) -> Layout:
    """The layout of ``folder`` (or of its single subfolder, as zips unpack)."""
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        found = _detect_here(candidate)
        if found:
            return found
    raise UnsupportedLayout(
        f"{folder} holds no MovieLens data we can read: expected u.data + u.item (100K), "
        "*.inter + *.item (RecBole) or ratings.csv + movies.csv (ml-latest/25M/32M)."
    )


def _detect_here(folder: Path) -> Layout | None:
    if (folder / "u.data").is_file() and (folder / "u.item").is_file():
        genre = folder / "u.genre"
        return Layout("ml100k", folder / "u.data", folder / "u.item",
                      genres=genre if genre.is_file() else None)
    if (folder / "ratings.csv").is_file() and (folder / "movies.csv").is_file():
        links = folder / "links.csv"
        return Layout("csv", folder / "ratings.csv", folder / "movies.csv",
                      links=links if links.is_file() else None)
    inter = sorted(folder.glob("*.inter"))
    item = sorted(folder.glob("*.item"))
    if inter and item:
        return Layout("recbole", inter[0], item[0])
    return None


def unpack_source(zip_path: Path, into: Path) -> Path:
    """Extract just the files a layout needs from a user's zip into ``into``."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise UnsupportedLayout(f"{zip_path} is not a readable zip file.") from None
    with archive:
        for info in archive.infolist():
            path = PurePosixPath(info.filename)
            if info.is_dir() or ".." in path.parts or path.name.startswith("._"):
                continue
            if path.name in _WANTED or path.suffix in _WANTED_SUFFIXES:
                out = into / Path(*path.parts[-2:])  # keep one folder level, like the zip
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    return into
