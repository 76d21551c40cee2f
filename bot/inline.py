"""Inline mode without a platform: what someone types after the bot's name, as title cards
to share in any chat, and the deep-link payload that brings a card's reader back to the bot
on that title (``/start t<item id>``).

A payload travels in a ``t.me`` link, where Telegram allows 1 to 64 characters of
``[A-Za-z0-9_-]``; ours are ``t`` and the item id in plain digits, and :func:`item_of`
reads back nothing else.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from bot.payloads import MAX_ID
from bot.replies import Card, describe, imdb_url

if TYPE_CHECKING:
    from bot.core import Conversation, UserRef

RESULTS = 10  # cards per answer: a phone shows about five, ten leaves room to scroll
PREFIX = "t"
_PAYLOAD = re.compile(r"t([0-9]{1,19})")


def payload_of(item_id: int) -> str:
    """The deep-link payload that opens the bot on ``item_id``: "t1234"."""
    return f"{PREFIX}{int(item_id)}"


def item_of(payload: str) -> int | None:
    """The item id a payload of :func:`payload_of` names; None for anything else."""
    found = _PAYLOAD.fullmatch(payload) if isinstance(payload, str) else None
    if found is None or int(found[1]) > MAX_ID:
        return None
    return int(found[1])


def shareable(conversation: Conversation, user: UserRef, query: str,
              limit: int = RESULTS) -> list[Card]:
    """Up to ``limit`` cards for ``query`` (the user's recent picks, then popular titles,
    when it is empty): heading "Alien (1979)", a one-line detail, the IMDb link."""
    recommender = conversation.recommender
    cards = []
    for found in conversation.find_titles(user, query, limit):
        row = recommender.row.get(found.item_id)
        genres = ", ".join(recommender.genre_lists[row][:3]) if row is not None else ""
        rating = float(recommender.imdb_rating[row]) if row is not None else math.nan
        detail = " · ".join(part for part in (
            "TV series" if found.kind == "tv" else "Movie", genres,
            "" if math.isnan(rating) else f"IMDb {rating:.1f}") if part)
        cards.append(Card(describe(found), detail, found.item_id,
                          imdb_url(recommender.imdb_id(found.item_id))))
    return cards
