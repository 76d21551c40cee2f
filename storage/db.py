"""What each user told the bot, kept in one SQLite file: ratings, watchlist, what they saw.

All SQL is parameterised. Every write is one ``BEGIN IMMEDIATE`` transaction and inputs are
checked before it starts, so a call that raises changes nothing. Every write sets a state
(this rating, on the watchlist, gone) rather than changing one, so a chat update delivered
twice, or a run of them replayed in order after a crash, leaves what one delivery left.
One connection is shared by the threads of a process (the Telegram adapter runs handlers
in a thread pool) and a lock makes them take turns; other processes wait up to the busy
timeout for the write lock.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from storage import schema

BUSY_TIMEOUT_MS = 5000
# What the 👍 and 👎 buttons store: 5 stars and 1. Storage keeps stars; what they mean
# (a like, a dislike) is the recommender's one rating rule, not decided here.
LIKE_RATING = 5.0
DISLIKE_RATING = 1.0
SHOWN_ACTIONS = frozenset({"like", "dislike", "rate", "not_interested", "watch", "seen"})
_MAX_INT = 2**63 - 1  # SQLite INTEGER
_CHUNK = 1000
MAX_ROOM_LENGTH = 200  # characters of a room key (see join_group)


class StorageError(Exception):
    """Base class: the message is written for the user and says how to fix it."""


class InvalidRating(StorageError):
    """A rating that is not a half star from 0.5 to 5."""


class StorageFull(StorageError):
    """The disk (or the database's size limit) is full: the write was rolled back whole."""


@dataclass(frozen=True)
class Feedback:
    """One thing a user told us about an item."""

    item_id: int
    rating: float  # 0.5..5
    source: str  # "like" | "dislike" | "rate"
    ts: float  # epoch seconds


@dataclass(frozen=True)
class WatchItem:
    item_id: int
    added_ts: float


@dataclass(frozen=True)
class Said:
    """One title of an import: ``what`` is "like", "dislike" or "rate" (with ``stars``),
    "not_interested", "seen" or "watchlist"; ``ts`` is when (epoch seconds)."""

    item_id: int
    what: str
    ts: float
    stars: float | None = None


_STATEMENTS = {
    "rating": "INSERT INTO ratings (user_id, item_id, rating, source, ts) "
              "VALUES (:u, :i, :r, :s, :t) ON CONFLICT (user_id, item_id) DO UPDATE SET "
              "rating = excluded.rating, source = excluded.source, ts = excluded.ts "
              "WHERE rating IS NOT excluded.rating OR source IS NOT excluded.source",
    "not_interested": "INSERT INTO not_interested (user_id, item_id, ts) VALUES (:u, :i, :t) "
                      "ON CONFLICT (user_id, item_id) DO NOTHING",
    "seen": "INSERT INTO seen (user_id, item_id, ts) VALUES (:u, :i, :t) "
            "ON CONFLICT (user_id, item_id) DO NOTHING",
    "watchlist": "INSERT INTO watchlist (user_id, item_id, added_ts) VALUES (:u, :i, :t) "
                 "ON CONFLICT (user_id, item_id) DO NOTHING",
    "unrate": "DELETE FROM ratings WHERE user_id = :u AND item_id = :i",
    "uninterested": "DELETE FROM not_interested WHERE user_id = :u AND item_id = :i",
    "unwatch": "DELETE FROM watchlist WHERE user_id = :u AND item_id = :i",
}
# What each kind of imported word writes: the same rows, in the same order, as the verbs.
_IMPORT_SQL = {
    "like": (_STATEMENTS["rating"], _STATEMENTS["uninterested"]),
    "dislike": (_STATEMENTS["rating"], _STATEMENTS["uninterested"]),
    "rate": (_STATEMENTS["rating"], _STATEMENTS["uninterested"]),
    "not_interested": (_STATEMENTS["not_interested"], _STATEMENTS["unrate"]),
    "seen": (_STATEMENTS["seen"], _STATEMENTS["unwatch"]),
    "watchlist": (_STATEMENTS["watchlist"],),
}


def _said(said: object) -> Said:
    if not isinstance(said, Said) or said.what not in _IMPORT_SQL:
        raise StorageError(f"Not an imported word: {said!r}.")
    item_id = _whole(said.item_id, "An item id")
    ts = said.ts
    if isinstance(ts, bool) or not isinstance(ts, numbers.Real) or not math.isfinite(ts):
        raise StorageError(f"A time must be a finite number, got {said.ts!r}.")
    stars = {"like": LIKE_RATING, "dislike": DISLIKE_RATING}.get(said.what)
    if said.what == "rate":
        stars = _half_star(said.stars)
    return Said(item_id, said.what, float(ts), stars)


def _whole(value: object, what: str, minimum: int = 0) -> int:
    # operator.index takes numpy integers (the recommender hands those out) and refuses
    # floats; bool is an int to Python but never a sensible id.
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise StorageError(f"{what} must be a whole number, got {value!r}.") from None
    if not minimum <= number <= _MAX_INT:
        raise StorageError(f"{what} must be between {minimum} and {_MAX_INT}, got {number}.")
    return int(number)


def _half_star(rating: object) -> float:
    if isinstance(rating, bool) or not isinstance(rating, numbers.Real):
        raise InvalidRating(f"A rating must be a number of stars, got {rating!r}.")
    stars = float(rating)
    if not (math.isfinite(stars) and 0.5 <= stars <= 5 and (stars * 2).is_integer()):
        raise InvalidRating(f"A rating must be 0.5 to 5 stars in half stars, got {rating!r}.")
    return stars


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StorageError(f"{what} must be non-empty text, got {value!r}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate cannot be stored as SQLite text
        raise StorageError(f"{what} is not valid text: {value!r}.") from None
    return value


def _room(value: object) -> str:
    """A chat room's key, stored verbatim: non-empty text of at most 200 characters and no
    control characters (a key with those was built wrongly)."""
    room = _text(value, "A room")
    if len(room) > MAX_ROOM_LENGTH:
        raise StorageError(f"A room must be at most {MAX_ROOM_LENGTH} characters, "
                           f"got {len(room)}.")
    if any(unicodedata.category(c) == "Cc" for c in room):  # NUL, newline, escapes...
        raise StorageError(f"A room must not contain control characters, got {room!r}.")
    return room


class Storage:
    """The bot's database. Open once per process and share; :meth:`close` when done."""

    def __init__(self, path: str | os.PathLike, *, clock: Callable[[], float] = time.time
                 ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: the driver opens no transactions of its own, so every
            # transaction is an explicit BEGIN IMMEDIATE in schema.immediate.
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"Cannot open the database {self.path}: {exc}. Check that "
                               "the folder exists and is writable.") from exc
        try:
            self._db = Database(conn, execute_plugins=False)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            self._db.execute("PRAGMA foreign_keys = ON")
            schema.check(self._db)  # before WAL mode rewrites the header of a foreign file
            self._db.enable_wal()
            # In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a commit
            # survives the process crashing (it is in the WAL file), and only a power cut
            # may lose the last few. It halves a chat message's cost (bench.chat).
            self._db.execute("PRAGMA synchronous = NORMAL")
            schema.migrate(self._db)
        except (sqlite3.Error, ValueError) as exc:
            conn.close()
            raise StorageError(f"Cannot use the database {self.path}: {exc}. It was left as it "
                               "is; set DB_PATH to the bot's database or restore a backup "
                               "(python -m storage restore).") from exc

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _reading(self) -> Iterator[Database]:
        with self._lock:
            if self._closed:
                raise StorageError("The database has been closed.")
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise _storage_error(exc) from exc

    @contextmanager
    def _writing(self) -> Iterator[Database]:
        with self._reading() as db, schema.immediate(db):
            yield db

    def _require_user(self, db: Database, user_id: int) -> None:
        if db.execute("SELECT 1 FROM users WHERE id = ?", [user_id]).fetchone() is None:
            raise StorageError(f"There is no user {user_id}; get an id from user() first.")

    def schema_version(self) -> int:
        with self._reading() as db:
            return schema.version(db)

    # Users

    def user(self, platform: str, platform_user_id: int | str, name: str | None = None) -> int:
        """Our id for a platform's user, created on first sight; a new ``name`` is kept."""
        platform = _text(platform, "The platform")
        if isinstance(platform_user_id, str):
            key = _text(platform_user_id, "The platform user id")
        elif isinstance(platform_user_id, int) and not isinstance(platform_user_id, bool):
            key = str(platform_user_id)  # as TEXT, so no size of id can overflow
        else:
            raise StorageError("The platform user id must be a whole number or text, "
                               f"got {platform_user_id!r}.")
        if name is not None:
            if not isinstance(name, str):
                raise StorageError(f"A user's name must be text, got {name!r}.")
            name = name.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
        find = "SELECT id, name FROM users WHERE platform = ? AND platform_user_id = ?"
        # Most calls find the user unchanged: answer those without taking the write lock.
        with self._reading() as db:
            row = db.execute(find, [platform, key]).fetchone()
            if row is not None and (name is None or name == row[1]):
                return int(row[0])
        with self._writing() as db:
            row = db.execute(find, [platform, key]).fetchone()
            if row is None:
                cursor = db.execute(
                    "INSERT INTO users (platform, platform_user_id, name, created_ts) "
                    "VALUES (?, ?, ?, ?)", [platform, key, name, self._clock()])
                return int(cursor.lastrowid)
            db.execute("UPDATE users SET name = ? WHERE id = ?", [name, row[0]])
            return int(row[0])

    def forget(self, user_id: int) -> None:
        """Delete every row about the user, the users row included (the cascades do the rest)."""
        user_id = _whole(user_id, "A user id", minimum=1)
        with self._writing() as db:
            db.execute("DELETE FROM users WHERE id = ?", [user_id])

    # Likes, dislikes and ratings

    def _set_rating(self, user_id: object, item_id: object, rating: float, source: str) -> None:
        user_id = _whole(user_id, "A user id", minimum=1)
        item_id = _whole(item_id, "An item id")
        with self._writing() as db:
            self._require_user(db, user_id)
            db.execute(
                "INSERT INTO ratings (user_id, item_id, rating, source, ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (user_id, item_id) DO UPDATE SET rating = excluded.rating, "
                "source = excluded.source, ts = excluded.ts "
                # The same word again (a platform delivering an update twice) changes nothing.
                "WHERE rating IS NOT excluded.rating OR source IS NOT excluded.source",
                [user_id, item_id, rating, source, self._clock()])
            # The latest word wins, so an item is never both rated and not-interested.
            db.execute("DELETE FROM not_interested WHERE user_id = ? AND item_id = ?",
                       [user_id, item_id])

    def like(self, user_id: int, item_id: int) -> None:
        self._set_rating(user_id, item_id, LIKE_RATING, "like")

    def dislike(self, user_id: int, item_id: int) -> None:
        self._set_rating(user_id, item_id, DISLIKE_RATING, "dislike")

    def rate(self, user_id: int, item_id: int, rating: float) -> None:
        """Half stars from 0.5 to 5, else :class:`InvalidRating`."""
        self._set_rating(user_id, item_id, _half_star(rating), "rate")

    def unlike(self, user_id: int, item_id: int) -> bool:
        """Remove the like, dislike or rating of the item; whether there was one."""
        user_id = _whole(user_id, "A user id", minimum=1)
        item_id = _whole(item_id, "An item id")
        with self._writing() as db:
            cursor = db.execute("DELETE FROM ratings WHERE user_id = ? AND item_id = ?",
                                [user_id, item_id])
            return cursor.rowcount > 0

    def feedback(self, user_id: int, offset: int = 0, limit: int = 10) -> list[Feedback]:
        """A page of likes, dislikes and ratings, newest first."""
        user_id = _whole(user_id, "A user id", minimum=1)
        offset, limit = _whole(offset, "The offset"), _whole(limit, "The limit")
        with self._reading() as db:
            rows = db.execute(
                "SELECT item_id, rating, source, ts FROM ratings WHERE user_id = ? "
                "ORDER BY ts DESC, item_id LIMIT ? OFFSET ?", [user_id, limit, offset])
            return [Feedback(int(i), float(r), s, float(t)) for i, r, s, t in rows]

    def count_feedback(self, user_id: int) -> int:
        user_id = _whole(user_id, "A user id", minimum=1)
        with self._reading() as db:
            return _count(db, "SELECT COUNT(*) FROM ratings WHERE user_id = ?", user_id)

    def not_interested(self, user_id: int, item_id: int) -> None:
        """Never recommend the item again; it counts as a dislike and replaces any rating."""
        user_id = _whole(user_id, "A user id", minimum=1)
        item_id = _whole(item_id, "An item id")
        with self._writing() as db:
            self._require_user(db, user_id)
            db.execute(
                "INSERT INTO not_interested (user_id, item_id, ts) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id, item_id) DO NOTHING",
                [user_id, item_id, self._clock()])
            db.execute("DELETE FROM ratings WHERE user_id = ? AND item_id = ?",
                       [user_id, item_id])

    def ratings_of(self, user_id: int) -> list[tuple[int, float | None]]:
        """Every (item id, stars) the user gave, newest first (ties by item id), with
        ``None`` for the items they marked not interested.

        Storage does not say what a rating means: that is one rule, in the recommender.
        """
        user_id = _whole(user_id, "A user id", minimum=1)
        with self._reading() as db:
            rows = db.execute(
                "SELECT item_id, rating, ts FROM ratings WHERE user_id = :u "
                "UNION ALL SELECT item_id, NULL, ts FROM not_interested WHERE user_id = :u "
                "ORDER BY ts DESC, item_id", {"u": user_id}).fetchall()
        return [(int(item), None if rating is None else float(rating))
                for item, rating, _ts in rows]

    # Watchlist and seen

    def watch(self, user_id: int, item_id: int) -> bool:
        """Add to the watchlist; False if it was already there."""
        user_id = _whole(user_id, "A user id", minimum=1)
        item_id = _whole(item_id, "An item id")
        with self._writing() as db:
            self._require_user(db, user_id)
            cursor = db.execute(
                "INSERT INTO watchlist (user_id, item_id, added_ts) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id, item_id) DO NOTHING", [user_id, item_id, self._clock()])
            return cursor.rowcount > 0

    def unwatch(self, user_id: int, item_id: int) -> bool:
        """Remove from the watchlist; False if it was not there."""
        user_id = _whole(user_id, "A user id", minimum=1)
        item_id = _whole(item_id, "An item id")
        with self._writing() as db:
            cursor = db.execute("DELETE FROM watchlist WHERE user_id = ? AND item_id = ?",
                                [user_id, item_id])
            return cursor.rowcount > 0

    def watchlist(self, user_id: int, offset: int = 0, limit: int = 10) -> list[WatchItem]:
        """A page of the watchlist, newest first."""
        user_id = _whole(user_id, "A user id", minimum=1)
        offset, limit = _whole(offset, "The offset"), _whole(limit, "The limit")
        with self._reading() as db:
            rows = db.execute(
                "SELECT item_id, added_ts FROM watchlist WHERE user_id = ? "
                "ORDER BY added_ts DESC, item_id LIMIT ? OFFSET ?", [user_id, limit, offset])
            return [WatchItem(int(i), float(t)) for i, t in rows]

    def count_watchlist(self, user_id: int) -> int:
        user_id = _whole(user_id, "A user id", minimum=1)
        with self._reading() as db:
            return _count(db, "SELECT COUNT(*) FROM watchlist WHERE user_id = ?", user_id)

    def mark_seen(self, user_id: int, item_id: int) -> None:
        """Remember the user has seen the item (the first time counts) and drop it from the
        watchlist."""
        user_id = _whole(user_id, "A user id", minimum=1)
        item_id = _whole(item_id, "An item id")
        with self._writing() as db:
            self._require_user(db, user_id)
            db.execute("INSERT INTO seen (user_id, item_id, ts) VALUES (?, ?, ?) "
                       "ON CONFLICT (user_id, item_id) DO NOTHING",
                       [user_id, item_id, self._clock()])
            db.execute("DELETE FROM watchlist WHERE user_id = ? AND item_id = ?",
                       [user_id, item_id])

    def excluded(self, user_id: int) -> set[int]:
        """Every item never to recommend to the user again."""
        user_id = _whole(user_id, "A user id", minimum=1)
        with self._reading() as db:
            rows = db.execute(
                "SELECT item_id FROM ratings WHERE user_id = :u "
                "UNION SELECT item_id FROM not_interested WHERE user_id = :u "
                "UNION SELECT item_id FROM seen WHERE user_id = :u "
                "UNION SELECT item_id FROM watchlist WHERE user_id = :u", {"u": user_id})
            return {int(i) for (i,) in rows}

    # A whole import, and everything about one user

    def import_taste(self, user_id: int, said: Sequence[Said]) -> int:
        """Write what an imported file said, title by title, in one transaction: all of it
        or (on any error) none of it. Each :class:`Said` is a state, written as the single
        verbs write it (a rating replaces the item's rating or not-interested; seen takes
        it off the watchlist), so importing the same file again changes nothing. Returns
        the number of rows changed."""
        user_id = _whole(user_id, "A user id", minimum=1)
        checked = [_said(s) for s in said]
        with self._writing() as db:
            self._require_user(db, user_id)
            before = db.conn.total_changes
            for s in checked:
                for sql in _IMPORT_SQL[s.what]:
                    db.execute(sql, {"u": user_id, "i": s.item_id, "r": s.stars,
                                     "s": s.what, "t": s.ts})
            return db.conn.total_changes - before

    def user_data(self, user_id: int) -> dict:
        """Every row stored about the user, by table, as plain values (for /export)."""
        user_id = _whole(user_id, "A user id", minimum=1)
        tables = {
            "user": "SELECT platform, platform_user_id, name, created_ts FROM users "
                    "WHERE id = :u",
            "ratings": "SELECT item_id, rating, source, ts FROM ratings WHERE user_id = :u "
                       "ORDER BY ts DESC, item_id",
            "not_interested": "SELECT item_id, ts FROM not_interested WHERE user_id = :u "
                              "ORDER BY ts DESC, item_id",
            "watchlist": "SELECT item_id, added_ts FROM watchlist WHERE user_id = :u "
                         "ORDER BY added_ts DESC, item_id",
            "seen": "SELECT item_id, ts FROM seen WHERE user_id = :u ORDER BY ts DESC, item_id",
            "movie_nights": "SELECT room, joined_ts FROM group_members WHERE user_id = :u "
                            "ORDER BY joined_ts",
            "shown": "SELECT b.context, b.ts, s.item_id, s.position, s.feedback, "
                     "s.feedback_ts FROM shown s JOIN shown_batches b ON b.id = s.batch_id "
                     "WHERE s.user_id = :u ORDER BY b.id, s.position",
            # Links, without the secrets: a code's hash, a web visitor's cookie id.
            "linked_to": "SELECT u.platform, u.platform_user_id, l.ts FROM links l "
                         "JOIN users u ON u.id = l.linked_to WHERE l.user_id = :u",
            "linked_web_profiles": "SELECT ts FROM links WHERE linked_to = :u ORDER BY ts",
            "link_codes": "SELECT expires_ts FROM link_codes WHERE user_id = :u",
        }
        out: dict = {}
        with self._reading() as db:
            for name, sql in tables.items():
                cursor = db.execute(sql, {"u": user_id})
                columns = [c[0] for c in cursor.description]
                out[name] = [dict(zip(columns, row, strict=True)) for row in cursor]
        out["user"] = out["user"][0] if out["user"] else None
        return out

    # Movie night: who in a chat room opted in to group recommendations

    def join_group(self, room: str, user_id: int) -> bool:
        """Add the user to the room's group; False if they were already in it.

        ``room`` is an opaque key the caller builds, e.g. ``"discord:<guild>:<channel>"``
        or ``"telegram:<chat id>"``: non-empty text of at most 200 characters, no control
        characters.
        """
        room = _room(room)
        user_id = _whole(user_id, "A user id", minimum=1)
        with self._writing() as db:
            self._require_user(db, user_id)
            cursor = db.execute(
                "INSERT INTO group_members (room, user_id, joined_ts) VALUES (?, ?, ?) "
                "ON CONFLICT (room, user_id) DO NOTHING", [room, user_id, self._clock()])
            return cursor.rowcount > 0

    def leave_group(self, room: str, user_id: int) -> bool:
        """Take the user out of the room's group; False if they were not in it."""
        room = _room(room)
        user_id = _whole(user_id, "A user id", minimum=1)
        with self._writing() as db:
            cursor = db.execute("DELETE FROM group_members WHERE room = ? AND user_id = ?",
                                [room, user_id])
            return cursor.rowcount > 0

    def group_members(self, room: str) -> list[int]:
        """The user ids in the room's group, in joining order (a rejoin counts as new)."""
        room = _room(room)
        with self._reading() as db:
            rows = db.execute("SELECT user_id FROM group_members WHERE room = ? "
                              "ORDER BY joined_ts, rowid", [room])
            return [int(u) for (u,) in rows]

    def names(self, user_ids: list[int]) -> dict[int, str | None]:
        """The display name each user last had (None when the platform gave none)."""
        ids = [_whole(u, "A user id", minimum=1) for u in user_ids]
        if not ids:
            return {}
        with self._reading() as db:
            rows = db.execute(f"SELECT id, name FROM users WHERE id IN "
                              f"({', '.join('?' * len(ids))})", ids)  # only '?'s: no injection
            return {int(u): name for u, name in rows}

    # Linking a web visitor to a chat account (codes are opaque keys: the bot hashes them)

    def issue_link_code(self, user_id: int, code_key: str, ttl: float) -> float:
        """Store a one-time code for the user, valid ``ttl`` seconds; the expiry time.

        A user has one code at a time (a new one replaces the last), and expired codes of
        everybody are swept on the way.
        """
        user_id = _whole(user_id, "A user id", minimum=1)
        code_key = _text(code_key, "A link code")
        if not (isinstance(ttl, numbers.Real) and 0 < ttl <= 86_400):
            raise StorageError(f"A link code lives 1 s to a day, got {ttl!r}.")
        with self._writing() as db:
            self._require_user(db, user_id)
            now = self._clock()
            db.execute("DELETE FROM link_codes WHERE user_id = ? OR expires_ts <= ?",
                       [user_id, now])
            db.execute("INSERT OR REPLACE INTO link_codes (code_hash, user_id, expires_ts) "
                       "VALUES (?, ?, ?)", [code_key, user_id, now + float(ttl)])
            return now + float(ttl)

    def redeem_link_code(self, code_key: str, user_id: int) -> int | None:
        """Use a code: link ``user_id`` to the code's owner and return the owner's id, or
        None for an unknown or expired code. A code works once, whoever uses it."""
        user_id = _whole(user_id, "A user id", minimum=1)
        code_key = _text(code_key, "A link code")
        with self._writing() as db:
            self._require_user(db, user_id)
            now = self._clock()
            row = db.execute("SELECT user_id, expires_ts FROM link_codes WHERE code_hash = ?",
                             [code_key]).fetchone()
            db.execute("DELETE FROM link_codes WHERE code_hash = ? OR expires_ts <= ?",
                       [code_key, now])
            if row is None or row[1] <= now or int(row[0]) == user_id:
                return None
            db.execute("INSERT INTO links (user_id, linked_to, ts) VALUES (?, ?, ?) "
                       "ON CONFLICT (user_id) DO UPDATE SET linked_to = excluded.linked_to, "
                       "ts = excluded.ts", [user_id, int(row[0]), now])
            return int(row[0])

    def copy_taste(self, source: int, target: int) -> int:
        """Give ``target`` what ``source`` told us about titles ``target`` has said nothing
        about: ratings, not-interested, watchlist and seen (what ``target`` said wins).
        Returns how many ratings were copied."""
        source = _whole(source, "A user id", minimum=1)
        target = _whole(target, "A user id", minimum=1)
        with self._writing() as db:
            self._require_user(db, target)
            # An item is rated or not-interested, never both: skip those target has either.
            said = ("SELECT item_id FROM ratings WHERE user_id = :t "
                    "UNION SELECT item_id FROM not_interested WHERE user_id = :t")
            copied = db.execute(
                "INSERT INTO ratings (user_id, item_id, rating, source, ts) "
                "SELECT :t, item_id, rating, source, ts FROM ratings "
                f"WHERE user_id = :s AND item_id NOT IN ({said})",
                {"s": source, "t": target}).rowcount
            db.execute("INSERT INTO not_interested (user_id, item_id, ts) "
                       "SELECT :t, item_id, ts FROM not_interested "
                       f"WHERE user_id = :s AND item_id NOT IN ({said})",
                       {"s": source, "t": target})
            for table, ts in (("watchlist", "added_ts"), ("seen", "ts")):
                # Table and column names are ours, not input.
                db.execute(f"INSERT INTO {table} (user_id, item_id, {ts}) "
                           f"SELECT :t, item_id, {ts} FROM {table} WHERE user_id = :s "
                           "ON CONFLICT (user_id, item_id) DO NOTHING",
                           {"s": source, "t": target})
            return max(0, int(copied))

    def linked_account(self, user_id: int) -> tuple[str, str, str | None] | None:
        """(platform, platform user id, name) of the account ``user_id`` is linked to."""
        user_id = _whole(user_id, "A user id", minimum=1)
        with self._reading() as db:
            row = db.execute(
                "SELECT u.platform, u.platform_user_id, u.name FROM links l "
                "JOIN users u ON u.id = l.linked_to WHERE l.user_id = ?", [user_id]).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), row[2])

    def unlink(self, user_id: int) -> bool:
        """Undo ``user_id``'s link; False if there was none."""
        user_id = _whole(user_id, "A user id", minimum=1)
        with self._writing() as db:
            return db.execute("DELETE FROM links WHERE user_id = ?", [user_id]).rowcount > 0

    # What was shown

    def log_shown(self, user_id: int, item_ids: list[int], context: str) -> int:
        """Log one batch of recommendations, one row per item in order; the batch id."""
        user_id = _whole(user_id, "A user id", minimum=1)
        items = [_whole(i, "An item id") for i in item_ids]
        if not isinstance(context, str):
            raise StorageError(f"The context must be text, got {context!r}.")
        with self._writing() as db:
            self._require_user(db, user_id)
            batch = int(db.execute(
                "INSERT INTO shown_batches (user_id, context, ts) VALUES (?, ?, ?)",
                [user_id, context, self._clock()]).lastrowid)
            db.conn.executemany(
                "INSERT INTO shown (batch_id, user_id, item_id, position) VALUES (?, ?, ?, ?)",
                [(batch, user_id, item, position) for position, item in enumerate(items)])
            return batch

    def record_feedback(self, user_id: int, item_id: int, action: str) -> None:
        """Note what the user did with an item on its latest shown row; nothing if never shown."""
        user_id = _whole(user_id, "A user id", minimum=1)
        item_id = _whole(item_id, "An item id")
        if action not in SHOWN_ACTIONS:
            raise StorageError(f"Unknown feedback {action!r}; use one of "
                               f"{', '.join(sorted(SHOWN_ACTIONS))}.")
        with self._writing() as db:
            db.execute(
                "UPDATE shown SET feedback = ?, feedback_ts = ? WHERE id = (SELECT id FROM shown "
                "WHERE user_id = ? AND item_id = ? ORDER BY id DESC LIMIT 1)",
                [action, self._clock(), user_id, item_id])

    # Whole database

    def stats(self) -> dict:
        """Row counts: ``ratings`` is every like, dislike and rating; ``likes`` and
        ``dislikes`` are the ones given with those buttons; ``shown`` counts items."""
        with self._reading() as db:
            row = db.execute(
                "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM ratings), "
                "(SELECT COUNT(*) FROM ratings WHERE source = 'like'), "
                "(SELECT COUNT(*) FROM ratings WHERE source = 'dislike'), "
                "(SELECT COUNT(*) FROM watchlist), (SELECT COUNT(*) FROM shown)").fetchone()
        keys = ("users", "ratings", "likes", "dislikes", "watchlist", "shown")
        return dict(zip(keys, map(int, row), strict=True))

    def training_ratings(self) -> Iterator[tuple[str, str, int, float, float]]:
        """(platform, platform_user_id, item_id, rating, ts) for every like, dislike and rating.

        Read in chunks, releasing the lock in between, so a slow consumer never blocks the
        bot; a row written meanwhile may or may not be included.
        """
        after = -1
        while True:
            with self._reading() as db:
                rows = db.execute(
                    "SELECT r.rowid, u.platform, u.platform_user_id, r.item_id, r.rating, r.ts "
                    "FROM ratings r JOIN users u ON u.id = r.user_id WHERE r.rowid > ? "
                    "ORDER BY r.rowid LIMIT ?", [after, _CHUNK]).fetchall()
            for _, platform, key, item, rating, ts in rows:
                yield platform, key, int(item), float(rating), float(ts)
            if len(rows) < _CHUNK:
                return
            after = rows[-1][0]

    def integrity_ok(self) -> bool:
        """Whether SQLite finds the file sound and every foreign key points at a row."""
        with self._reading() as db:
            check = db.execute("PRAGMA integrity_check").fetchall()
            orphans = db.execute("PRAGMA foreign_key_check").fetchall()
        return check == [("ok",)] and not orphans


def _count(db: Database, sql: str, user_id: int) -> int:
    return int(db.execute(sql, [user_id]).fetchone()[0])


def _storage_error(exc: sqlite3.Error) -> StorageError:
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "is full" in str(exc):
        return StorageFull("The database's disk is full; nothing was changed.")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return StorageError("The database is busy (another program is writing to it); "
                            "try again in a moment.")
    return StorageError(f"The database failed: {exc}.")
