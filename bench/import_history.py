"""What importing a whole history brings, against telling five likes (new-user protocol).

``python -m bench.import_history [--users 150] [--seed 42] [--share 0.8]`` prints JSON
lines. The new-user protocol's test users (``recommender.newuser.hold_out``, same seed)
are held out; Spark ALS is fitted on everyone else with the current model's recipe and
served with its serving config. Each test user's ratings in time order are split: the
first ``share`` is their *history*, the likes among the rest are what we hope to see.
Three ways to join the bot, each scored by nDCG@10, recall@10 and hit@10:

* ``5 likes (given)``: the first five likes of the history, as a new user names them;
* ``5 likes (random)``: five likes of the history at random;
* ``5 likes (given), seen excluded``: the first five, with the rest of the history
  left out of the picks as if the bot knew it had been seen (what an import gives
  beyond the taste itself);
* ``import``: the whole history written as an IMDb "Your ratings" CSV (MovieLens'
  stars x 2, titles and years, no IMDb ids: MovieLens 100K has none) and sent through
  the bot's real import (parser, title matching, storage, the one rating rule), then
  ``/recommend`` as the bot serves it (likes, dislikes, neutral; everything imported
  excluded);
* ``import (ids)``: the same history handed over by item id, to show what title
  matching loses.

Needs ``DATA_DIR`` (processed ratings) and ``MODELS_DIR`` (``current``'s recipe, serving
config and titles); starts a local Spark for the one fit.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.core import Conversation, UserRef
from recommender import artifacts
from recommender.config import ServingConfig
from recommender.evaluate import K, Ratings, load_ratings, model_from_fit
from recommender.metrics import user_metrics
from recommender.newuser import DEFAULT_SEED, DEFAULT_USERS, hold_out
from recommender.preferences import is_like, split
from recommender.serve import Recommender
from recommender.settings import Settings
from recommender.train import TrainParams, fit_arrays
from storage import Storage

LIKES = 5
HEADER = ["Const", "Your Rating", "Date Rated", "Title", "Original Title", "URL",
          "Title Type", "IMDb Rating", "Runtime (mins)", "Year", "Genres", "Num Votes",
          "Release Date", "Directors"]


def imdb_csv(items: np.ndarray, stars: np.ndarray, ts: np.ndarray, meta: dict[int, dict]
             ) -> bytes:
    """A history as IMDb's "Your ratings" export writes it (no Const: 100K has none)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for item, rating, when in zip(items.tolist(), stars.tolist(), ts.tolist(), strict=True):
        m = meta[item]
        day = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d")
        writer.writerow(["", round(rating * 2), day, m["title"], m["title"], "",
                         "movie", "", "", m.get("year") or "", ", ".join(m.get("genres") or ()),
                         "", "", ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def served(data: Ratings, test_users: np.ndarray, models: Path) -> tuple[Recommender, dict]:
    """ALS fitted without the test users, with the current model's recipe and titles."""
    from recommender.spark import start_spark, stop_spark

    current = artifacts.current_dir(models)
    if current is None:
        raise SystemExit(f"no model in {models}")
    params = TrainParams.of_model(current)
    serving = ServingConfig.of_model(current)
    meta = {}
    with (current / "items.jsonl").open() as lines:
        for line in lines:
            item = json.loads(line)
            meta[int(item["item_id"])] = item
    train = data.subset(~np.isin(data.users, test_users))
    spark = start_spark(replace(Settings.from_env(), spark_master="local[2]"), "import-bench")
    try:
        fit = fit_arrays(spark, train.users, train.items, train.ratings, params)
    finally:
        stop_spark(spark)
    bare = model_from_fit(fit, params, train, serving)
    rec = Recommender.from_arrays(fit.item_ids, fit.item_factors, bare.params,
                                  items=list(meta.values()), popularity=bare.popularity,
                                  serving=serving, neighbours=fit.neighbours)
    return rec, meta


def histories(data: Ratings, users: np.ndarray, share: float
              ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, frozenset[int]]]:
    """Each user's (items, stars, ts) history in time order and their later likes."""
    out = {}
    for user in users.tolist():
        idx = np.flatnonzero(data.users == user)
        idx = idx[np.lexsort((data.items[idx], data.ts[idx]))]
        cut = int(len(idx) * share)
        past, future = idx[:cut], idx[cut:]
        relevant = frozenset(data.items[future][is_like(data.ratings[future])].tolist())
        if relevant and is_like(data.ratings[past]).sum() >= LIKES:
            out[user] = (data.items[past], data.ratings[past], data.ts[past], relevant)
    return out


def score(lists: dict[int, list[int]], relevant: dict[int, frozenset[int]]) -> dict:
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "hit@10": 0.0}
    for user, top in lists.items():
        m = user_metrics(top, set(relevant[user]), K)
        totals["ndcg@10"] += m["ndcg@10"]
        totals["recall@10"] += m["recall@10"]
        totals["hit@10"] += float(m["precision@10"] > 0)
    n = max(len(lists), 1)
    return {name: round(value / n, 4) for name, value in totals.items()}


def run(data: Ratings, models: Path, users: int, seed: int, share: float) -> list[dict]:
    started = time.monotonic()
    test_users, _validation = hold_out(data, users, seed)
    rec, meta = served(data, test_users, models)
    cases = histories(data, test_users, share)
    rng = np.random.default_rng(seed)
    lists: dict[str, dict[int, list[int]]] = {
        "5 likes (given)": {}, "5 likes (random)": {}, "5 likes (given), seen excluded": {},
        "import": {}, "import (ids)": {}}
    matched, rows = 0, 0
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        db = Storage(Path(tmp) / "bot.sqlite3")
        chat = Conversation(rec, db, clock=lambda: 0.0)
        for user, (items, stars, ts, _relevant) in cases.items():
            liked = items[is_like(stars)]
            lists["5 likes (given)"][user] = top(rec, liked[:LIKES].tolist())
            lists["5 likes (random)"][user] = top(
                rec, liked[rng.permutation(len(liked))[:LIKES]].tolist())
            lists["5 likes (given), seen excluded"][user] = [r.item_id for r in rec.recommend(
                liked[:LIKES].tolist(), n=K, exclude=items.tolist())]
            who = UserRef("bench", str(user))
            chat.handle_upload(who, imdb_csv(items, stars, ts, meta), "ratings.csv")
            uid = db.user("bench", str(user))
            likes, dislikes, neutral = split(db.ratings_of(uid))
            lists["import"][user] = [r.item_id for r in rec.recommend(
                likes, dislikes, n=K, exclude=db.excluded(uid), neutral=neutral)]
            matched += db.count_feedback(uid)
            rows += len(items)
            likes, dislikes, neutral = split(zip(items.tolist(), stars.tolist(), strict=True))
            lists["import (ids)"][user] = [r.item_id for r in rec.recommend(
                likes, dislikes, n=K, exclude=items.tolist(), neutral=neutral)]
        db.close()
    relevant = {u: c[3] for u, c in cases.items()}
    lines = [{"bench": "import-history", "way": way, "users": len(found), **score(found, relevant)}
             for way, found in lists.items()]
    lines.append({"bench": "import-history", "summary": True, "test_users": len(cases),
                  "history_share": share, "rows_imported": rows,
                  "titles_matched": round(matched / max(rows, 1), 4),
                  "mean_history": round(rows / max(len(cases), 1), 1),
                  "seconds": round(time.monotonic() - started, 1)})
    return lines


def top(rec: Recommender, likes: list[int]) -> list[int]:
    return [r.item_id for r in rec.recommend(likes, n=K)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_history", description=__doc__)
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--share", type=float, default=0.8, help="history share of ratings")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    data = load_ratings(settings.data_dir / "processed")
    for line in run(data, settings.models_dir, args.users, args.seed, args.share):
        print(json.dumps(line, ensure_ascii=False))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
