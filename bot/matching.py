"""Title search: what someone typed in a chat, resolved to catalogue items.

People type "godfahter", "Matrix, The", "amelie", "dune 2021" or "the office tv";
:class:`TitleIndex` turns that into a :class:`Match`:

* ``"found"``: one clear winner (``best``; ``candidates == [best]``);
* ``"ambiguous"``: several close titles, best first (remakes, a film and a series with
  the same name, a franchise: "godfather" could be Part II);
* ``"none"``: nothing close enough; ``candidates`` holds the nearest titles as
  suggestions ("did you mean?"), possibly none.

The rules, in the order they apply:

1. Normalisation is :func:`recommender.titles.title_key` (case, accents, punctuation,
   "&", leading or trailing article; other scripts spelled in Latin letters, so "Брат",
   "brat" and "BRAT" are one key, and "기생충" is IMDb's "Gisaengchung"), applied once
   per title and alternative title at load and once per query. Queries are cut to
   ``MAX_QUERY`` characters first. Alternative titles are MovieLens' parenthesised ones
   and IMDb's primary and original titles ("Le fabuleux destin d'Amélie Poulain").
2. A year (a 4-digit number 1870..2100, bare or in brackets, the last one wins) and a
   kind word at either end ("tv", "series", "show" -> tv; "movie", "film" -> movie;
   the one at the end wins) are filters, unless they are part of a title typed in
   full ("Blade Runner 2049", "The Truman Show") or nothing would be left without them
   ("1917", "Show").
   A filter keeps the matches that satisfy it (years: the exact year, else one year
   off, since sources disagree by a year); when no match satisfies it, it is dropped
   and the whole query is scored as written as well ("trueman show").
3. Exact key hits win over fuzzy ones. Several items with the key -> ambiguous
   ("dune"; "the office"). One item -> found, unless the query left out the title's
   article and longer titles extend the key word by word ("godfather" is also "The
   Godfather: Part II" and "Part III") -> ambiguous with the exact hit first. Typing the
   title in full ("The Godfather", "Matrix, The") is found even when sequels exist.
4. Otherwise titles are scored 0..100 with rapidfuzz: the best of the plain ratio,
   0.95 x the word-order-insensitive ratio and, when one side is at least 1.5 times
   longer than the other, a partial match aligned on word boundaries: 0.9 x (0.6 when
   8 times longer) for a query found inside a title ("shawshank"), 0.75 x for a title
   found inside a query ("the matrix revolutions" only suggests The Matrix). Partial
   matches need 4 characters and a word that is not a stopword ("it" is not in
   "Kite Runner"; "the" is in nothing). A number (digits, or roman II..IX) the query
   has and the title lacks costs ``NUMBER_PENALTY`` ("terminator 2" is Terminator 2,
   not The Terminator). The titles close to the best (within ``CLOSE_MARGIN`` points
   and at least ``MATCH_MIN``), plus the titles extending the best one word by word,
   are the choices: one scoring at least ``FOUND_MIN`` -> found; several ->
   ambiguous; otherwise none, with the titles scoring at least ``SUGGEST_MIN`` as
   suggestions. A typo therefore behaves like its correction: "godfahter" is
   ambiguous with The Godfather first, like "godfather"; "amelei" finds Amélie.
5. Ties are broken by popularity (higher first), then item id (lower first).

Speed: fuzzy scoring only sees ``PREFILTER`` titles, the ones sharing the most
character trigrams with the query (popularity breaks ties), found through an inverted
index (postings per trigram, counted with ``numpy.bincount``; titles are numbered most
popular first, so ties need no sort), plus exact key hits and, for short queries whose
typos may share no trigram ("dnue"), the short titles of a similar length that match
it (``fuzz.ratio`` >= ``SHORT_MIN``; titles whose letters alone rule that out are
skipped). ``python -m bench.titles`` measures it over the served catalogue's shape:
87,000 films, 20,000 series, 34,000 alternative titles.
"""

from __future__ import annotations

import bisect
import heapq
import math
import re
import sys
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from recommender.titles import move_article, strip_accents, title_key

MAX_QUERY = 200  # characters looked at; no title is longer
MAX_KEY = 200  # normalised query characters scored (NFKD can lengthen text)
PREFILTER = 200  # titles scored per query
SHORT_QUERY = 8  # keys this short may share no trigram with their typos ("dnue")
MAX_EXTENSIONS = 500  # longer titles read when looking for sequels of a title
FOUND_MIN = 80.0  # a lone winner scoring less is only a suggestion
MATCH_MIN = 72.0  # below this a title is not a match, at most a suggestion
CLOSE_MARGIN = 5.0  # titles this close to the best one make the query ambiguous
SUGGEST_MIN = 60.0  # nearest titles offered when nothing matches
SHORT_MIN = MATCH_MIN  # short titles this close to a short query are scored (typos)
REVERSE_PARTIAL = 0.75  # a title found inside a longer query ("the matrix revolutions")
PARTIAL_MIN = 4  # shorter strings only match whole titles ("it" is not in "kite")
# Queries made of these words alone are not looked for inside longer titles.
STOPWORDS = frozenset({"the", "a", "an", "of", "and", "or", "in", "on", "at", "to", "for",
                       "with", "by", "from", "de", "la", "le", "el"})
# A number the query has and a title lacks costs this much: sequels are numbered.
NUMBER_PENALTY = 15.0
ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9"}
YEAR_MIN, YEAR_MAX = 1870, 2100

KIND_WORDS = {
    "tv": "tv", "series": "tv", "show": "tv", "shows": "tv", "miniseries": "tv",
    "sitcom": "tv", "movie": "movie", "movies": "movie", "film": "movie", "films": "movie",
}
LEADING_ARTICLES = ("the", "a", "an")  # the ones title_key drops at the start

_YEAR = re.compile(r"(?<![0-9])\(?\s*([0-9]{4})\s*\)?(?![0-9])")
_WORDS = re.compile(r"[0-9a-z]+")
# Keys only hold [0-9a-z ] (title_key guarantees it): 37 symbols, trigram = 3 digits.
_ALPHABET = " 0123456789abcdefghijklmnopqrstuvwxyz"
_CODE = np.zeros(256, dtype=np.int32)
for _i, _c in enumerate(_ALPHABET):
    _CODE[ord(_c)] = _i
_GRAMS = len(_ALPHABET) ** 3


@dataclass(frozen=True)
class Candidate:
    item_id: int
    title: str
    year: int | None
    kind: str  # "movie" | "tv"
    score: float  # 0..100 match quality
    popularity: float


@dataclass(frozen=True)
class Match:
    status: str  # "found", "ambiguous" or "none"
    best: Candidate | None  # the winner when status == "found"
    candidates: list[Candidate]  # up to `limit`: choices, or suggestions when "none"


@dataclass(frozen=True)
class _Query:
    core: str  # key without year and kind words
    full: str  # key of the whole query
    year: int | None
    kind: str | None
    articles: tuple[str, ...]  # leading articles as typed ("the",) or ()


def _articles(text: str) -> tuple[str, ...]:
    """Leading English articles of a title as written: 'Matrix, The' -> ('the',)."""
    words = _WORDS.findall(strip_accents(move_article(text)).lower())
    return _leading_articles(words)


def _leading_articles(words: Sequence[str]) -> tuple[str, ...]:
    n = 0
    while n < len(words) - 1 and words[n] in LEADING_ARTICLES:
        n += 1
    return tuple(words[:n])


def _strip_kind_words(words: list[str]) -> tuple[list[str], str | None]:
    """Kind words at either end, removed while something is left: 'office tv' -> tv."""
    kind = None
    while len(words) > 1 and words[-1] in KIND_WORDS:
        kind = KIND_WORDS[words.pop()]
    while len(words) > 1 and words[0] in KIND_WORDS:
        leading = KIND_WORDS[words.pop(0)]
        kind = kind or leading  # the word at the end wins
    return words, kind


def _parse(text: str) -> _Query | None:
    full = title_key(text)[:MAX_KEY].strip()
    if not full:
        return None
    year, rest = None, text
    for found in reversed(list(_YEAR.finditer(text))):
        value = int(found.group(1))
        if YEAR_MIN <= value <= YEAR_MAX:
            without = text[: found.start()] + " " + text[found.end():]
            if title_key(without).strip():
                year, rest = value, without
            break
    words, kind = _strip_kind_words(title_key(rest)[:MAX_KEY].split())
    core = title_key(" ".join(words))
    typed, _ = _strip_kind_words(_WORDS.findall(strip_accents(move_article(rest)).lower()))
    return _Query(core or full, full, year, kind, _leading_articles(typed))


class TitleIndex:
    """Every catalogue title (and alternative title), ready to be searched."""

    def __init__(self, items: Iterable[dict]) -> None:
        ids, titles, years, kinds, popularity = [], [], [], [], []
        entry_keys: list[str] = []
        entry_articles: list = []
        entry_rows = array("i")  # 4 bytes an entry, not a Python int
        seen: set[int] = set()
        for item in items:
            item_id = int(item["item_id"])
            if item_id in seen:
                continue
            seen.add(item_id)
            row = len(ids)
            title = str(item.get("title") or item_id)
            ids.append(item_id)
            titles.append(title)
            year = item.get("year")
            years.append(None if year is None or (isinstance(year, float) and math.isnan(year))
                         else int(year))
            kinds.append(sys.intern(str(item.get("kind") or "movie")))  # a few kinds, shared
            pop = item.get("popularity")
            popularity.append(0.0 if pop is None or pop != pop else float(pop))
            keys: set[str] = set()
            for name in [title, *(item.get("alt_titles") or ())]:
                key = title_key(str(name))
                if key and key not in keys:
                    keys.add(key)
                    entry_keys.append(key)
                    entry_rows.append(row)
                    entry_articles.append(_articles(str(name)))
        self._ids = np.array(ids, dtype=np.int64)
        self._titles = titles
        self._years = years
        self._year_array = np.array([y if y is not None else -10_000 for y in years],
                                    dtype=np.int64)
        self._kinds = kinds
        self._kind_array = np.array(kinds, dtype=object)
        self._popularity = np.array(popularity, dtype=np.float64)
        # Plain lists for the per-row lookups of ranking: numpy scalars are slower there.
        self._popularity_list = self._popularity.tolist()
        self._id_list = [int(i) for i in ids]
        # id -> row by binary search: a dict of 87,000 ids cost the bot 10 MB.
        self._id_order = np.argsort(self._ids, kind="stable")
        self._sorted_ids = self._ids[self._id_order]
        # Entries are numbered most popular first, so that among entries sharing as many
        # trigrams with a query the prefilter keeps the lowest numbers: no sort per query.
        # (A numpy sort: a Python key tuple per entry cost ~25 MB while the bot starts.)
        rows_of = np.frombuffer(entry_rows, dtype=np.int32).copy()
        del entry_rows
        order = np.lexsort((np.arange(len(rows_of)), rows_of, -self._popularity[rows_of]))
        self._keys = [entry_keys[e] for e in order.tolist()]
        self._entry_row = rows_of[order]
        self._entry_articles = [entry_articles[e] for e in order.tolist()]
        del entry_keys, entry_articles, order, rows_of
        entry_keys = self._keys
        self._key_array = np.array(entry_keys, dtype=object)  # picked by number, no loop
        self._exact = _Exact(self._key_array)
        self._sorted_keys = self._exact.keys
        self._build_trigrams()
        # Short keys by length: a short query is compared with all of a similar length.
        by_length: dict[int, list[int]] = {}
        for e, key in enumerate(entry_keys):
            if len(key) <= SHORT_QUERY + 2:
                by_length.setdefault(len(key), []).append(e)
        self._short = {n: (self._key_array[es], np.array(es, dtype=np.int64),
                           np.array([_letters(entry_keys[e]) for e in es], dtype=np.uint64))
                       for n, es in by_length.items()}

    @classmethod
    def from_recommender(cls, rec) -> TitleIndex:
        """The catalogue of a :class:`recommender.serve.Recommender`, alt titles included."""
        # A generator: a list of 87,000 dicts would add ~50 MB to the bot's peak memory.
        items = ({"item_id": int(item_id), "title": title,
                  "year": None if math.isnan(year) else int(year), "kind": str(kind),
                  "popularity": float(pop), "alt_titles": alts}
                 for item_id, title, year, kind, pop, alts in zip(
                     rec.ids.tolist(), rec.titles, rec.years.tolist(), rec.kinds.tolist(),
                     rec.popularity.tolist(), rec.alt_titles, strict=True))
        return cls(items)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def entries(self) -> int:
        """Titles and distinct alternative titles indexed."""
        return len(self._keys)

    def get(self, item_id: int) -> Candidate | None:
        at = int(np.searchsorted(self._sorted_ids, int(item_id)))
        if at == len(self._sorted_ids) or self._sorted_ids[at] != int(item_id):
            return None
        return self._candidate(int(self._id_order[at]), 100.0)

    def exact(self, title: str) -> list[Candidate]:
        """The items one of whose titles has the same key as ``title`` (a dict lookup, no
        fuzzy scoring: imports try it before :meth:`search`), most popular first."""
        key = title_key(str(title)[:MAX_QUERY])[:MAX_KEY].strip()
        rows = dict.fromkeys(int(self._entry_row[e]) for e in self._exact.get(key, ()))
        return [self._candidate(r, 100.0) for r in rows]

    # ----- index ----------------------------------------------------------------------

    def _build_trigrams(self, chunk: int = 8192) -> None:
        """CSR postings: for each trigram code, the sorted entries whose key has it.

        Keys are coded ``chunk`` at a time: coding all of 140,000 keys at once took
        ~150 MB of temporary arrays, the bot's peak memory while it starts.
        """
        n = max(len(self._keys), 1)
        # A key has at most one trigram per character: fill one array, chunk by chunk.
        room = np.empty(sum(map(len, self._keys)), dtype=np.int64)
        filled = 0
        for first in range(0, len(self._keys), chunk):
            part = _key_pairs(self._keys[first:first + chunk], first, n)
            room[filled:filled + len(part)] = part
            filled += len(part)
        pairs = room[:filled]
        pairs.sort()  # by gram, then entry: chunks never share an entry, so no repeats
        grams = np.zeros(_GRAMS, dtype=np.int64)
        for first in range(0, len(pairs), 1 << 20):  # no second array of all the pairs
            grams += np.bincount(pairs[first:first + (1 << 20)] // n, minlength=_GRAMS)
        np.remainder(pairs, n, out=pairs)
        # 32-bit: half the memory; queries widen what they read (np.concatenate's dtype).
        self._postings = pairs.astype(np.int32)
        del pairs, room
        self._indptr = np.concatenate(([0], np.cumsum(grams)))

    def _prefilter(self, key: str) -> np.ndarray:
        """Entries worth scoring: exact hits and those sharing the most trigrams."""
        grams = _unique(_codes(f" {key} "))
        exact = self._exact.get(key, ())
        lists = [self._postings[self._indptr[g]:self._indptr[g + 1]] for g in grams.tolist()]
        lists = [p for p in lists if len(p)]
        hit = np.zeros(0, dtype=np.int64)
        if lists:
            # Widened to machine ints while copying: numpy.bincount would convert them.
            hit = _most_shared(np.concatenate(lists, dtype=np.intp), PREFILTER)
        if exact:
            hit = _unique(np.concatenate((hit, exact)))
        if len(key) <= SHORT_QUERY:
            hit = _unique(np.concatenate((hit, self._similar_short(key))))
        return hit.astype(np.int64)

    def _similar_short(self, key: str) -> np.ndarray:
        """Entries whose (short) key is within a couple of edits of a short query."""
        found = []
        letters = np.uint64(_letters(key))
        for n in range(max(1, len(key) - 2), len(key) + 3):
            if n in self._short:
                keys, entries, masks = self._short[n]
                # A letter one key has and the other lacks costs an insertion or a
                # deletion, so keys differing in more letters than a ratio of
                # SUGGEST_MIN allows cannot reach it: skip them before rapidfuzz.
                allowed = (len(key) + n) * (100 - int(SHORT_MIN)) // 100
                near = np.flatnonzero(np.bitwise_count(masks ^ letters) <= allowed)
                if not len(near):
                    continue
                score = process.cdist([key], keys[near].tolist(),
                                      scorer=fuzz.ratio, processor=None,
                                      score_cutoff=SHORT_MIN, dtype=np.uint8)[0]
                found.append(entries[near[np.flatnonzero(score)]])
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    # ----- scoring --------------------------------------------------------------------

    def _score(self, key: str, entries: np.ndarray) -> np.ndarray:
        """Match quality 0..100 of ``key`` against each entry's key."""
        if not len(entries):
            return np.zeros(0)
        keys = self._key_array[entries].tolist()
        score = process.cdist([key], keys, scorer=fuzz.ratio, processor=None,
                              dtype=np.float32)[0].astype(np.float64)
        sort = process.cdist([key], keys, scorer=fuzz.token_sort_ratio, processor=None,
                             dtype=np.float32)[0] * 0.95
        np.maximum(score, sort, out=score)
        lengths = np.array([len(k) for k in keys], dtype=np.float64)
        ratio = np.maximum(lengths, len(key)) / np.maximum(np.minimum(lengths, len(key)), 1)
        shorter = np.minimum(lengths, len(key))
        longer = np.flatnonzero((ratio >= 1.5) & (shorter >= PARTIAL_MIN))
        if set(key.split()) <= STOPWORDS:
            longer = longer[lengths[longer] < len(key)]
        if len(longer):
            # Spaces around both sides: a partial match must cover whole words.
            partial = process.cdist([f" {key} "], [f" {keys[i]} " for i in longer.tolist()],
                                    scorer=fuzz.partial_ratio, processor=None,
                                    dtype=np.float32)[0]
            scale = np.where(lengths[longer] < len(key), REVERSE_PARTIAL,
                             np.where(ratio[longer] >= 8, 0.6, 0.9))
            score[longer] = np.maximum(score[longer], partial * scale)
        numbers = _numbers(key)
        if numbers:  # "terminator 2" is not "The Terminator"; "part 3" is "part iii"
            score[[i for i, k in enumerate(keys) if not numbers <= _numbers(k)]] \
                -= NUMBER_PENALTY
        score[[i for i, k in enumerate(keys) if k == key]] = 100.0
        return np.round(np.maximum(score, 0.0), 2)

    def _per_row(self, entries: np.ndarray, scores: np.ndarray) -> dict[int, tuple[float, int]]:
        """Best (score, entry) of each item among its title and alternative titles."""
        if not len(entries):
            return {}
        rows = self._entry_row[entries]
        # Per row, the highest score; among equal scores the entry listed first.
        order = np.lexsort((np.arange(len(entries)), -scores, rows))
        first = np.ones(len(order), dtype=bool)
        first[1:] = rows[order[1:]] != rows[order[:-1]]
        pick = order[first]
        return dict(zip(rows[pick].tolist(),
                        zip(scores[pick].tolist(), entries[pick].tolist(), strict=True),
                        strict=True))

    def _filter(self, scored: dict[int, tuple[float, int]], query: _Query
                ) -> tuple[dict[int, tuple[float, int]], Callable[[int], bool], bool]:
        """Apply the kind and year filters.

        Returns the items kept, the test they passed (for items scored later) and
        whether a filter was dropped because no match satisfied it.
        """
        stages: list[list[Callable[[int], bool]]] = []
        if query.kind is not None:
            kind = query.kind
            stages.append([lambda r: self._kinds[r] == kind])
        if query.year is not None:
            year = query.year
            stages.append([lambda r: self._years[r] == year,  # else one year off
                           lambda r: self._years[r] is not None
                           and abs(self._years[r] - year) <= 1])
        passed: list[Callable[[int], bool]] = []
        dropped = False
        for alternatives in stages:
            for test in alternatives:
                kept = {r: v for r, v in scored.items() if test(r)}
                if any(s >= MATCH_MIN for s, _ in kept.values()):
                    scored = kept
                    passed.append(test)
                    break
            else:
                dropped = True
        return scored, (lambda r: all(t(r) for t in passed)), dropped

    def _extensions(self, key: str, core: str, keep: Callable[[int], bool]
                    ) -> dict[int, tuple[float, int]]:
        """Matching items whose title continues ``key`` word by word (sequels, parts)."""
        prefix = key + " "
        start = bisect.bisect_left(self._sorted_keys, prefix)
        entries: list[int] = []
        for k in self._sorted_keys[start:start + MAX_EXTENSIONS]:
            if not k.startswith(prefix):
                break
            entries.extend(self._exact[k])
        if not entries:
            return {}
        array = np.array(entries, dtype=np.int64)
        found = self._per_row(array, self._score(core, array))
        return {r: v for r, v in found.items() if v[0] >= MATCH_MIN and keep(r)}

    # ----- search ---------------------------------------------------------------------

    def search(self, query: str, limit: int = 5) -> Match:
        """Resolve what someone typed; never raises on text, however odd."""
        limit = max(1, int(limit))
        text = query if isinstance(query, str) else ("" if query is None else str(query))
        parsed = _parse(text[:MAX_QUERY])
        if parsed is None or not len(self._keys):
            return Match("none", None, [])
        if parsed.full != parsed.core and parsed.full in self._exact:
            # The whole query is a title: "Blade Runner 2049", "The Truman Show".
            words = _WORDS.findall(strip_accents(move_article(text[:MAX_QUERY])).lower())
            parsed = _Query(parsed.full, parsed.full, None, None, _leading_articles(words))
        core = parsed.core
        entries = self._prefilter(core)
        scores = self._score(core, entries)
        scored, keep, dropped = self._filter(self._per_row(entries, scores), parsed)
        if dropped and parsed.full != core:
            # A filter fitted nothing: maybe the year or kind word belongs to the title.
            whole = np.maximum(scores, self._score(parsed.full, entries))
            scored, keep, _ = self._filter(self._per_row(entries, whole), parsed)
        if not scored:
            return Match("none", None, [])

        rows = {int(self._entry_row[e]) for e in self._exact.get(core, ())}
        exact = {r: scored[r] for r in rows
                 if r in scored and self._keys[scored[r][1]] == core}
        if exact:
            return self._exact_match(exact, parsed, keep, limit)
        return self._closest_match(scored, core, keep, limit)

    def _exact_match(self, exact: dict[int, tuple[float, int]], parsed: _Query,
                     keep: Callable[[int], bool],
                     limit: int) -> Match:
        """Titles whose key is the query's: found, or ambiguous between them (and the
        titles extending them, unless the query spelled its leading article out)."""
        group = dict(exact)
        spelled_out = any(self._entry_articles[e] == parsed.articles for _, e in exact.values())
        if not spelled_out:
            group.update(self._extensions(parsed.core, parsed.core, keep))
        chosen = self._ranked(group, limit)
        if len(group) == 1:
            return Match("found", chosen[0], chosen)
        return Match("ambiguous", None, chosen)

    def _closest_match(self, scored: dict[int, tuple[float, int]], core: str,
                       keep: Callable[[int], bool],
                       limit: int) -> Match:
        """No exact key: the best fuzzy match, a few close ones, or suggestions."""
        # Rows below SUGGEST_MIN are neither choices nor suggestions: sort only the rest.
        ranked = sorted(((r, v) for r, v in scored.items() if v[0] >= SUGGEST_MIN),
                        key=lambda kv: self._order(kv[0], kv[1][0]))
        if not ranked:
            return Match("none", None, [])
        _, (top, best_entry) = ranked[0]
        if top >= MATCH_MIN:
            floor = max(MATCH_MIN, top - CLOSE_MARGIN)
            group = {r: v for r, v in ranked if v[0] >= floor}
            for r, v in self._extensions(self._keys[best_entry], core, keep).items():
                group.setdefault(r, v)
            chosen = self._ranked(group, limit)
            if len(group) > 1:
                return Match("ambiguous", None, chosen)
            if top >= FOUND_MIN:
                return Match("found", chosen[0], chosen)
        suggestions = [self._candidate(r, v[0]) for r, v in ranked[:limit]
                       if v[0] >= SUGGEST_MIN]
        return Match("none", None, suggestions)

    # ----- helpers --------------------------------------------------------------------

    def _order(self, row: int, score: float) -> tuple[float, float, int]:
        return (-score, -self._popularity_list[row], self._id_list[row])

    def _ranked(self, group: dict[int, tuple[float, int]], limit: int) -> list[Candidate]:
        """The best ``limit`` of ``group`` as candidates (a franchise may have hundreds)."""
        rows = heapq.nsmallest(limit, group, key=lambda r: self._order(r, group[r][0]))
        return [self._candidate(r, group[r][0]) for r in rows]

    def _candidate(self, row: int, score: float) -> Candidate:
        return Candidate(item_id=int(self._ids[row]), title=self._titles[row],
                         year=self._years[row], kind=self._kinds[row], score=float(score),
                         popularity=float(self._popularity[row]))


def _cut(counts: np.ndarray, postings: np.ndarray, limit: int) -> int:
    """The highest count that at least ``limit`` entries reach (1 if fewer entries).

    An entry found c times is counted c times by a histogram of its own counts over the
    postings, so this costs work in proportion to the postings, not to the catalogue.
    """
    hist = np.bincount(counts[postings])
    entries = hist // np.maximum(np.arange(len(hist)), 1)  # entries[c]: found c times
    above = np.cumsum(entries[::-1])[::-1]  # above[c]: entries found at least c times
    return int(np.flatnonzero(above >= limit)[-1]) if above[1] >= limit else 1


def _most_shared(postings: np.ndarray, limit: int) -> np.ndarray:
    """The ``limit`` entries found most often in ``postings``, the lowest numbers among ties.

    One pass over all entries picks them once :func:`_cut` is known (no partition of the
    tens of thousands of entries a query with "the" or "of" in it touches).
    """
    counts = np.bincount(postings)
    cut = _cut(counts, postings, limit)
    kept = np.flatnonzero(counts >= cut)
    if len(kept) <= limit:
        return kept
    shared = counts[kept]
    over = kept[shared > cut]
    return np.concatenate((over, kept[shared == cut][: limit - len(over)]))


def _numbers(key: str) -> set[str]:
    """Numbers among the words of a key, roman ones as digits: 'part iii' -> {'3'}."""
    return {ROMAN.get(w, w) for w in key.split() if w in ROMAN or w.isdigit()}


def _unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values. ``numpy.unique`` hashes first, several times slower here:
    2 s instead of 0.2 s for the index's 3 million trigram pairs, 30 µs for a query's."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _letters(key: str) -> int:
    """The set of symbols in a key, one bit each (37 of them fit in 64 bits)."""
    bits = 0
    for char in set(key):
        bits |= 1 << int(_CODE[ord(char)])
    return bits


class _Exact:
    """Key -> the entries with that key (numbered), over the sorted distinct keys.

    Sorted arrays and a binary search: as a dict of 200,000 tuples (ML-32M's titles and
    alternative titles) it cost the bot ~20 MB.
    """

    def __init__(self, entry_keys: np.ndarray) -> None:
        """``entry_keys``: an object array of each entry's key."""
        # Stable: a key's entries stay in entry order.
        order = np.argsort(entry_keys, kind="stable")
        in_order = entry_keys[order]
        first = np.flatnonzero(np.concatenate(([True], in_order[1:] != in_order[:-1]))) \
            if len(in_order) else np.zeros(0, dtype=np.int64)
        self.keys: list[str] = in_order[first].tolist()  # distinct, sorted
        self._starts = np.append(first, len(in_order))
        self._entries = order.astype(np.int32)

    def _at(self, key: str) -> int:
        at = bisect.bisect_left(self.keys, key)
        return at if at < len(self.keys) and self.keys[at] == key else -1

    def get(self, key: str, default: tuple[int, ...] = ()) -> tuple[int, ...]:
        at = self._at(key)
        if at < 0:
            return default
        return tuple(self._entries[self._starts[at]:self._starts[at + 1]].tolist())

    def __getitem__(self, key: str) -> tuple[int, ...]:
        found = self.get(key)
        if not found:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._at(key) >= 0


def _key_pairs(keys: list[str], first: int, entries: int) -> np.ndarray:
    """Distinct ``gram * entries + entry`` codes of the keys of entries ``first``.."""
    padded = [f" {key} " for key in keys]
    lengths = np.array([len(p) for p in padded], dtype=np.int64)
    codes = _codes("".join(padded))
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    entry = np.repeat(np.arange(len(padded), dtype=np.int64), lengths)[: len(codes)]
    position = np.arange(len(codes), dtype=np.int64) - starts[entry]
    valid = position <= lengths[entry] - 3  # a trigram inside one padded key
    return _unique(codes[valid].astype(np.int64) * entries + entry[valid] + first)


def _codes(text: str) -> np.ndarray:
    """Trigram codes of an ASCII [0-9a-z ] string, one per position (len - 2)."""
    if len(text) < 3:
        return np.zeros(0, dtype=np.int32)
    symbols = _CODE[np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)]
    return symbols[:-2] * 1369 + symbols[1:-1] * 37 + symbols[2:]
