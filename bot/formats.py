"""IMDb and Letterboxd export files: read them into entries, and write our own export.

:func:`read_export` takes a file's bytes and name and returns what it says, title by
title, as :class:`Entry` values; it knows nothing of the catalogue or the database.
Accepted: IMDb's "Your ratings" CSV (today's columns and the older ``You rated`` /
``Title type`` ones, with or without a BOM), IMDb's watchlist CSV, a Letterboxd export
zip (``ratings.csv``, ``diary.csv``, ``likes/films.csv``, ``watched.csv``,
``watchlist.csv``) or any one of those CSVs, and our own ``/export`` CSV (the IMDb
layout plus ``Item ID`` and ``Status``). Anything else, or a file over the limits, is
refused with :class:`ImportRefused`, whose message is the one line the user reads.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_BYTES = 5 * 1024 * 1024  # an upload; IMDb's 10,000 ratings take about 2 MB
# What the web server accepts, in MB: one more than the limit, so a file just over it
# reaches the import and gets its friendly line; anything bigger never arrives.
UPLOAD_MB = MAX_BYTES // (1024 * 1024) + 1
MAX_ROWS = 20_000  # rows in one import, all files of a zip together
MAX_UNZIPPED = 50 * 1024 * 1024  # what a zip may unpack to (a zip bomb is refused)
LIMITS = f"{MAX_BYTES // (1024 * 1024)} MB and {MAX_ROWS:,} rows"
YEARS = (1870, 2100)

# What a title can be told to be, by status; a rating is in stars (0.5..5).
STATUSES = ("rated", "liked", "disliked", "not interested", "seen", "watchlist")


class ImportRefused(ValueError):
    """The file cannot be imported; the message is the one line the user reads."""


@dataclass(frozen=True)
class Entry:
    """One title as an export file names it, and what the user said about it."""

    title: str
    year: int | None
    status: str  # one of STATUSES
    stars: float | None = None  # for "rated": 0.5..5 in half stars
    kind: str | None = None  # "movie" or "tv" where the file says
    imdb_id: str | None = None  # "tt0133093"
    item_id: int | None = None  # our id, in our own export
    original_title: str | None = None
    ts: float | None = None  # when, in epoch seconds, where the file says


@dataclass(frozen=True)
class Parsed:
    """What one file says: its source, its entries and how many rows were left out."""

    source: str  # "IMDb", "Letterboxd" or "bot export" (ours)
    entries: list[Entry]
    unreadable: int = 0  # rows with a missing title or a rating out of range
    not_titles: int = 0  # episodes, video games, podcasts: not films or series


def read_export(data: bytes, filename: str) -> Parsed:
    """The entries of an export file; :class:`ImportRefused` for anything else."""
    if len(data) > MAX_BYTES:
        raise ImportRefused(f"That file is {len(data) / 1024 / 1024:.1f} MB; I take up to "
                            f"{LIMITS}.")
    if not data.strip():
        raise ImportRefused("That file is empty.")
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".zip"):
        return _read_zip(data)
    return _read_csv(_text(data), posixpath.basename(filename.replace("\\", "/")).lower())


# ----- decoding ------------------------------------------------------------------------


def _text(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise ImportRefused("That is not a CSV file. Send the IMDb ratings CSV or the "
                            "Letterboxd export (the zip or one of its CSVs).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:  # an export re-saved by a spreadsheet in Windows' encoding
        return data.decode("cp1252", errors="replace")


def _header_key(name: str) -> str:
    """"Num. Votes", "num votes", "\ufeffConst" -> comparable keys."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", name.lower()).split())


# Header variants IMDb has used, by what they hold.
IMDB_COLUMNS = {
    "const": ("const", "tconst"),
    "rating": ("your rating", "you rated"),
    "date": ("date rated", "created", "date added"),
    "title": ("title",),
    "original": ("original title",),
    "type": ("title type",),
    "year": ("year",),
    "release": ("release date", "release date month day year"),
    "position": ("position",),
    "item": ("item id",),
    "status": ("status",),
}
LETTERBOXD_COLUMNS = {"date": ("date",), "title": ("name",), "year": ("year",),
                      "uri": ("letterboxd uri",), "rating": ("rating",),
                      "watched": ("watched date",)}


def _columns(header: Sequence[str], wanted: dict[str, tuple[str, ...]]) -> dict[str, int]:
    keys = [_header_key(h) for h in header]
    found = {}
    for name, aliases in wanted.items():
        for alias in aliases:
            if alias in keys:
                found[name] = keys.index(alias)
                break
    return found


def _rows(text: str) -> tuple[list[str], Iterator[list[str]]]:
    """The header and the rows; a row the csv module cannot read refuses the file."""
    reader = csv.reader(io.StringIO(text, newline=""))

    def read() -> Iterator[list[str]]:
        try:
            yield from reader
        except csv.Error as exc:  # a field over csv's limit, a stray NUL...
            raise ImportRefused(f"That CSV cannot be read (line {reader.line_num}: {exc}).") \
                from None

    rows = read()
    return next(rows, []), rows


def _read_csv(text: str, name: str, rows_before: int = 0) -> Parsed:
    header, reader = _rows(text)
    imdb = _columns(header, IMDB_COLUMNS)
    if {"const", "title"} <= set(imdb) or {"item", "status", "title"} <= set(imdb):
        return _imdb(imdb, reader, rows_before)
    letterboxd = _columns(header, LETTERBOXD_COLUMNS)
    if {"title", "year"} <= set(letterboxd) and ("uri" in letterboxd or "date" in letterboxd):
        return Parsed("Letterboxd", _letterboxd(letterboxd, reader, _list_of(name, letterboxd),
                                                rows_before))
    raise ImportRefused("I don't recognise that file. Send the IMDb ratings CSV (Your "
                        "Ratings > Export) or the Letterboxd export (Settings > Import & "
                        "Export > Export your data).")


# ----- reading fields ------------------------------------------------------------------


def _cell(row: Sequence[str], columns: dict[str, int], name: str) -> str:
    at = columns.get(name)
    return row[at].strip() if at is not None and at < len(row) else ""


def _year(text: str) -> int | None:
    found = re.match(r"\s*(\d{4})", text)
    year = int(found.group(1)) if found else None
    return year if year is not None and YEARS[0] <= year <= YEARS[1] else None


DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%a %b %d %H:%M:%S %Y", "%m/%d/%Y",
                "%d/%m/%Y")


def _date(text: str) -> float | None:
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(text, form).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if value == value else None  # NaN is no rating


def _imdb_id(text: str) -> str | None:
    found = re.search(r"tt\d{7,10}", text)
    return found.group(0) if found else None


TV_TYPES = frozenset({"tvseries", "tvminiseries", "miniseries"})
NOT_TITLES = frozenset({"tvepisode", "videogame", "podcastseries", "podcastepisode",
                        "musicvideo"})


def _kind(title_type: str) -> str | None:
    """IMDb's title type as ours: "movie", "tv", "" for what we never hold, None unknown."""
    key = re.sub(r"[^a-z]", "", title_type.lower())
    if not key:
        return None
    if key in TV_TYPES:
        return "tv"
    return "" if key in NOT_TITLES else "movie"


# ----- IMDb (and our own export, which keeps its layout) --------------------------------


def _imdb(columns: dict[str, int], rows: Iterable[list[str]], rows_before: int) -> Parsed:
    ours = "status" in columns
    entries, unreadable, not_titles = [], 0, 0
    for n, row in enumerate(rows, rows_before + 1):
        _check_rows(n)
        if not any(cell.strip() for cell in row):
            continue
        kind = _kind(_cell(row, columns, "type"))
        if kind == "":
            not_titles += 1
            continue
        entry = _imdb_entry(row, columns, kind, ours)
        if entry is None:
            unreadable += 1
        else:
            entries.append(entry)
    return Parsed("bot export" if ours else "IMDb", entries, unreadable, not_titles)


def _imdb_entry(row: list[str], columns: dict[str, int], kind: str | None,
                ours: bool) -> Entry | None:
    title = _cell(row, columns, "title")
    rating = _number(_cell(row, columns, "rating"))
    status = _cell(row, columns, "status").lower() if ours else "rated"
    if not title or status not in STATUSES:
        return None
    stars = None
    if rating is not None:
        if not (1 <= rating <= 10 and rating.is_integer()):
            return None
        stars = rating / 2  # IMDb's 10 points are our half stars
    elif status == "rated":
        # A watchlist export lists titles without a rating; a ratings export never does.
        if "position" not in columns:
            return None
        status = "watchlist"
    item = _cell(row, columns, "item")
    return Entry(title=title, year=_year(_cell(row, columns, "year"))
                 or _year(_cell(row, columns, "release")),
                 status=status, stars=stars if status == "rated" else None, kind=kind,
                 imdb_id=_imdb_id(_cell(row, columns, "const")),
                 item_id=int(item) if item.isascii() and item.isdigit() and len(item) < 19
                 else None,
                 original_title=_cell(row, columns, "original") or None,
                 ts=_date(_cell(row, columns, "date")))


# ----- Letterboxd -----------------------------------------------------------------------

# The files of a Letterboxd export we read, by what they say (order: the later wins).
LETTERBOXD_FILES = {"watched.csv": "seen", "watchlist.csv": "watchlist",
                    "likes/films.csv": "liked", "diary.csv": "rated", "ratings.csv": "rated"}
SUBFOLDERS = frozenset({"deleted", "orphaned", "lists", "likes"})


def _list_of(name: str, columns: dict[str, int]) -> str:
    """Which Letterboxd list a lone CSV is, by its name, else by its columns."""
    for file, status in LETTERBOXD_FILES.items():
        if name == posixpath.basename(file) or name.startswith(posixpath.splitext(
                posixpath.basename(file))[0]):
            return status
    return "rated" if "rating" in columns else "seen"


def _letterboxd(columns: dict[str, int], rows: Iterable[list[str]], status: str,
                rows_before: int) -> list[Entry]:
    entries = []
    for n, row in enumerate(rows, rows_before + 1):
        _check_rows(n)
        title = _cell(row, columns, "title")
        if not title:
            continue
        rating = _number(_cell(row, columns, "rating"))
        stars = rating if rating is not None and 0.5 <= rating <= 5 and \
            (rating * 2).is_integer() else None
        said = status
        if status == "rated" and stars is None:
            said = "seen"  # a diary entry without a rating: watched
        when = _date(_cell(row, columns, "watched")) or _date(_cell(row, columns, "date"))
        entries.append(Entry(title=title, year=_year(_cell(row, columns, "year")),
                             status=said, stars=stars if said == "rated" else None,
                             kind="movie", ts=when))
    return entries


def _check_rows(n: int) -> None:
    if n > MAX_ROWS:
        raise ImportRefused(f"That export has more than {MAX_ROWS:,} rows; I take up to "
                            f"{LIMITS}.")


def _read_zip(data: bytes) -> Parsed:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ImportRefused("That zip file is damaged; download the export again.") from None
    if sum(i.file_size for i in infos) > MAX_UNZIPPED:
        raise ImportRefused(f"That zip unpacks to more than {MAX_UNZIPPED // 2**20} MB; "
                            "that is not a Letterboxd export.")
    names = _letterboxd_names(infos)
    if not names:
        raise ImportRefused("That zip is not a Letterboxd export: it has no ratings.csv, "
                            "watched.csv, diary.csv or watchlist.csv.")
    entries: list[Entry] = []
    unreadable = 0
    for file, status in LETTERBOXD_FILES.items():
        if file not in names:
            continue
        try:
            text = _text(archive.read(names[file]))
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
            raise ImportRefused("That zip file is damaged or encrypted; download the export "
                                "again.") from None
        header, rows = _rows(text)
        columns = _columns(header, LETTERBOXD_COLUMNS)
        if not {"title", "year"} <= set(columns):
            unreadable += 1
            continue
        entries += _letterboxd(columns, rows, status, len(entries))
    return Parsed("Letterboxd", entries, unreadable)


def _letterboxd_names(infos: list[zipfile.ZipInfo]) -> dict[str, str]:
    """Our names of the export's files -> their names in the zip, which may put them all
    in one folder. Its own folders hold other things: deleted and orphaned entries are not
    the user's taste, and a list called "ratings" is not their ratings."""
    found = {}
    for info in infos:
        parts = [p.lower() for p in info.filename.replace("\\", "/").split("/")]
        for file in LETTERBOXD_FILES:
            wanted = file.split("/")
            folder = parts[:-len(wanted)]
            if parts[-len(wanted):] == wanted and (
                    not folder or (len(folder) == 1 and folder[0] not in SUBFOLDERS)):
                found.setdefault(file, info.filename)
    return found


# ----- writing our export ---------------------------------------------------------------

EXPORT_COLUMNS = ("Const", "Your Rating", "Date Rated", "Title", "Original Title", "URL",
                  "Title Type", "IMDb Rating", "Runtime (mins)", "Year", "Genres",
                  "Num Votes", "Release Date", "Directors", "Item ID", "Status")


@dataclass(frozen=True)
class ExportRow:
    """One title of our export."""

    item_id: int
    title: str
    year: int | None
    kind: str
    status: str  # one of STATUSES
    stars: float | None
    ts: float
    imdb_id: str | None = None
    genres: tuple[str, ...] = ()


def write_csv(rows: Iterable[ExportRow]) -> bytes:
    """Our export in IMDb's "Your ratings" layout, plus our id and what was said."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for r in rows:
        day = datetime.fromtimestamp(r.ts, UTC).strftime("%Y-%m-%d")
        writer.writerow([
            r.imdb_id or "", "" if r.stars is None else f"{round(r.stars * 2):d}", day,
            r.title, "", f"https://www.imdb.com/title/{r.imdb_id}/" if r.imdb_id else "",
            "tvSeries" if r.kind == "tv" else "movie", "", "", r.year or "",
            ", ".join(r.genres), "", "", "", r.item_id, r.status])
    return out.getvalue().encode("utf-8")
