"""Five new users, 1 to 5 likes each: their top 5 from two models, side by side.

``python -m bench.personas --before DIR [--before-rule fold-in] [--after DIR]
[--markdown]``: each persona's likes are looked up by title and year in each model's
catalogue (ML-100K titles; a persona whose titles are missing is skipped and said so).
"Before" is served by ``--before-rule`` (default: the exact fold-in, as the bot served
every model until the new-user work), "after" by its own recorded serving config. JSON
lines by default; the README's persona table comes from ``--markdown``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recommender import artifacts
from recommender.config import SCORERS, ServingConfig
from recommender.serve import Recommender

# (persona, [(title, year), ...]) — one to five likes, as a new user gives them.
PERSONAS = [
    ("Star Wars fan", [("Star Wars", 1977)]),
    ("Horror", [("The Shining", 1980), ("A Nightmare on Elm Street", 1984)]),
    ("Parent of small children", [("Toy Story", 1995), ("The Lion King", 1994),
                                  ("Aladdin", 1992)]),
    ("Arthouse", [("Three Colors: Blue", 1993), ("Three Colors: Red", 1994),
                  ("Breaking the Waves", 1996), ("Secrets & Lies", 1996)]),
    ("Romantic comedy", [("When Harry Met Sally...", 1989), ("Sleepless in Seattle", 1993),
                         ("Four Weddings and a Funeral", 1994),
                         ("While You Were Sleeping", 1995), ("Pretty Woman", 1990)]),
]
TOP = 5


def find(rec: Recommender, title: str, year: int) -> int | None:
    """The id of ``title`` (``year``) in the model's catalogue, if it has it."""
    for row, name in enumerate(rec.titles):
        if name == title and rec.years[row] == year:
            return int(rec.ids[row])
    return None


def picks(rec: Recommender, likes: list[tuple[str, int]]) -> list[str] | None:
    ids = [find(rec, title, year) for title, year in likes]
    if None in ids:
        return None
    return [f"{r.title} ({r.year})" for r in rec.recommend(ids, n=TOP)]


def label(rec: Recommender) -> str:
    params = rec.params
    return (f"{rec.version}: {params.get('scheme')} rank {params.get('rank')}, "
            f"{rec.serving.scorer}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.personas", description=__doc__)
    parser.add_argument("--before", type=Path, required=True, help="a model folder")
    parser.add_argument("--before-rule", choices=SCORERS, default="fold-in",
                        help="how the before model is served")
    parser.add_argument("--after", type=Path, help="a model folder (default: current)")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args(argv)
    old = artifacts.read_artifact(args.before)
    before = Recommender(**old, serving=ServingConfig(scorer=args.before_rule))
    after = Recommender.load(args.after)
    rows = []
    for persona, likes in PERSONAS:
        old, new = picks(before, likes), picks(after, likes)
        if old is None or new is None:
            print(f"skipped {persona}: a title is not in the catalogue", file=sys.stderr)
            continue
        rows.append({"persona": persona, "likes": [t for t, _ in likes],
                     "before": old, "after": new})
    if args.markdown:
        print(f"Before: {label(before)}. After: {label(after)}.\n")
        print("| persona (likes) | before: top 5 | after: top 5 |\n|---|---|---|")
        for row in rows:
            print(f"| **{row['persona']}** ({'; '.join(row['likes'])}) | "
                  f"{'; '.join(row['before'])} | {'; '.join(row['after'])} |")
    else:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
