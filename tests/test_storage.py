"""Storage on a real SQLite file: users, ratings, watchlist, shown log, forgetting, migrations."""

from __future__ import annotations

import math
import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from recommender.preferences import opinion, split
from storage import Feedback, InvalidRating, Storage, StorageError, WatchItem
from storage.schema import MIGRATIONS, migrate

BIG = 9223372036854775807  # the largest 64-bit id


class Clock:
    """A clock that moves one second per reading, so order is by call and nothing sleeps."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "bot.sqlite3"


@pytest.fixture
def store(path: Path):
    with Storage(path, clock=Clock()) as s:
        yield s


def raw(path: Path) -> sqlite3.Connection:
    """A second, independent connection to the file, to check what was really written."""
    return sqlite3.connect(path)


def tables(path: Path) -> list[str]:
    with raw(path) as conn:
        return [n for (n,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'")]


def rows_about(path: Path, user_id: int) -> dict[str, int]:
    """Rows per table that belong to the user: every table but users has a user_id column."""
    with raw(path) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE "
                                f"{'id' if t == 'users' else 'user_id'} = ?",
                                [user_id]).fetchone()[0] for t in tables(path)}


def test_opening_creates_folders_wal_and_schema(store: Storage, path: Path):
    assert path.exists()
    assert store.schema_version() == len(MIGRATIONS) >= 1
    with raw(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert set(tables(path)) == {"users", "ratings", "not_interested", "watchlist", "seen",
                                 "shown_batches", "shown", "group_members", "link_codes",
                                 "links"}
    assert store.integrity_ok()


def test_user_is_got_or_created_and_keeps_the_latest_name(store: Storage, path: Path):
    a = store.user("telegram", 42, "Ann")
    assert store.user("telegram", 42) == a
    assert store.user("telegram", "42") == a  # the same id as text
    assert store.user("telegram", 42, "Annie") == a
    b = store.user("console", "local")
    assert b != a
    with raw(path) as conn:
        assert conn.execute("SELECT name FROM users WHERE id = ?", [a]).fetchone() == ("Annie",)
    assert store.stats()["users"] == 2


def test_64_bit_ids_on_two_platforms_are_two_users(store: Storage, path: Path):
    tg = store.user("telegram", BIG)
    dc = store.user("discord", BIG)
    assert tg != dc
    assert store.user("telegram", BIG) == tg
    assert store.user("telegram", BIG - 1) not in (tg, dc)  # no rounding through floats
    with raw(path) as conn:
        assert conn.execute("SELECT platform_user_id, typeof(platform_user_id) FROM users "
                            "WHERE id = ?", [tg]).fetchone() == (str(BIG), "text")


@pytest.mark.parametrize("bad", ["", "   ", None, 1.5, True])
def test_bad_platform_user_ids_are_refused(store: Storage, bad):
    with pytest.raises(StorageError):
        store.user("telegram", bad)
    assert store.stats()["users"] == 0


def test_like_dislike_and_rate_replace_each_other(store: Storage):
    u = store.user("console", "me")
    store.like(u, 7)
    assert store.feedback(u) == [Feedback(7, 5.0, "like", 1002.0)]
    store.dislike(u, 7)
    assert [(f.rating, f.source) for f in store.feedback(u)] == [(1.0, "dislike")]
    store.rate(u, 7, 3.5)
    assert [(f.rating, f.source) for f in store.feedback(u)] == [(3.5, "rate")]
    store.like(u, 7)
    assert [(f.rating, f.source) for f in store.feedback(u)] == [(5.0, "like")]
    assert store.count_feedback(u) == 1


@pytest.mark.parametrize("bad", [0, 0.0, 5.5, 3.3, -1, 0.25, math.nan, math.inf, -math.inf,
                                 "4", None, True])
def test_bad_ratings_raise_and_write_nothing(store: Storage, path: Path, bad):
    u = store.user("console", "me")
    store.rate(u, 1, 4)
    with pytest.raises(InvalidRating):
        store.rate(u, 2, bad)
    with pytest.raises(InvalidRating):
        store.rate(u, 1, bad)  # nor does it touch the existing rating
    assert store.feedback(u) == [Feedback(1, 4.0, "rate", 1002.0)]
    assert sum(rows_about(path, u).values()) == 2  # the user and one rating


def test_every_half_star_is_accepted(store: Storage):
    u = store.user("console", "me")
    for i, stars in enumerate(x / 2 for x in range(1, 11)):
        store.rate(u, i, stars)
    assert sorted(f.rating for f in store.feedback(u, limit=20)) == [x / 2 for x in range(1, 11)]


def test_bad_ids_and_unknown_users_are_refused(store: Storage, path: Path):
    u = store.user("console", "me")
    for bad in (-1, 1.0, "3", None, True, 2**63):
        with pytest.raises(StorageError):
            store.like(u, bad)
    with pytest.raises(StorageError):
        store.like(u + 100, 1)
    with pytest.raises(StorageError):
        store.watch(u + 100, 1)
    with pytest.raises(StorageError):
        store.log_shown(u, [1, 2, "x"], "home")  # a bad id mid-list: no batch at all
    assert sum(rows_about(path, u).values()) == 1
    assert store.stats() == {"users": 1, "ratings": 0, "likes": 0, "dislikes": 0,
                             "watchlist": 0, "shown": 0}


def test_numpy_integer_ids_are_accepted(store: Storage):
    np = pytest.importorskip("numpy")
    u = store.user("console", "me")
    store.like(u, np.int64(12))
    store.rate(u, np.int32(13), np.float64(4.5))
    assert store.ratings_of(u) == [(13, 4.5), (12, 5.0)]


def test_unlike(store: Storage):
    u = store.user("console", "me")
    store.like(u, 1)
    store.rate(u, 2, 2)
    assert store.unlike(u, 1) is True
    assert store.unlike(u, 1) is False
    assert store.unlike(u, 99) is False
    assert [f.item_id for f in store.feedback(u)] == [2]


def test_feedback_pages_newest_first(path: Path):
    clock = Clock()
    with Storage(path, clock=clock) as store:
        u = store.user("console", "me")
        for item in range(1, 26):
            store.like(u, item)
        clock.now -= 10_000  # a tie on time is broken by item id
        store.rate(u, 40, 4)
        clock.now -= 1
        store.rate(u, 30, 4)
        assert store.count_feedback(u) == 27
        pages = [store.feedback(u, offset, 10) for offset in (0, 10, 20, 30)]
        assert [len(p) for p in pages] == [10, 10, 7, 0]
        flat = [f for page in pages for f in page]
        assert [f.item_id for f in flat] == [*range(25, 0, -1), 30, 40]
        assert all(a.ts >= b.ts for a, b in pairwise(flat))
        assert store.feedback(u, limit=0) == []
        with pytest.raises(StorageError):
            store.feedback(u, offset=-1)


def test_ratings_of_gives_stars_and_not_interested_newest_first(store: Storage):
    u = store.user("console", "me")
    store.like(u, 1)
    store.dislike(u, 2)
    for item, stars in [(3, 3.5), (4, 3.0), (5, 2.5), (6, 2.0), (7, 0.5), (8, 5)]:
        store.rate(u, item, stars)
    store.not_interested(u, 9)
    assert store.ratings_of(u) == [(9, None), (8, 5.0), (7, 0.5), (6, 2.0), (5, 2.5),
                                   (4, 3.0), (3, 3.5), (2, 1.0), (1, 5.0)]
    # What they mean is the recommender's one rule.
    assert split(store.ratings_of(u)) == ([8, 3, 1], [9, 7, 6, 2], [5, 4])


def test_ratings_of_ties_on_time_go_by_item_id(path: Path):
    with Storage(path, clock=lambda: 5.0) as store:
        u = store.user("console", "me")
        store.rate(u, 3, 4.0)
        store.not_interested(u, 2)
        store.like(u, 1)
        assert store.ratings_of(u) == [(1, 5.0), (2, None), (3, 4.0)]


def test_neutral_ratings_move_with_the_latest_word(store: Storage):
    u = store.user("console", "me")
    assert store.ratings_of(u) == []
    store.rate(u, 1, 3.0)
    store.rate(u, 2, 2.5)
    assert split(store.ratings_of(u)) == ([], [], [2, 1])
    store.like(u, 1)
    store.not_interested(u, 2)
    assert store.ratings_of(u) == [(2, None), (1, 5.0)]
    assert split(store.ratings_of(u)) == ([1], [2], [])
    store.rate(u, 1, 3.0)
    assert split(store.ratings_of(u)) == ([], [2], [1])
    assert store.ratings_of(store.user("console", "you")) == []
    with pytest.raises(StorageError):
        store.ratings_of(0)


def test_not_interested_and_a_later_rating_replace_each_other(store: Storage):
    u = store.user("console", "me")
    store.like(u, 1)
    store.not_interested(u, 1)
    assert store.ratings_of(u) == [(1, None)]
    assert store.count_feedback(u) == 0
    store.like(u, 1)
    assert store.ratings_of(u) == [(1, 5.0)]


def test_watchlist_add_duplicate_remove_and_pages(store: Storage):
    u = store.user("console", "me")
    assert store.watch(u, 10) is True
    assert store.watch(u, 10) is False
    for item in range(11, 23):
        store.watch(u, item)
    assert store.count_watchlist(u) == 13
    first = store.watchlist(u)
    assert [w.item_id for w in first] == list(range(22, 12, -1))
    assert [w.item_id for w in store.watchlist(u, offset=10)] == [12, 11, 10]
    assert first[0] == WatchItem(22, first[0].added_ts) and first[0].added_ts > first[1].added_ts
    assert store.unwatch(u, 10) is True
    assert store.unwatch(u, 10) is False
    assert store.count_watchlist(u) == 12


def test_mark_seen_removes_from_watchlist_and_excluded_covers_everything(store: Storage):
    u = store.user("console", "me")
    store.watch(u, 1)
    store.watch(u, 2)
    store.mark_seen(u, 1)
    store.mark_seen(u, 1)  # twice is fine
    assert [w.item_id for w in store.watchlist(u)] == [2]
    store.like(u, 3)
    store.dislike(u, 4)
    store.rate(u, 5, 3)
    store.not_interested(u, 6)
    store.mark_seen(u, 7)
    other = store.user("console", "other")
    store.like(other, 100)
    assert store.excluded(u) == {1, 2, 3, 4, 5, 6, 7}
    assert store.excluded(other) == {100}


def test_shown_log_and_record_feedback(store: Storage, path: Path):
    u = store.user("console", "me")
    first = store.log_shown(u, [5, 6, 7], "recommend")
    second = store.log_shown(u, [7, 8], "similar:5")
    assert second > first
    store.record_feedback(u, 7, "like")  # lands on the newest showing only
    store.record_feedback(u, 5, "watch")
    store.record_feedback(u, 99, "seen")  # never shown: nothing happens
    with raw(path) as conn:
        rows = conn.execute("SELECT s.batch_id, s.item_id, s.position, s.feedback, b.context "
                            "FROM shown s JOIN shown_batches b ON b.id = s.batch_id "
                            "ORDER BY s.id").fetchall()
    assert rows == [(first, 5, 0, "watch", "recommend"), (first, 6, 1, None, "recommend"),
                    (first, 7, 2, None, "recommend"), (second, 7, 0, "like", "similar:5"),
                    (second, 8, 1, None, "similar:5")]
    with pytest.raises(StorageError):
        store.record_feedback(u, 7, "love")
    assert store.stats()["shown"] == 5


def test_forget_removes_every_row_of_one_user_only(store: Storage, path: Path):
    def fill(u: int) -> None:
        store.like(u, 1)
        store.rate(u, 2, 4.5)
        store.dislike(u, 3)
        store.not_interested(u, 4)
        store.watch(u, 5)
        store.mark_seen(u, 6)
        store.log_shown(u, [7, 8], "recommend")
        store.record_feedback(u, 7, "like")
        store.join_group("telegram:-100123", u)
        store.issue_link_code(u, f"own-{u}", 600)  # a code of their own, unused
        store.issue_link_code(chat, f"for-{u}", 600)
        assert store.redeem_link_code(f"for-{u}", u) == chat  # linked to a chat account

    chat = store.user("telegram", 1, "Chat")
    gone, kept = store.user("telegram", BIG, "Gone"), store.user("discord", BIG, "Kept")
    fill(gone)
    fill(kept)
    before = rows_about(path, kept)
    assert all(n > 0 for n in rows_about(path, gone).values())  # every table is exercised
    store.forget(gone)
    assert rows_about(path, gone) == dict.fromkeys(tables(path), 0)
    assert rows_about(path, kept) == before
    assert store.integrity_ok()
    store.forget(gone)  # forgetting twice is harmless
    assert store.user("telegram", BIG) != gone  # a returning user starts afresh
    assert store.feedback(kept)


def test_stats(store: Storage):
    a, b = store.user("console", "a"), store.user("console", "b")
    store.like(a, 1)
    store.like(b, 1)
    store.dislike(a, 2)
    store.rate(a, 3, 4)
    store.watch(b, 9)
    store.log_shown(a, [1, 2, 3], "recommend")
    assert store.stats() == {"users": 2, "ratings": 4, "likes": 2, "dislikes": 1,
                             "watchlist": 1, "shown": 3}


def test_training_ratings(store: Storage):
    a, b = store.user("telegram", BIG), store.user("discord", "abc")
    store.like(a, 1)
    store.dislike(b, 2)
    store.rate(b, 3, 2.5)
    store.not_interested(a, 4)  # not a rating
    rows = sorted(store.training_ratings())
    assert rows == [("discord", "abc", 2, 1.0, 1004.0), ("discord", "abc", 3, 2.5, 1005.0),
                    ("telegram", str(BIG), 1, 5.0, 1003.0)]


def test_training_ratings_reads_past_one_chunk(store: Storage):
    u = store.user("console", "me")
    for item in range(2_500):
        store.rate(u, item, 0.5 + item % 10 / 2)
    assert sorted(r[2] for r in store.training_ratings()) == list(range(2_500))


def test_a_session_of_likes_survives_a_restart(path: Path):
    with Storage(path, clock=Clock()) as store:
        u = store.user("telegram", BIG, "Ann")
        for item in (3, 1, 2):
            store.like(u, item)
        store.watch(u, 9)
        expected = store.feedback(u)
    with Storage(path, clock=Clock(5_000)) as store:
        assert store.schema_version() == len(MIGRATIONS)
        assert store.user("telegram", BIG) == u
        assert store.feedback(u) == expected
        assert store.ratings_of(u) == [(2, 5.0), (1, 5.0), (3, 5.0)]
        assert store.excluded(u) == {1, 2, 3, 9}
        assert store.integrity_ok()


def test_a_later_migration_runs_once_and_keeps_data(path: Path):
    with Storage(path, clock=Clock()) as store:
        store.like(store.user("console", "me"), 1)
    added = [*MIGRATIONS, "CREATE TABLE extra (x INTEGER);",
             lambda db: db.execute("INSERT INTO extra VALUES (1)")]
    db = Database(path)
    try:
        assert migrate(db, added) == len(MIGRATIONS) + 2
        assert migrate(db, added) == len(MIGRATIONS) + 2  # nothing runs twice
        assert db.execute("SELECT COUNT(*) FROM extra").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 1
    finally:
        db.close()
    # This release does not know those migrations: it refuses the newer file.
    with pytest.raises(StorageError, match="newer"):
        Storage(path)


def test_a_failed_migration_changes_nothing(path: Path):
    Storage(path).close()
    broken = [*MIGRATIONS, "CREATE TABLE extra (x INTEGER); INSERT INTO nowhere VALUES (1);"]
    db = Database(path)
    try:
        with pytest.raises(sqlite3.OperationalError):
            migrate(db, broken)
        assert "extra" not in db.table_names()
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        db.close()


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path):
    bad = tmp_path / "bot.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=r"bot\.sqlite3"):
        Storage(bad)


def test_closed_storage_says_so(path: Path):
    store = Storage(path)
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.user("console", "me")


def test_sql_looking_text_is_stored_verbatim(store: Storage, path: Path):
    evil = "'; DROP TABLE users; --"
    name = 'Robert"); DELETE FROM ratings; --'
    u = store.user(evil, evil, name)
    store.like(u, 1)
    store.log_shown(u, [1], evil)
    assert store.user(evil, evil) == u
    assert list(store.training_ratings()) == [(evil, evil, 1, 5.0, 1002.0)]
    with raw(path) as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [(name,)]
        assert conn.execute("SELECT context FROM shown_batches").fetchall() == [(evil,)]
    assert store.integrity_ok()


def test_threads_take_turns(store: Storage):
    users = [store.user("telegram", n) for n in range(4)]

    def work(u: int) -> None:
        for item in range(50):
            store.like(u, item)
            store.watch(u, item + 1000)
            store.log_shown(u, [item], "recommend")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, users))
    assert store.stats() == {"users": 4, "ratings": 200, "likes": 200, "dislikes": 0,
                             "watchlist": 200, "shown": 200}
    assert store.integrity_ok()


# Property: any sequence of operations agrees with a plain-Python model and leaves the file
# sound; the only errors are InvalidRating for bad stars.

ITEMS = st.integers(0, 5)
STARS = st.one_of(st.sampled_from([x / 2 for x in range(1, 11)]),
                  st.sampled_from([0, 5.5, 3.3, -0.5, math.nan, math.inf]),
                  st.floats(allow_nan=True, allow_infinity=True))
OPS = st.one_of(
    st.tuples(st.sampled_from(["like", "dislike", "unlike", "not_interested", "watch",
                               "unwatch", "mark_seen", "record_feedback"]), st.integers(0, 1),
              ITEMS),
    st.tuples(st.just("rate"), st.integers(0, 1), ITEMS, STARS),
    st.tuples(st.just("log_shown"), st.integers(0, 1), st.lists(ITEMS, max_size=4)),
    st.tuples(st.just("forget"), st.integers(0, 1)),
)


class Expected:
    """What one user's rows should be after each operation: a plain-Python model of
    Storage. Each method applies an operation to the store and the model alike."""

    def __init__(self) -> None:
        self.ratings: dict[int, float] = {}
        self.ni: set[int] = set()
        self.watching: set[int] = set()
        self.seen: set[int] = set()

    def rate(self, store: Storage, u: int, item: int, stars: float) -> None:
        if not (math.isfinite(stars) and 0.5 <= stars <= 5 and (stars * 2).is_integer()):
            with pytest.raises(InvalidRating):
                store.rate(u, item, stars)
            return
        store.rate(u, item, stars)
        self.ratings[item] = stars
        self.ni.discard(item)

    def like(self, store: Storage, u: int, item: int) -> None:
        store.like(u, item)
        self.ratings[item] = 5.0
        self.ni.discard(item)

    def dislike(self, store: Storage, u: int, item: int) -> None:
        store.dislike(u, item)
        self.ratings[item] = 1.0
        self.ni.discard(item)

    def unlike(self, store: Storage, u: int, item: int) -> None:
        assert store.unlike(u, item) == (self.ratings.pop(item, None) is not None)

    def not_interested(self, store: Storage, u: int, item: int) -> None:
        store.not_interested(u, item)
        self.ni.add(item)
        self.ratings.pop(item, None)

    def watch(self, store: Storage, u: int, item: int) -> None:
        assert store.watch(u, item) == (item not in self.watching)
        self.watching.add(item)

    def unwatch(self, store: Storage, u: int, item: int) -> None:
        assert store.unwatch(u, item) == (item in self.watching)
        self.watching.discard(item)

    def mark_seen(self, store: Storage, u: int, item: int) -> None:
        store.mark_seen(u, item)
        self.seen.add(item)
        self.watching.discard(item)

    @staticmethod
    def record_feedback(store: Storage, u: int, item: int) -> None:
        store.record_feedback(u, item, "like")

    @staticmethod
    def log_shown(store: Storage, u: int, items: list[int]) -> None:
        store.log_shown(u, items, "recommend")

    def check(self, store: Storage, u: int) -> None:
        rated = store.ratings_of(u)
        assert len(rated) == len(self.ratings) + len(self.ni)  # each item once
        assert dict(rated) == {**self.ratings, **dict.fromkeys(self.ni)}
        likes, dislikes, neutral = split(rated)
        said = {i: opinion(r) for i, r in self.ratings.items()}
        assert set(likes) == {i for i, o in said.items() if o == "like"}
        assert set(dislikes) == {i for i, o in said.items() if o == "dislike"} | self.ni
        assert set(neutral) == {i for i, o in said.items() if o == "neutral"}
        assert store.excluded(u) == set(self.ratings) | self.ni | self.watching | self.seen
        assert store.count_feedback(u) == len(self.ratings)
        assert store.count_watchlist(u) == len(self.watching)


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, max_size=30))
def test_random_operations_keep_the_database_sound(ops):
    with tempfile.TemporaryDirectory() as folder, \
            Storage(Path(folder) / "bot.sqlite3", clock=Clock()) as store:
        ids = {who: store.user("console", str(who)) for who in (0, 1)}
        model = {who: Expected() for who in (0, 1)}
        for op, who, *args in ops:
            if op == "forget":
                store.forget(ids[who])
                ids[who] = store.user("console", str(who))
                model[who] = Expected()
                continue
            getattr(model[who], op)(store, ids[who], *args)
            model[who].check(store, ids[who])
        assert store.integrity_ok()


# Movie night: group membership per chat room

ROOM = "discord:123456789012345678:876543210987654321"


def test_join_leave_and_members_in_joining_order(store: Storage):
    ann, bob, cat = (store.user("discord", n) for n in ("ann", "bob", "cat"))
    assert store.group_members(ROOM) == []
    assert store.join_group(ROOM, bob) is True
    assert store.join_group(ROOM, ann) is True
    assert store.join_group(ROOM, bob) is False  # already in: keeps their place
    assert store.join_group(ROOM, cat) is True
    assert store.group_members(ROOM) == [bob, ann, cat]
    assert store.leave_group(ROOM, bob) is True
    assert store.leave_group(ROOM, bob) is False
    assert store.leave_group(ROOM, 424242) is False  # nobody by that id: nothing to leave
    assert store.join_group(ROOM, bob) is True  # a rejoin goes to the end
    assert store.group_members(ROOM) == [ann, cat, bob]
    assert store.integrity_ok()


def test_rooms_are_separate_and_stored_verbatim(store: Storage, path: Path):
    ann, bob = store.user("telegram", 1), store.user("telegram", 2)
    evil = "'; DROP TABLE group_members; --"
    store.join_group("telegram:-100123", ann)
    store.join_group("telegram:-100124", bob)
    store.join_group(evil, ann)
    store.join_group("x" * 200, bob)  # the longest room key
    assert store.group_members("telegram:-100123") == [ann]
    assert store.group_members("telegram:-100124") == [bob]
    assert store.group_members(evil) == [ann]
    assert store.group_members("x" * 200) == [bob]
    assert store.group_members("TELEGRAM:-100123") == []  # keys are compared exactly
    with raw(path) as conn:
        assert conn.execute("SELECT room FROM group_members WHERE room LIKE '%DROP%'"
                            ).fetchall() == [(evil,)]


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201, "a\x00b", "line\nbreak", "\x1b[31m",
                                 "\ud800", None, 123, b"telegram:1"])
def test_bad_rooms_are_refused_and_change_nothing(store: Storage, path: Path, bad):
    u = store.user("telegram", 1)
    store.join_group(ROOM, u)
    with pytest.raises(StorageError, match="room"):
        store.join_group(bad, u)
    with pytest.raises(StorageError, match="room"):
        store.leave_group(bad, u)
    with pytest.raises(StorageError, match="room"):
        store.group_members(bad)
    assert rows_about(path, u)["group_members"] == 1
    assert store.group_members(ROOM) == [u]


def test_joining_needs_a_known_user_and_a_good_id(store: Storage, path: Path):
    u = store.user("telegram", 1)
    for bad in (0, -1, 1.0, "1", None, True, 2**63):
        with pytest.raises(StorageError):
            store.join_group(ROOM, bad)
        with pytest.raises(StorageError):
            store.leave_group(ROOM, bad)
    with pytest.raises(StorageError, match="no user"):
        store.join_group(ROOM, u + 100)
    assert store.group_members(ROOM) == []
    assert store.integrity_ok()


def test_forget_leaves_every_group(store: Storage, path: Path):
    gone, kept = store.user("telegram", 1), store.user("discord", 2)
    for room in ("telegram:-100123", ROOM):
        store.join_group(room, gone)
        store.join_group(room, kept)
    store.forget(gone)
    assert store.group_members("telegram:-100123") == [kept]
    assert store.group_members(ROOM) == [kept]
    assert rows_about(path, gone)["group_members"] == 0
    assert store.integrity_ok()


def test_a_version_1_database_migrates_to_2_keeping_its_data(path: Path):
    path.parent.mkdir(parents=True)
    db = Database(path)
    try:
        assert migrate(db, MIGRATIONS[:1]) == 1  # the first release's schema
        db.execute("INSERT INTO users (id, platform, platform_user_id, name, created_ts) "
                   "VALUES (7, 'telegram', '42', 'Ann', 1.0)")
        db.execute("INSERT INTO ratings (user_id, item_id, rating, source, ts) "
                   "VALUES (7, 50, 5.0, 'like', 2.0)")
        db.conn.commit()
        assert "group_members" not in db.table_names()
    finally:
        db.close()
    with Storage(path, clock=Clock()) as store:
        assert store.schema_version() == len(MIGRATIONS)
        assert store.user("telegram", 42) == 7
        assert store.feedback(7) == [Feedback(50, 5.0, "like", 2.0)]
        assert store.ratings_of(7) == [(50, 5.0)]
        assert store.join_group(ROOM, 7) is True
        assert store.group_members(ROOM) == [7]
        assert store.integrity_ok()
    with Storage(path) as store:  # reopening runs nothing twice
        assert store.schema_version() == len(MIGRATIONS)
        assert store.group_members(ROOM) == [7]


# Property: joining and leaving with any room text either works, agreeing with a plain-Python
# model, or raises a StorageError and changes nothing; the file stays sound.

def room_ok(room: object) -> bool:
    if not isinstance(room, str) or not room.strip() or len(room) > 200:
        return False
    if any(0xD800 <= ord(c) <= 0xDFFF for c in room):
        return False
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in room)  # Cc


ROOMS = st.one_of(
    st.sampled_from(["telegram:-100123", ROOM, " padded ", "ß", "🎬 night"]),  # collide often
    st.sampled_from(["", " ", "\t", "\x00", "a\x00b", "\ud800", "x" * 200, "x" * 201,
                     "'; DROP TABLE group_members; --", None, 5]),
    st.text(max_size=8),
    st.text(min_size=190, max_size=260),
    st.text(alphabet=st.characters(categories=["Cc", "Zs", "Cf"]), max_size=4),
)
GROUP_OPS = st.lists(st.tuples(st.sampled_from(["join", "leave", "forget"]),
                               st.integers(0, 2), ROOMS), max_size=25)


@settings(max_examples=80, deadline=None)
@given(GROUP_OPS)
def test_random_group_operations_keep_the_database_sound(ops):
    with tempfile.TemporaryDirectory() as folder, \
            Storage(Path(folder) / "bot.sqlite3", clock=Clock()) as store:
        ids = {who: store.user("console", str(who)) for who in range(3)}
        model: dict[str, list[int]] = {}
        for op, who, room in ops:
            u = ids[who]
            if op == "forget":
                store.forget(u)
                for members in model.values():
                    if u in members:
                        members.remove(u)
                ids[who] = store.user("console", str(who))
                continue
            if not room_ok(room):
                with pytest.raises(StorageError):
                    (store.join_group if op == "join" else store.leave_group)(room, u)
                with pytest.raises(StorageError):
                    store.group_members(room)
                continue
            members = model.setdefault(room, [])
            if op == "join":
                assert store.join_group(room, u) == (u not in members)
                if u not in members:
                    members.append(u)
            else:
                assert store.leave_group(room, u) == (u in members)
                if u in members:
                    members.remove(u)
            assert store.group_members(room) == members
        for room, members in model.items():
            assert store.group_members(room) == members
        assert store.integrity_ok()


def test_copy_taste_adds_what_the_target_has_not_said_and_keeps_what_it_has(store: Storage):
    web, chat = store.user("web", "v" * 32), store.user("telegram", 1)
    store.like(web, 1)
    store.rate(web, 2, 3.5)
    store.like(web, 3)
    store.not_interested(web, 4)
    store.watch(web, 5)
    store.mark_seen(web, 6)
    store.dislike(chat, 3)  # the chat said otherwise: it stays
    store.rate(chat, 4, 4.0)
    store.watch(chat, 5)
    assert store.copy_taste(web, chat) == 2
    assert sorted(store.ratings_of(chat)) == [(1, 5.0), (2, 3.5), (3, 1.0), (4, 4.0)]
    assert [w.item_id for w in store.watchlist(chat)] == [5]
    assert store.excluded(chat) == {1, 2, 3, 4, 5, 6}
    assert store.copy_taste(web, chat) == 0  # twice changes nothing
    assert store.integrity_ok()


def test_link_codes_are_single_use_expire_and_follow_their_owner(path: Path):
    now = [1000.0]
    with Storage(path, clock=lambda: now[0]) as store:
        chat, web = store.user("telegram", 1), store.user("web", "w" * 32)
        assert store.issue_link_code(chat, "k1", 60) == 1060.0
        assert store.issue_link_code(chat, "k2", 60) == 1060.0  # replaces k1
        assert store.redeem_link_code("k1", web) is None
        assert store.redeem_link_code("k2", chat) is None  # nobody links to themselves
        store.issue_link_code(chat, "k3", 60)
        now[0] = 1059.9
        assert store.redeem_link_code("k3", web) == chat
        assert store.redeem_link_code("k3", web) is None  # once
        assert store.linked_account(web) == ("telegram", "1", None)
        store.issue_link_code(chat, "k4", 60)
        now[0] += 60
        assert store.redeem_link_code("k4", web) is None  # expired
        with pytest.raises(StorageError):
            store.issue_link_code(chat, "k5", 0)
        store.forget(chat)
        assert store.linked_account(web) is None  # the link goes with its owner
        assert store.unlink(web) is False
