"""What the core answers: structured replies, and the one way to render them as text.

A :class:`Reply` is an intro, a list of cards (one per title), an outro and rows of
buttons. The console and Telegram show :attr:`Reply.text`; Discord (and the web)
render the parts themselves and never read the text back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.payloads import Payload, encode


class Titled(Protocol):
    title: str
    year: int | None
    kind: str


def imdb_url(imdb_id: str | None) -> str | None:
    """The IMDb page of a title id ("tt0133093"), None without one."""
    return f"https://www.imdb.com/title/{imdb_id}/" if imdb_id else None


def describe(item: Titled) -> str:
    """A title as people read it: "Fargo (1996)", "Breaking Bad (2008) [TV]"."""
    when = f" ({item.year})" if item.year else ""
    return f"{item.title}{when}" + (" [TV]" if item.kind == "tv" else "")


@dataclass(frozen=True)
class Button:
    label: str
    payload: Payload

    @property
    def data(self) -> str:
        """The payload as the platform carries it."""
        return encode(self.payload)


@dataclass(frozen=True)
class Card:
    """One title of a list."""

    heading: str  # "1. Fargo (1996) · Crime, Thriller"
    detail: str = ""  # "because you liked Star Wars"
    item_id: int | None = None
    link: str | None = None  # the title's IMDb page, where known


@dataclass(frozen=True)
class File:
    """A file sent with a reply (/export): its name, its bytes and their type."""

    name: str
    data: bytes = field(repr=False)
    mime: str = "text/csv"


@dataclass
class Reply:
    intro: str = ""
    cards: list[Card] = field(default_factory=list)
    outro: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    edit: bool = False  # replace the message whose button was pressed (paging)
    notice: str | None = None  # a short toast for a button press
    files: list[File] = field(default_factory=list)  # sent after the text

    @property
    def text(self) -> str:
        """The whole reply as plain text: intro, up to three lines per card, outro."""
        return self.plain()

    def plain(self, link: Callable[[str], str] = str) -> str:
        """:attr:`text`, with each card's link written as ``link(url)`` (a platform that
        previews bare URLs wraps them)."""
        lines = [self.intro] if self.intro else []
        for card in self.cards:
            lines.append(card.heading)
            if card.detail:
                lines.append(f"   {card.detail}")
            if card.link:
                lines.append(f"   IMDb: {link(card.link)}")
        if self.outro:
            lines.append(self.outro)
        return "\n".join(lines)


def split_message(text: str, limit: int, unsafe: str = "") -> list[str]:
    """``text`` (already escaped for the platform) cut at line breaks so each part fits
    ``limit`` characters. A line longer than that is cut hard, but never just after a
    character of ``unsafe`` (an escape's start) within its last 8 characters."""
    parts, current = [], ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = max((line.rfind(c, limit - 8, limit) for c in unsafe), default=-1)
            cut = cut if cut > 0 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    parts.append(current)
    return [p for p in parts if p.strip()] or ["…"]


def joined(names: Sequence[str]) -> str:
    """"Ann", "Ann and Bob", "Ann, Bob and Cy"."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
