"""Titles as MovieLens writes them, turned into what people read and type.

MovieLens writes "Matrix, The (1999)" and "Shanghai Triad (Yao a yao yao dao waipo
qiao) (1995)"; people read "The Matrix" and type "the matrix 1999". This module is
the one place that knows both forms: :func:`parse_movielens_title` for display, and
:func:`title_key` for matching (ingest joins on it; the bot's search does too).

Keys are plain ASCII in every script: letters outside Latin are transliterated with
``anyascii`` ("Брат" -> "brat", "기생충" -> "gisaengchung", Chinese characters one
syllable each: "卧虎藏龙" -> "wo hu cang long", as IMDb writes Chinese titles), so a
title is found both by its own script and by its Latin spelling.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

from anyascii import anyascii

# Articles MovieLens moves to the end ("Matrix, The"), in the languages it uses.
ARTICLES = (
    "The", "A", "An", "Les", "La", "Le", "L'", "Il", "I", "Gli", "Lo", "Los", "Las", "El",
    "Das", "Der", "Die", "Den", "Det", "De", "Het", "Een", "Ein", "Eine", "Un", "Une", "Uno",
    "Una", "Des", "O", "Os", "As", "En", "Et", "Ta", "To",
)
_TRAILING_ARTICLE = re.compile(r"^(?P<rest>.+?),\s+(?P<art>" + "|".join(
    re.escape(a) for a in ARTICLES) + r")$")
_TRAILING_YEAR = re.compile(r"\s*\((?P<year>\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$")
_LEADING_ARTICLE_KEY = re.compile(r"^(?:(?:the|a|an)\s+)+")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_AKA = re.compile(r"^(?:a\.k\.a\.|aka)\s+", re.IGNORECASE)

# Canonical genre names: the 100K and newer releases spell one genre differently.
GENRE_ALIASES = {"Children's": "Children", "Childrens": "Children"}
NO_GENRES = {"(no genres listed)", "unknown", "Unknown", ""}


class ParsedTitle(NamedTuple):
    title: str
    year: int | None
    alt_titles: list[str]


def move_article(title: str) -> str:
    """'Matrix, The' -> 'The Matrix'; "Avventura, L'" -> "L'Avventura"."""
    match = _TRAILING_ARTICLE.match(title.strip())
    if not match:
        return title.strip()
    article, rest = match.group("art"), match.group("rest")
    return f"{article}{rest}" if article.endswith("'") else f"{article} {rest}"


def _split_trailing_group(text: str) -> tuple[str, str] | None:
    """Split 'Name (Alt)' into ('Name', 'Alt') when the group closes the string."""
    if not text.endswith(")"):
        return None
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                head = text[:i].rstrip()
                return (head, text[i + 1:-1].strip()) if head else None
    return None


def parse_movielens_title(raw: str, year: int | None = None) -> ParsedTitle:
    """Display title, year and alternative titles from a MovieLens title.

    ``year`` is used when the title carries none (the RecBole copy keeps it apart).
    """
    text = " ".join((raw or "").split())
    match = _TRAILING_YEAR.search(text)
    if match and match.start() > 0:
        year = int(match.group("year"))
        text = text[: match.start()]
    alternatives: list[str] = []
    while (split := _split_trailing_group(text)) is not None:
        text, alt = split
        alt = _AKA.sub("", alt).strip()
        if alt:
            alternatives.insert(0, move_article(alt))
    title = move_article(text) or (raw or "").strip()
    return ParsedTitle(title, year, [a for a in alternatives if a != title])


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Chinese characters (also Japanese kanji): one syllable each, written without spaces,
# so each becomes a word of its own; kana and Hangul runs stay joined ("doraemon").
_HAN_BLOCKS = ((0x2E80, 0x2FDF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
               (0x20000, 0x3FFFF))


@functools.lru_cache(maxsize=1 << 16)
def _fold_char(char: str) -> str:
    """One non-ASCII character as ASCII: accents dropped, other scripts transliterated."""
    plain = strip_accents(char)
    if plain.isascii():  # what Latin titles always got: the join keys stay the same
        return plain
    if unicodedata.category(char)[0] not in "LMN":
        return " "  # emoji, symbols, controls and format marks separate words
    latin = anyascii(char)
    code = ord(char)
    if any(low <= code <= high for low, high in _HAN_BLOCKS):
        return f" {latin} "
    return latin


def to_ascii(text: str) -> str:
    """``text`` in ASCII: 'Amélie' -> 'Amelie', 'Брат' -> 'Brat', '😀' -> ' '."""
    if text.isascii():
        return text
    return "".join(c if c.isascii() else _fold_char(c) for c in text)


def title_key(title: str) -> str:
    """Matching key: no case, accents, punctuation or leading English article; ASCII.

    'The Matrix', 'Matrix, The' and 'MATRIX' share a key; 'Amélie' matches 'Amelie';
    'Брат' matches 'Brat'.
    """
    text = to_ascii(move_article(title or "")).lower().replace("&", " and ")
    text = _NON_WORD.sub(" ", text).strip()
    return _LEADING_ARTICLE_KEY.sub("", text)


def merge_alt_titles(title: str | None, alt_titles: list[str] | None,
                     *names: str | None) -> list[str]:
    """``alt_titles`` plus those of ``names`` that match differently from all before.

    Names with the key of the title or of an earlier name are left out ("Les
    misérables" adds nothing to "Les Misérables"), so are names with an empty key.
    """
    out = [a for a in alt_titles or () if a]
    keys = {title_key(t) for t in [title or "", *out]}
    for name in names:
        key = title_key(name or "")
        if key and key not in keys:
            keys.add(key)
            out.append(name.strip())
    return out


def canonical_genres(genres: list[str]) -> list[str]:
    """Drop 'unknown' / '(no genres listed)', unify spellings, keep order, no repeats."""
    out: list[str] = []
    for genre in genres:
        genre = GENRE_ALIASES.get(genre.strip(), genre.strip())
        if genre not in NO_GENRES and genre not in out:
            out.append(genre)
    return out
