"""Latency and hit rate of the bot's title search over a synthetic 100,000-title catalogue.

Titles are random combinations of a few thousand words (common English title words
and made-up names) in the shapes real titles take ("The X Y", "X of the Y", "X: Y Z",
sequels "X 2" / "X: Part II", one-word titles), with years, a share of TV series and
Zipf popularity, plus a few real ones ("The Godfather" and its sequels, two "Dune").
The queries are the ways people type titles: exact, lower case, one or two typos,
with a year, with "tv"/"movie", and partial (a word left out). One core, in-process.

Usage: ``python -m bench.titles [--titles 100000] [--queries 2000] [--seed 0]``.
Prints one JSON object; ``p99_ms`` must stay <= 10.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import string
import time

import numpy as np

from bot.matching import TitleIndex

_COMMON = """
love night day man woman girl boy city dark light dead life death world war star king
queen house home story blood fire water time last first secret lost little big black
white red blue green golden silver iron summer winter spring autumn road river sea
ocean mountain island hunter killer dream dreams heart ghost ghosts shadow shadows
island empire kingdom return revenge rise fall legend legends brother brothers sister
sisters father mother son daughter children family friends wild angel angels devil
saint sinner moon sun sky storm rain snow wind thunder crown sword gun guns money
street streets town village country lady lord prince princess knight dragon wolf
wolves tiger lion bird birds horse dog cat monster monsters machine machines robot
planet space time zero one two three hundred thousand million paradise heaven hell
escape chase run hunt game games play player party wedding funeral school college
holiday christmas midnight morning evening tomorrow yesterday forever never always
mystery murder crime justice truth lies liar thief spy agent doctor captain general
soldier soldiers army navy pirate pirates detective cowboy outlaw ranger sheriff
"""
COMMON_WORDS = _COMMON.split()

REAL = [
    ("The Godfather", 1972, "movie", 413.0, []),
    ("The Godfather: Part II", 1974, "movie", 209.0, []),
    ("The Godfather: Part III", 1990, "movie", 67.0, []),
    ("Dune", 1984, "movie", 150.0, []),
    ("Dune", 2021, "movie", 300.0, []),
    ("The Matrix", 1999, "movie", 350.0, []),
    ("The Office", 2005, "tv", 250.0, []),
    ("The Office", 2001, "tv", 120.0, []),
    ("Amélie", 2001, "movie", 200.0, []),
    ("Seven", 1995, "movie", 280.0, ["Se7en"]),
]


def _made_up_words(rng: random.Random, n: int) -> list[str]:
    onsets = ["b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l",
              "m", "n", "p", "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "z"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y"]
    codas = ["", "", "n", "r", "s", "l", "th", "nd", "x", "ck", "m"]
    words: set[str] = set()
    while len(words) < n:
        word = "".join(rng.choice(onsets) + rng.choice(vowels)
                       for _ in range(rng.choice((1, 2, 2, 3)))) + rng.choice(codas)
        words.add(word)
    return sorted(words)


def synthetic_items(n: int = 100_000, seed: int = 0, vocabulary: int = 3000) -> list[dict]:
    """``n`` catalogue items (metadata dicts as in items.jsonl), deterministic per seed."""
    rng = random.Random(seed)
    words = sorted(set(COMMON_WORDS)) + _made_up_words(rng, vocabulary - len(set(COMMON_WORDS)))

    def word() -> str:
        return rng.choice(words).capitalize()

    shapes = [
        (10, lambda: word()),
        (30, lambda: f"{word()} {word()}"),
        (15, lambda: f"The {word()} {word()}"),
        (10, lambda: f"{word()} of the {word()}"),
        (15, lambda: f"{word()} {word()} {word()}"),
        (5, lambda: f"{word()}: {word()} {word()}"),
        (5, lambda: f"{word()}'s {word()}"),
    ]
    weights = [w for w, _ in shapes]
    items: list[dict] = []
    for title, year, kind, popularity, alts in REAL:
        items.append({"item_id": len(items) + 1, "title": title, "year": year, "kind": kind,
                      "popularity": popularity, "alt_titles": alts})
    popularity = np.random.default_rng(seed).zipf(1.6, n).clip(max=5000)
    while len(items) < n:
        if items and rng.random() < 0.08:  # a sequel of an earlier title
            base = rng.choice(items)
            suffix = rng.choice([" 2", " 3", ": Part II", f": {word()}", " Returns"])
            title, year = base["title"] + suffix, (base["year"] or 2000) + rng.randint(1, 6)
        else:
            title = rng.choices(shapes, weights)[0][1]()
            year = rng.randint(1920, 2025)
        items.append({"item_id": len(items) + 1, "title": title, "year": year,
                      "kind": "tv" if rng.random() < 0.15 else "movie",
                      "popularity": float(popularity[len(items)]), "alt_titles": []})
    return items


def _typo(rng: random.Random, text: str, edits: int) -> str:
    chars = list(text)
    for _ in range(edits):
        letters = [i for i, c in enumerate(chars) if c.isalpha()]
        if not letters:
            break
        i = rng.choice(letters)
        op = rng.choice(("substitute", "delete", "insert", "transpose"))
        if op == "substitute":
            chars[i] = rng.choice(string.ascii_lowercase)
        elif op == "delete" and len(letters) > 3:
            del chars[i]
        elif op == "insert":
            chars.insert(i, rng.choice(string.ascii_lowercase))
        elif i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def queries(items: list[dict], n: int = 2000, seed: int = 1) -> list[tuple[str, str, int]]:
    """(kind of query, query text, item id meant) triples, deterministic per seed."""
    rng = random.Random(seed)
    out: list[tuple[str, str, int]] = []
    kinds = ("exact", "lower", "typo1", "typo2", "year", "kind", "partial")
    for i in range(n):
        item = rng.choice(items)
        title, kind = item["title"], kinds[i % len(kinds)]
        if kind == "exact":
            text = title
        elif kind == "lower":
            text = title.lower()
        elif kind in ("typo1", "typo2"):
            text = _typo(rng, title.lower(), 1 if kind == "typo1" else 2)
        elif kind == "year":
            text = rng.choice((f"{title} {item['year']}", f"{title} ({item['year']})"))
        elif kind == "kind":
            text = f"{title} {'tv' if item['kind'] == 'tv' else 'movie'}"
        else:
            words = title.replace(":", "").split()
            text = " ".join(words[1:] if rng.random() < 0.5 else words[:-1]) \
                if len(words) > 2 else title
        out.append((kind, text, int(item["item_id"])))
    return out


def measure(n_titles: int, n_queries: int, seed: int) -> dict:
    items = synthetic_items(n_titles, seed)
    started = time.perf_counter()
    index = TitleIndex(items)
    build_s = time.perf_counter() - started
    todo = queries(items, n_queries, seed + 1)
    for _, text, _ in todo[:100]:  # warm-up
        index.search(text)
    timings, found, hit = [], 0, 0
    by_kind: dict[str, list[int]] = {}
    for kind, text, item_id in todo:
        started = time.perf_counter_ns()
        match = index.search(text)
        timings.append(time.perf_counter_ns() - started)
        found += match.status == "found"
        ok = any(c.item_id == item_id for c in match.candidates)
        hit += ok
        by_kind.setdefault(kind, []).append(ok)
    ms = np.array(timings) / 1e6
    return {
        "benchmark": "title-search", "titles": len(index), "queries": len(todo),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
        "build_s": round(build_s, 2),
        "found_rate": round(found / len(todo), 3),
        "hit_rate": round(hit / len(todo), 3),
        "hit_rate_by_query": {k: round(sum(v) / len(v), 3) for k, v in by_kind.items()},
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "processor": platform.machine()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--titles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(measure(args.titles, args.queries, args.seed)), flush=True)


if __name__ == "__main__":
    main()
