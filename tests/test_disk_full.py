"""A full disk during a like or a rating: the user is told it was not saved, and nothing is.

SQLite's ``PRAGMA max_page_count`` on the conversation's own connection makes the next
write that needs a new page fail with SQLITE_FULL ("database or disk is full"), the
error a full disk gives.
"""

from __future__ import annotations

import pytest

from bot.core import FULL, UserRef
from bot.payloads import Like, encode
from storage import StorageFull

ANN = UserRef("telegram", "7", "Ann")


def fill_up(chat) -> int:
    """Ann's id, after her first like, with the database at its page limit."""
    db = chat.db
    uid = db.user(ANN.platform, ANN.platform_user_id, ANN.name)
    db.like(uid, 50)
    pages = db._db.execute("PRAGMA page_count").fetchone()[0]
    db._db.execute(f"PRAGMA max_page_count = {pages}")
    # Pack the pages full, so the next rating needs a new one.
    with pytest.raises(StorageFull):
        for item in range(100_000, 200_000):
            db.dislike(uid, item)
    return uid


@pytest.mark.parametrize("ask", [
    lambda chat: chat.handle_text(ANN, "/like Fargo"),
    lambda chat: chat.handle_text(ANN, "/rate Alien 4.5"),
    lambda chat: chat.handle_button(ANN, encode(Like(127))),
])
def test_a_full_disk_is_told_and_changes_nothing(chat_with, ask):
    chat = chat_with()
    uid = fill_up(chat)
    before = chat.db.ratings_of(uid)
    replies = ask(chat)
    assert [r.text for r in replies] == [FULL]
    assert chat.db.ratings_of(uid) == before
    assert (50, 5.0) in before
    assert chat.db.integrity_ok()
    # Space again: the same request is saved.
    chat.db._db.execute("PRAGMA max_page_count = 1000000")
    assert ask(chat)[0].text != FULL
    assert len(chat.db.ratings_of(uid)) == len(before) + 1


def test_a_new_user_on_a_full_disk_is_told(chat_with):
    chat = chat_with()
    uid = fill_up(chat)
    with pytest.raises(StorageFull):  # pack the users pages too
        for n in range(100_000):
            chat.db.user("filler", n)
    users = chat.db.stats()["users"]
    bob = UserRef("discord", "8", "Bob")
    assert [r.text for r in chat.handle_text(bob, "/like Fargo")] == [FULL]
    assert [r.text for r in chat.handle_command(bob, "likes")] == [FULL]
    assert [r.text for r in chat.handle_button(bob, encode(Like(127)))] == [FULL]
    assert chat.db.stats()["users"] == users
    assert chat.db.ratings_of(uid)[-1] == (50, 5.0)
    assert chat.db.integrity_ok()
