"""What a button carries: small typed values, encoded and decoded only here.

A button's payload travels through the chat platform and comes back when it is
pressed (Telegram's ``callback_data``, at most 64 bytes; Discord's ``custom_id``).
:func:`encode` writes a payload as ``tag:field:field``; :func:`decode` reads it back
or returns ``None`` for anything we did not write (an expired or forged button).

The tags are the ones buttons have carried since the first release, so buttons on
messages sent before an upgrade keep working. Stars travel as half stars (4.5 -> 9).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

MAX_BYTES = 64  # Telegram's callback_data limit; Discord allows 100
MAX_ID = 2**63 - 1  # SQLite's largest integer; ids are never larger


@dataclass(frozen=True)
class OnItem:
    """A button about one title: ``item`` is its id."""

    item: int


class Like(OnItem):
    """❤ or 👍: the user loves it."""


class Dislike(OnItem):
    """The user doesn't like it."""


class NotInterested(OnItem):
    """👎 under a pick: never suggest it again."""


class Watch(OnItem):
    """➕: onto the watchlist."""


class RemoveFromWatchlist(OnItem):
    """✖ on a watchlist page: remove, then show the page again."""


class Seen(OnItem):
    """✔: already seen."""


@dataclass(frozen=True)
class Chosen:
    """A title chosen among several matches, for the command that asked (``action``)."""

    action: str
    item: int
    stars: float | None = None  # only for "rate"


@dataclass(frozen=True)
class Page:
    """◀ ▶ on a paged list: which page to show."""

    page: int


class LikesPage(Page):
    """A page of /likes."""


class WatchlistPage(Page):
    """A page of /watchlist."""


@dataclass(frozen=True)
class MorePicks:
    pass


@dataclass(frozen=True)
class FreshPicks:
    pass


@dataclass(frozen=True)
class Forget:
    confirmed: bool


@dataclass(frozen=True)
class ImportMisses:
    """Under an import's report: every title it could not match."""


Payload = (Like | Dislike | NotInterested | Watch | RemoveFromWatchlist | Seen | Chosen
           | LikesPage | WatchlistPage | MorePicks | FreshPicks | Forget | ImportMisses)

TAGS: dict[type, str] = {
    Like: "like", Dislike: "dislike", NotInterested: "no", Watch: "watch",
    RemoveFromWatchlist: "unwatch", Seen: "seen", Chosen: "pick", LikesPage: "likes",
    WatchlistPage: "wl", MorePicks: "more", FreshPicks: "recommend", Forget: "forget",
    ImportMisses: "misses",
}
KINDS = {tag: kind for kind, tag in TAGS.items()}
# The commands a chosen title can be for.
ACTIONS = frozenset({"like", "dislike", "unlike", "rate", "watch", "unwatch", "similar",
                     "why", "show"})


def encode(payload: Payload) -> str:
    """``payload`` as button data: ``tag`` and its fields, ``:``-separated."""
    parts = [TAGS[type(payload)]]
    for f in fields(payload):
        value = getattr(payload, f.name)
        if f.name == "stars":
            value = None if value is None else round(value * 2)
        if value is not None:
            parts.append(str(int(value) if isinstance(value, bool) else value))
    return ":".join(parts)


def decode(data: str) -> Payload | None:
    """The payload ``data`` encodes, or None if it is not one we wrote."""
    tag, *parts = (data or "").split(":")
    kind = KINDS.get(tag)
    if kind is None:
        return None
    try:
        return _build(kind, parts)
    except ValueError:
        return None


def _build(kind: type, parts: list[str]) -> Payload:
    if kind is Chosen:
        return _chosen(parts)
    names = [f.name for f in fields(kind)]
    if len(parts) != len(names):
        raise ValueError(parts)
    if kind is Forget:
        return Forget(_number(parts[0], 1) == 1)
    return kind(*(_number(p) for p in parts))


def _chosen(parts: list[str]) -> Chosen:
    if len(parts) not in (2, 3) or parts[0] not in ACTIONS:
        raise ValueError(parts)
    stars = None
    if len(parts) == 3:
        half = _number(parts[2], 10)
        if half < 1:
            raise ValueError(parts)
        stars = half / 2
    if (parts[0] == "rate") != (stars is not None):
        raise ValueError(parts)
    return Chosen(parts[0], _number(parts[1]), stars)


def _number(text: str, largest: int = MAX_ID) -> int:
    """A whole number 0..largest written in plain digits, else ValueError."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > largest:
        raise ValueError(text)
    return int(text)
