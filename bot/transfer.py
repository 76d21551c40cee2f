"""Importing an IMDb or Letterboxd export into someone's taste, and /export: the use case.

Platform-free: adapters fetch a file's bytes and hand them, with its name, to
:meth:`Imports.run`; nothing is written to disk and the bytes are dropped when it
returns. Each title is matched to the catalogue by IMDb id where the catalogue knows
IMDb ids (or by our id, in our own export), else by its title (or original title), year
(one year off allowed: sources disagree) and kind, through the bot's title index; a
title found only by fuzzy search is a *guess* and the report names it. What the file
says about each title becomes one state (a rating, a like, seen, on the watchlist),
written in one transaction by :meth:`storage.Storage.import_taste`, so a failure leaves
nothing half-imported and a second import of the same file changes nothing. Stars mean
what the one rating rule says (:mod:`recommender.preferences`).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.formats import (
    LIMITS,
    MAX_BYTES,
    Entry,
    ExportRow,
    ImportRefused,
    read_export,
    write_csv,
)
from bot.matching import MATCH_MIN, Candidate, TitleIndex
from bot.payloads import ImportMisses
from bot.replies import Button, File, Reply, describe
from recommender.preferences import opinion
from recommender.serve import Recommender
from storage import Said, Storage

NAMED = 10  # unmatched titles and guesses named in the report; the rest on request
LISTED = 100  # titles the "show all" answer lists as text; all of them go in its file
KEPT_REPORTS = 1000  # users whose last import's misses are kept for "show all" (newest)
HOW_TO = ("Send me your IMDb ratings or your Letterboxd export as a file: on Telegram "
          "attach it as a document, on Discord use /import with the file, in the console "
          "type /import and the file's path.\n"
          "IMDb: Your Ratings page > Export (a CSV). Letterboxd: Settings > Import & "
          f"Export > Export your data (the zip, or one of its CSVs). Up to {LIMITS}.")
# What a status in a file becomes, and which one wins when a title comes up more than
# once (ratings.csv and diary.csv and watched.csv): the first in this order.
WHAT = {"rated": "rate", "liked": "like", "disliked": "dislike",
        "not interested": "not_interested", "seen": "seen", "watchlist": "watchlist"}
RANK = {status: n for n, status in enumerate(WHAT)}
STATUS_OF = {"like": "liked", "dislike": "disliked", "rate": "rated"}
EXPORT_NAME = "movie-bot-export"


@dataclass(frozen=True)
class Found:
    entry: Entry
    item: Candidate
    guess: bool  # found by fuzzy search, not by id or an exact title


@dataclass
class Outcome:
    """What an import did: the report's facts."""

    source: str
    found: list[Found] = field(default_factory=list)
    unmatched: list[Entry] = field(default_factory=list)
    said: list[Said] = field(default_factory=list)
    changed: int = 0
    skipped: int = 0  # rows unreadable, or not films or series

    @property
    def guessed(self) -> list[Found]:
        """Titles matched by a guess, each once (a Letterboxd film is in several files)."""
        sure = {f.item.item_id for f in self.found if not f.guess}
        once = {f.item.item_id: f for f in reversed(self.found) if f.guess}
        return [f for f in reversed(once.values()) if f.item.item_id not in sure]


# ----- matching --------------------------------------------------------------------------

_IMDB_IDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _by_imdb_id(recommender: Recommender) -> dict[str, int]:
    """IMDb id -> item id for a model's catalogue, built once per model."""
    found = _IMDB_IDS.get(recommender)
    if found is None:
        found = {imdb: int(item) for item, imdb in zip(recommender.ids.tolist(),
                                                       recommender.imdb_ids, strict=True)
                 if imdb}
        _IMDB_IDS[recommender] = found
    return found


def _fits(candidate: Candidate, entry: Entry) -> bool:
    """The kind the file says (if it says) and the year, one year off allowed."""
    if entry.kind and candidate.kind != entry.kind:
        return False
    return entry.year is None or candidate.year is None or abs(candidate.year - entry.year) <= 1


class Matcher:
    """Entries of a file to catalogue items, for one model and its title index."""

    def __init__(self, recommender: Recommender, index: TitleIndex) -> None:
        self.index = index
        self.by_imdb = _by_imdb_id(recommender)

    def match(self, entry: Entry) -> Found | None:
        for item_id in (entry.item_id, self.by_imdb.get(entry.imdb_id or "")):
            found = None if item_id is None else self.index.get(item_id)
            if found is not None:
                return Found(entry, found, guess=False)
        for title in (entry.title, entry.original_title):
            if title:
                found = self._exact(entry, title)
                if found is not None:
                    return found
        return self._fuzzy(entry)

    def _exact(self, entry: Entry, title: str) -> Found | None:
        """A title with the same key: sure when one fits best (the exact year first)."""
        fitting = [c for c in self.index.exact(title) if _fits(c, entry)]
        if not fitting:
            return None
        if entry.year is not None:
            distance = min(abs((c.year or entry.year) - entry.year) for c in fitting)
            fitting = [c for c in fitting if abs((c.year or entry.year) - entry.year) == distance]
        fitting.sort(key=lambda c: (-c.popularity, c.item_id))
        return Found(entry, fitting[0], guess=len(fitting) > 1)

    def _fuzzy(self, entry: Entry) -> Found | None:
        query = f"{entry.title} {entry.year or ''}".strip()
        for candidate in self.index.search(query, limit=5).candidates:
            if candidate.score >= MATCH_MIN and _fits(candidate, entry):
                return Found(entry, candidate, guess=True)
        return None


def _merge(found: list[Found], now: float) -> list[Said]:
    """One state per item: a rating beats a like, a like beats seen, and so on; of two
    words of the same kind the later in the file wins (ratings.csv after diary.csv)."""
    best: dict[int, Found] = {}
    for f in found:
        held = best.get(f.item.item_id)
        if held is None or RANK[f.entry.status] <= RANK[held.entry.status]:
            best[f.item.item_id] = f
    return [Said(item, WHAT[f.entry.status], f.entry.ts if f.entry.ts is not None else now,
                 f.entry.stars) for item, f in best.items()]


# ----- the use case ----------------------------------------------------------------------


class Imports:
    """Imports and exports for every user, and each user's last import report (its full
    lists are shown on request, after the file itself is gone)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._last: dict[int, Outcome] = {}
        self._lock = threading.Lock()

    def run(self, db: Storage, recommender: Recommender, index: TitleIndex, uid: int,
            data: bytes, filename: str, size: int | None = None) -> tuple[Reply, bool]:
        """Import a file for ``uid``: the report, and whether anything was imported."""
        try:
            if size is not None and size > MAX_BYTES:
                raise ImportRefused(f"That file is {size / 1024 / 1024:.1f} MB; I take up "
                                    f"to {LIMITS}.")
            parsed = read_export(data, filename or "")
        except ImportRefused as refused:
            return Reply(f"⚠ {refused}"), False
        outcome = Outcome(parsed.source, skipped=parsed.unreadable + parsed.not_titles)
        matcher = Matcher(recommender, index)
        missed: dict[tuple[str, int | None], Entry] = {}
        for entry in parsed.entries:
            found = matcher.match(entry)
            if found is None:
                missed.setdefault((entry.title, entry.year), entry)  # named once
            else:
                outcome.found.append(found)
        outcome.unmatched = list(missed.values())
        outcome.said = _merge(outcome.found, self.clock())
        outcome.changed = db.import_taste(uid, outcome.said)
        # Kept for "show all": only the guesses and misses, for the latest users.
        kept = Outcome(outcome.source, found=outcome.guessed, unmatched=outcome.unmatched)
        with self._lock:
            self._last.pop(uid, None)
            self._last[uid] = kept
            while len(self._last) > KEPT_REPORTS:
                del self._last[next(iter(self._last))]
        return report(outcome), bool(outcome.said)

    def misses(self, uid: int) -> Reply:
        """Every guess and every title not found in ``uid``'s last import."""
        with self._lock:
            outcome = self._last.get(uid)
        if outcome is None:
            return Reply("I have no import of yours to show; /import a file first.")
        lines = [f"{entry_name(f.entry)} → {describe(f.item)}" for f in outcome.guessed]
        lines += [f"{entry_name(e)}: not found" for e in outcome.unmatched]
        head = (f"From your {outcome.source} file, {len(outcome.guessed)} guessed and "
                f"{len(outcome.unmatched)} not found:")
        if len(lines) <= LISTED:
            return Reply("\n".join([head, *lines]))
        listing = io.StringIO(newline="")
        writer = csv.writer(listing, lineterminator="\r\n")
        writer.writerow(["Title", "Year", "Matched as"])
        writer.writerows([f.entry.title, f.entry.year or "", describe(f.item)]
                         for f in outcome.guessed)
        writer.writerows([e.title, e.year or "", ""] for e in outcome.unmatched)
        return Reply("\n".join([head, *lines[:LISTED], f"… all {len(lines)} are in the file."]),
                     files=[File("import-not-matched.csv", listing.getvalue().encode())])

    def forget(self, uid: int) -> None:
        with self._lock:
            self._last.pop(uid, None)

    def export(self, db: Storage, recommender: Recommender, uid: int) -> Reply:
        """The user's likes, ratings and watchlist as an IMDb-layout CSV, and everything
        stored about them as JSON."""
        stored = db.user_data(uid)
        rows = [*(_row(recommender, r["item_id"], STATUS_OF[r["source"]], r["ts"],
                       r["rating"] if r["source"] == "rate" else None)
                  for r in stored["ratings"]),
                *(_row(recommender, r["item_id"], "not interested", r["ts"])
                  for r in stored["not_interested"]),
                *(_row(recommender, r["item_id"], "seen", r["ts"]) for r in stored["seen"]),
                *(_row(recommender, r["item_id"], "watchlist", r["added_ts"])
                  for r in stored["watchlist"])]
        everything = {"exported_at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
                      **stored, "titles": {str(r.item_id): _label(r) for r in rows}}
        text = (f"Here is everything I know about you: {len(rows)} titles "
                f"({len(stored['ratings'])} likes, dislikes and ratings, "
                f"{len(stored['watchlist'])} on your watchlist). The CSV has IMDb's layout "
                "and /import takes it back; the JSON is every row I keep about you.")
        return Reply(text, files=[
            File(f"{EXPORT_NAME}.csv", write_csv(rows)),
            File(f"{EXPORT_NAME}.json", json.dumps(everything, indent=1,
                                                    ensure_ascii=False).encode(),
                 "application/json")])


def _row(recommender: Recommender, item_id: int, status: str, ts: float,
         stars: float | None = None) -> ExportRow:
    row = recommender.row.get(int(item_id))
    if row is None:  # a title gone from the catalogue: its id still says which
        return ExportRow(int(item_id), f"item {item_id}", None, "movie", status, stars, ts)
    year = recommender.years[row]
    return ExportRow(int(item_id), recommender.titles[row],
                     None if year != year else int(year), str(recommender.kinds[row]),
                     status, stars, ts, recommender.imdb_ids[row],
                     tuple(recommender.genre_lists[row]))


def _label(row: ExportRow) -> str:
    return describe(row)


# ----- the report ------------------------------------------------------------------------


def entry_name(entry: Entry) -> str:
    return f"{entry.title} ({entry.year})" if entry.year else entry.title


def _guess(found: Found) -> str:
    """"Seven (1995) as Se7en (1995)"; a title the catalogue holds twice says so."""
    name, chosen = entry_name(found.entry), describe(found.item)
    return f"{name} as {chosen}" if name != chosen else f"{name} (one of two or more)"


def _named(names: Sequence[str], total: int) -> str:
    more = f" and {total - len(names)} more" if total > len(names) else ""
    return "; ".join(names) + more


def report(outcome: Outcome) -> Reply:
    """Matched, matched by a guess (which), not found (the first ten), then what changed."""
    by_what: dict[str, int] = {}
    for s in outcome.said:
        key = opinion(s.stars) if s.what == "rate" and s.stars is not None else s.what
        by_what[key] = by_what.get(key, 0) + 1
    parts = [f"{by_what[k]} {label}" for k, label in (
        ("like", "liked"), ("neutral", "rated in between"), ("dislike", "disliked"),
        ("not_interested", "not interested"), ("seen", "seen"),
        ("watchlist", "for your watchlist")) if by_what.get(k)]
    total = len(outcome.said) + len(outcome.unmatched)
    lines = [f"📥 Your {outcome.source} file: {total} titles."]
    lines.append(f"✅ Matched {len(outcome.said)}" + (f": {', '.join(parts)}." if parts
                                                     else "."))
    guessed = outcome.guessed
    if guessed:
        names = [_guess(f) for f in guessed[:NAMED]]
        lines.append(f"🤔 {len(guessed)} of them by a guess: {_named(names, len(guessed))}.")
    if outcome.unmatched:
        names = [entry_name(e) for e in outcome.unmatched[:NAMED]]
        lines.append(f"❓ Not in my catalogue, {len(outcome.unmatched)}: "
                     f"{_named(names, len(outcome.unmatched))}.")
    if outcome.skipped:
        rows = "row" if outcome.skipped == 1 else "rows"
        lines.append(f"Skipped {outcome.skipped} {rows}: not films or series, or unreadable.")
    lines.append("Nothing changed: all of it was here already." if not outcome.changed
                 else "Saved. /likes shows it; /export gives it back.")
    buttons = []
    if len(guessed) > NAMED or len(outcome.unmatched) > NAMED:
        buttons = [[Button("Show all guesses and misses", ImportMisses())]]
    return Reply("\n".join(lines), buttons=buttons)
