"""Updates delivered again change nothing: writes happen once, replies at least once.

Telegram delivers an update again when the bot handled it but stopped before it confirmed
it (the next ``getUpdates`` offset): everything after the last confirmed update comes
back, in order. Every write of the core sets a state rather than changing one, so a
replayed run of updates leaves the database as one delivery did. Only the log of what was
shown grows: a replayed ``/recommend`` is shown again, and logged again.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import Conversation, UserRef
from storage import Storage

ANN = UserRef("telegram", "11", "Ann", "telegram:-100")
BOB = UserRef("telegram", "12", "Bob", "telegram:-100")

TEXTS = ["/like star wars", "/like dune 2021", "/dislike notting hill", "/rate fargo 4.5",
         "/rate fargo 2", "/unlike fargo", "/watch alien", "/unwatch alien", "/recommend 3",
         "/more", "/likes", "/watchlist", "/movienight join", "/movienight leave",
         "/movienight", "/similar alien"]
BUTTONS = ["like:127", "dislike:4", "no:100", "watch:1", "unwatch:1", "seen:2",
           "pick:rate:7:8", "pick:like:8", "pick:unlike:127", "likes:1", "wl:0", "more",
           "recommend", "forget:1", "forget:0"]
UPDATES = st.tuples(st.sampled_from([ANN, BOB]),
                    st.one_of(st.sampled_from(TEXTS).map(lambda t: ("text", t)),
                              st.sampled_from(BUTTONS).map(lambda b: ("button", b))))


class Clock:
    """The time of the update being handled, set by :func:`run`."""

    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def deliver(bot: Conversation, update: tuple) -> None:
    user, (kind, data) = update
    replies = bot.handle_text(user, data) if kind == "text" else bot.handle_button(user, data)
    assert replies and all(r.text for r in replies)  # every delivery gets its answer


def state(path: Path, with_times: bool) -> dict:
    """Everything stored about the users but what was shown, keyed by platform ids (a
    forgotten user comes back with a new row id); when things happened, if asked."""
    con = sqlite3.connect(path)
    who = "(SELECT platform_user_id FROM users WHERE users.id = t.user_id)"
    ts = ", ts" if with_times else ""
    try:
        return {
            "users": con.execute("SELECT platform_user_id, name FROM users ORDER BY 1").fetchall(),
            "ratings": con.execute(f"SELECT {who}, item_id, rating, source{ts} FROM ratings t "
                                   "ORDER BY 1, 2").fetchall(),
            **{table: con.execute(f"SELECT {who}, item_id{ts} FROM {table} t ORDER BY 1, 2")
               .fetchall() for table in ("not_interested", "seen")},
            "watchlist": con.execute(f"SELECT {who}, item_id{ts.replace('ts', 'added_ts')} "
                                     "FROM watchlist t ORDER BY 1, 2").fetchall(),
            "rooms": con.execute(f"SELECT room, {who} FROM group_members t ORDER BY 1, 2")
            .fetchall(),
        }
    finally:
        con.close()


def run(model, folder: Path, schedule: list[tuple[float, tuple]]) -> Path:
    """Deliver each ``(time, update)`` at its time; the database it leaves."""
    path = folder / "bot.sqlite3"
    clock = Clock()
    with Storage(path, clock=clock) as db:
        bot = Conversation(model, db)
        for clock.now, update in schedule:
            deliver(bot, update)
    return path


def timed(updates: list[tuple], start: float = 0) -> list[tuple[float, tuple]]:
    return [(Clock.now + start + 10 * i, u) for i, u in enumerate(updates)]


@settings(max_examples=40, deadline=None)
@given(updates=st.lists(UPDATES, min_size=1, max_size=12), data=st.data())
def test_a_replayed_run_of_updates_leaves_what_one_delivery_left(model, updates, data):
    replayed = data.draw(st.integers(1, len(updates)), label="updates delivered again")
    again = timed(updates[-replayed:], start=10 * len(updates))
    with tempfile.TemporaryDirectory() as once, tempfile.TemporaryDirectory() as twice:
        expected = state(run(model, Path(once), timed(updates)), with_times=False)
        got = state(run(model, Path(twice), timed(updates) + again), with_times=False)
    assert got == expected


@settings(max_examples=40, deadline=None)
@given(updates=st.lists(UPDATES, min_size=1, max_size=12))
def test_an_update_delivered_twice_changes_nothing_not_even_a_time(model, updates):
    """The same update again a moment later (a retry): not even a timestamp moves."""
    doubled = [(t + d, u) for t, u in timed(updates) for d in (0, 5)]
    with tempfile.TemporaryDirectory() as once, tempfile.TemporaryDirectory() as twice:
        expected = state(run(model, Path(once), timed(updates)), with_times=True)
        got = state(run(model, Path(twice), doubled), with_times=True)
    assert got == expected
