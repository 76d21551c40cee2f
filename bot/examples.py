"""Example titles for /help and the hints, chosen from the catalogue being served.

A fixed "/like Dune" fails on a catalogue without Dune (MovieLens 100K has none), so
the examples are popular, well-rated titles of the served catalogue that a user can
type as shown and that the title search resolves to exactly that title: short, plain
letters, not shared with another item (no remake, no series of the same name).
"""

from __future__ import annotations

import re

from bot.matching import TitleIndex
from recommender.serve import Recommender
from recommender.titles import title_key

COUNT = 4  # distinct titles: /like, /dislike, /rate and /similar each get their own
MAX_LENGTH = 22  # characters: an example is typed, not pasted
LOOKED_AT = 300  # most popular titles considered
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 ']*")
FALLBACK = "a title"  # an empty catalogue still gets a readable /help


def example_titles(recommender: Recommender, index: TitleIndex, count: int = COUNT) -> list[str]:
    """Up to ``count`` titles, most popular first, each found by typing it as shown;
    padded with the catalogue's other titles (repeating) when it has too few such."""
    found: list[str] = []
    seen_words: set[str] = set()
    for pick in recommender.recommend([], n=LOOKED_AT):
        title = pick.title
        first = (title_key(title).split() or [""])[0]
        if len(title) > MAX_LENGTH or not _PLAIN.fullmatch(title) or first in seen_words:
            continue  # one "Star ..." is enough: variety reads better
        match = index.search(title)
        if match.status == "found" and match.best is not None \
                and match.best.item_id == pick.item_id:
            found.append(title)
            seen_words.add(first)
        if len(found) == count:
            return found
    spare = found or list(dict.fromkeys(recommender.titles))[:count] or [FALLBACK]
    return [spare[i % len(spare)] for i in range(count)]
