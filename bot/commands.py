"""The command registry: every command declared once, with typed parameters.

A declaration names the command, says in one line what it does, shows an example and
lists its parameters. An example's titles are slots (``{0}``, ``{1}``...) that
:meth:`Registry.with_examples` fills with titles of the catalogue being served, so
every example shown resolves. ``/help``, Telegram's command menu, Discord's slash commands
(with their typed options) and the console are all generated from the registry; the
core dispatches through it. Parameters are parsed once: typed text goes through
:meth:`Command.parse`, and platforms with typed options (Discord) hand their values to
:meth:`Command.accept`, which checks them with the same rules.

Declaring a command (see ``bot/core.py``)::

    @command("like", "a title you love", example="/like {0}", params=(TITLE,))
    def like(self, ask: Ask) -> list[Reply]: ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

MAX_COUNT = 20  # picks one /recommend page may show
_SLOTS = 10  # title slots an example may use: {0} .. {9}


class BadArguments(ValueError):
    """What was typed after a command does not fit it; the message is the reply."""


@dataclass(frozen=True)
class Param:
    """One typed parameter. ``kind`` is one of :data:`KINDS`; the value lands in
    :class:`Args` at :attr:`arg`."""

    kind: str
    help: str
    required: bool = False
    choices: tuple[str, ...] = ()  # for kind "choice": the allowed words, default first
    name: str = ""  # the option's name where platforms show one; default: the kind

    @property
    def option(self) -> str:
        return self.name or self.kind

    @property
    def arg(self) -> str:
        """Where the value lands in :class:`Args` (genres are a tuple: several may be given)."""
        return "genres" if self.kind == "genre" else self.kind

    @property
    def usage(self) -> str:
        words = {"title": "<title>", "stars": "<1-5>", "count": "n", "kind": "movie|tv",
                 "genre": "genre", "years": "years", "choice": "|".join(self.choices[1:]),
                 "text": "<text>", "file": "<file>"}[self.kind]
        return words if self.required else f"[{words}]"


KINDS = ("title", "stars", "count", "kind", "genre", "years", "choice", "text", "file")

TITLE = Param("title", "a movie or show; add the year to tell remakes apart", required=True)
STARS = Param("stars", "1 to 5, half stars allowed", required=True)
COUNT = Param("count", f"how many picks (1-{MAX_COUNT})")
KIND = Param("kind", "movies or TV shows")
GENRE = Param("genre", "e.g. Comedy")
YEARS = Param("years", "e.g. 1990-1999, 2010 or 1980s")
# A file the platform attaches (Discord's attachment option); adapters hand its bytes to
# Conversation.handle_upload, so the command itself only ever sees what was typed.
FILE = Param("file", "your IMDb ratings CSV or Letterboxd export zip")


@dataclass(frozen=True)
class Args:
    """A command's parsed parameters; what was not given is None (or empty)."""

    title: str | None = None
    stars: float | None = None
    count: int | None = None
    kind: str | None = None  # "movie" or "tv"
    genres: tuple[str, ...] = ()
    years: tuple[int, int] | None = None
    choice: str | None = None
    text: str | None = None
    min_rating: float | None = None  # lowest IMDb rating; only the web's filters set it


@dataclass(frozen=True)
class Command:
    name: str
    help: str  # one line: the /help entry and the platforms' menus
    example: str
    params: tuple[Param, ...] = ()
    personal: bool = False  # only the asker should see the reply where a platform can hide it
    admin: bool = False
    handler: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    @property
    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(p.usage for p in self.params)])

    @property
    def help_line(self) -> str:
        example = f", e.g. {self.example}" if self.example != f"/{self.name}" else ""
        admin = " (admins only)" if self.admin else ""
        return f"{self.usage}: {self.help}{example}{admin}"

    def param(self, kind: str) -> Param | None:
        return next((p for p in self.params if p.kind == kind), None)

    def parse(self, text: str, genres: Sequence[str] = ()) -> Args:
        """Typed text after the command, as :class:`Args`; BadArguments says what is wrong."""
        text = " ".join(text.split())
        kinds = {p.kind for p in self.params}
        if "stars" in kinds:
            return self._check(_title_and_stars(text, self.example))
        if kinds & {"title", "text", "file"}:
            return self._check(Args(title=text or None) if "title" in kinds
                               else Args(text=text or None))
        if "choice" in kinds:
            return self._check(Args(choice=text.lower() or None))
        if kinds:
            return _filters(text, genres, kinds)
        return Args()  # words after a command without parameters are ignored

    def accept(self, values: Mapping[str, Any], genres: Sequence[str] = ()) -> Args:
        """Typed values from a platform's options (option name -> value), checked like text."""
        args = Args()
        for p in self.params:
            value, name = values.get(p.option), p.kind
            if value is None or name == "file":  # a file goes to handle_upload, not here
                continue
            if name == "genre":
                args = replace(args, genres=(_genre(str(value), genres),))
            elif name == "years":
                args = replace(args, years=_years(str(value)))
            elif name == "stars":
                args = replace(args, stars=_stars(float(value), self.example))
            elif name == "count":
                args = replace(args, count=max(1, min(int(value), MAX_COUNT)))
            else:
                args = replace(args, **{name: str(value).strip() or None})
        return self._check(args)

    def _check(self, args: Args) -> Args:
        for p in self.params:
            if p.required and not getattr(args, p.arg):
                raise BadArguments(f"Which title? For example: {self.example}"
                                   if p.kind == "title" else f"For example: {self.example}")
        choice = self.param("choice")
        if choice is not None:
            value = args.choice or choice.choices[0]
            if value not in choice.choices:
                raise BadArguments("Try " + ", ".join(
                    f"/{self.name} {c}" for c in choice.choices[1:]) + f", or /{self.name}.")
            args = replace(args, choice=value)
        return args


class Registry:
    """Commands by name, in the order declared (the order of /help and the menus)."""

    def __init__(self, commands: Sequence[Command] = ()) -> None:
        self._commands = {c.name: c for c in commands}

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())

    def __contains__(self, name: object) -> bool:
        return name in self._commands

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def add(self, command: Command) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", command.name):
            raise ValueError(f"{command.name!r}: commands are 1-32 lowercase letters, digits, _")
        self._commands[command.name] = command

    def copy(self) -> Registry:
        return Registry(list(self))

    def help(self, admin: bool) -> str:
        lines = ["Here is what I understand:"]
        lines += [c.help_line for c in self if admin or not c.admin]
        lines.append("You can also just type a title to look it up.")
        return "\n".join(lines)

    def with_examples(self, titles: Sequence[str]) -> Registry:
        """The commands with their examples' title slots (``{0}``, ``{1}``...) filled from
        ``titles`` (cycled), which come from the catalogue being served."""
        if not titles:
            return self.copy()
        cycled = [titles[i % len(titles)] for i in range(max(_SLOTS, len(titles)))]
        return Registry([replace(c, example=c.example.format(*cycled)) for c in self])

    def menu(self) -> list[tuple[str, str]]:
        """(name, description) of the commands everyone may use, for platform menus."""
        return [(c.name, c.help) for c in self if not c.admin]


def command(name: str, help: str, *, example: str | None = None,
            params: tuple[Param, ...] = (), personal: bool = False,
            admin: bool = False) -> Callable[[Callable], Callable]:
    """Declare a handler method as a command; collected by :func:`collect`."""

    def declare(handler: Callable) -> Callable:
        handler.__command__ = Command(name, help, example or f"/{name}", params, personal,
                                      admin)
        return handler
    return declare


def collect(owner: type) -> Registry:
    """The commands declared on ``owner``'s methods and its bases', in definition order
    (a subclass's method of the same name replaces its base's)."""
    registry = Registry()
    for cls in reversed(owner.__mro__):
        for attribute in vars(cls).values():
            declared = getattr(attribute, "__command__", None)
            if declared is not None:
                registry.add(replace(declared, handler=attribute))
    return registry


# ----- parsing typed words ----------------------------------------------------------

_RATE = re.compile(r"(?P<title>.+?)\s+(?P<stars>\d+(?:[.,]\d+)?)(?:\s*/\s*5)?")
_YEAR_RANGE = re.compile(r"(\d{4})\s*[-–]\s*(\d{4})")


def _title_and_stars(text: str, example: str) -> Args:
    match = _RATE.fullmatch(text)
    if not match:
        raise BadArguments(f"Tell me a title and 1 to 5 stars, e.g. {example}")
    return Args(title=match.group("title"),
                stars=_stars(float(match.group("stars").replace(",", ".")), example))


def _stars(stars: float, example: str) -> float:
    """``example``: the command's own, filled with a title of the served catalogue."""
    if not (0.5 <= stars <= 5 and (stars * 2).is_integer()):
        raise BadArguments(f"Ratings go from 1 to 5 (half stars are fine), e.g. {example}")
    return stars


KIND_WORDS = {"movie": "movie", "movies": "movie", "film": "movie", "films": "movie",
              "tv": "tv", "show": "tv", "shows": "tv", "series": "tv"}


def _filters(text: str, genres: Sequence[str], kinds: set[str]) -> Args:
    """Words of /recommend in any order: a count, a kind, genres and years."""
    args = Args()
    # "1990 - 1999" is one range, however it is spaced.
    for token in _YEAR_RANGE.sub(r"\1-\2", text.lower()).split():
        args = _filter_word(token, args, genres, kinds)
    return args


def _filter_word(token: str, args: Args, genres: Sequence[str], kinds: set[str]) -> Args:
    if "count" in kinds and token.isascii() and token.isdigit() and len(token) <= 2:
        return replace(args, count=max(1, min(int(token), MAX_COUNT)))
    if "kind" in kinds and token in KIND_WORDS:
        return replace(args, kind=KIND_WORDS[token])
    if "years" in kinds and _YEAR_WORD.fullmatch(token):
        return replace(args, years=_years(token))
    if "genre" in kinds:
        try:
            return replace(args, genres=(*args.genres, _genre(token, genres)))
        except BadArguments:
            pass
    known = ", ".join(genres)
    raise BadArguments(f"I don't understand \"{token[:30]}\". Use a number, movie or tv, "
                       f"a genre ({known}) or years like 1990-1999.")


_YEAR_WORD = re.compile(r"\d{4}\s*[-–]\s*\d{4}|\d{3}0s|\d{4}")


def _years(text: str) -> tuple[int, int]:
    """"1990-1999", "1990 - 1999", "1990s" or "2010" as (first, last) year."""
    text = text.strip().lower()
    if span := _YEAR_RANGE.fullmatch(text):
        lo, hi = sorted((int(span.group(1)), int(span.group(2))))
        return lo, hi
    if decade := re.fullmatch(r"(\d{3})0s", text):
        return int(decade.group(1)) * 10, int(decade.group(1)) * 10 + 9
    if re.fullmatch(r"\d{4}", text):
        return int(text), int(text)
    raise BadArguments(f"I don't understand the years \"{text[:30]}\". Try 1990-1999, "
                       "2010 or 1980s.")


def _genre(text: str, genres: Sequence[str]) -> str:
    wanted = text.strip().lower().replace("-", "")
    for name in genres:
        if name.lower().replace("-", "") == wanted:
            return name
    raise BadArguments(f"I don't know the genre \"{text[:30]}\". Try one of "
                       f"{', '.join(genres)}.")
