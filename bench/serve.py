"""Latency of ``Recommender.recommend`` for a user with 20 likes, in-process, one core,
and of ``recommend_group`` for a movie night of 10 members with 20 likes each.

Two catalogues: the published ``ml-100k`` model (``models/current``) and a synthetic
one at ML-32M scale (87,000 items, rank 64, ``NEIGHBOURS`` published like neighbours per
item), both served with their serving rule (the default ``ServingConfig`` for the
synthetic one). Prints one JSON object per catalogue and case, with the process's peak
RSS after loading.
Usage: ``python -m bench.serve [--requests 2000]``.
"""

from __future__ import annotations

import os

# One core, as the goal says: BLAS must not spread one request over threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import platform
import resource
import time

import numpy as np

from recommender.config import ServingConfig
from recommender.neighbours import NEIGHBOURS, Neighbours
from recommender.serve import Recommender


def synthetic(n_items: int = 87_000, rank: int = 64, seed: int = 0) -> Recommender:
    rng = np.random.default_rng(seed)
    genres = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller"]
    items = [{"item_id": i, "title": f"Film {i}", "year": 1950 + i % 70,
              "genres": [genres[i % 7], genres[(i // 7) % 7]], "kind": "movie"}
             for i in range(1, n_items + 1)]
    factors = (rng.standard_normal((n_items, rank)) * 0.1).astype(np.float32)
    popularity = rng.zipf(1.5, n_items).clip(max=100_000)
    mean = rng.uniform(2.5, 4.5, n_items).astype(np.float32)
    # Neighbours lean to popular items, as like cosines do.
    weights = popularity / popularity.sum()
    source = np.repeat(np.arange(1, n_items + 1), NEIGHBOURS)
    target = rng.choice(np.arange(1, n_items + 1), size=len(source), p=weights)
    links = Neighbours.from_triples(source, target, rng.uniform(0, 1, len(source)),
                                    np.arange(1, n_items + 1))
    return Recommender(item_ids=np.arange(1, n_items + 1), item_factors=factors,
                       popularity=popularity, mean_rating=mean, items=items,
                       params={"rank": rank, "reg_param": 0.1, "alpha": 1.0,
                               "scheme": "opinion"}, version="synthetic-87k",
                       serving=ServingConfig(), neighbours=links)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def timed_ms(call, inputs: list, warm_up: int) -> np.ndarray:
    """Milliseconds of ``call(x)`` for each input, after ``warm_up`` untimed calls."""
    for x in inputs[:warm_up]:
        call(x)
    timings = []
    for x in inputs:
        started = time.perf_counter_ns()
        call(x)
        timings.append(time.perf_counter_ns() - started)
    return np.array(timings) / 1e6


def percentiles(ms: np.ndarray) -> dict:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def measure(rec: Recommender, requests: int, likes: int = 20, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    with_factors = rec.ids[rec.has_factors]
    users = [rng.choice(with_factors, size=likes, replace=False).tolist()
             for _ in range(requests)]
    ms = timed_ms(lambda user: rec.recommend(user, n=10), users, warm_up=50)
    fold = timed_ms(rec.user_vector_for, users[:500], warm_up=0)
    return {
        "benchmark": "recommend", "model": rec.version, "items": len(rec.ids),
        "rank": int(rec.factors.shape[1]), "likes": likes, "n": 10, "requests": requests,
        **percentiles(ms), "mean_ms": round(float(ms.mean()), 3),
        "fold_in_p50_us": round(float(np.percentile(fold, 50)) * 1e3, 1),
        "serving": rec.serving.to_dict(), "peak_rss_mb": peak_rss_mb(),
    }


def measure_group(rec: Recommender, requests: int, members: int = 10, likes: int = 20,
                  seed: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    with_factors = rec.ids[rec.has_factors]
    groups = [[(rng.choice(with_factors, size=likes, replace=False).tolist(), [])
               for _ in range(members)] for _ in range(requests)]
    ms = timed_ms(lambda group: rec.recommend_group(group, n=5), groups, warm_up=20)
    return {"benchmark": "recommend_group", "model": rec.version, "items": len(rec.ids),
            "rank": int(rec.factors.shape[1]), "members": members, "likes": likes, "n": 5,
            "requests": requests, **percentiles(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    machine = {"cores": os.cpu_count(), "python": platform.python_version(),
               "numpy": np.__version__, "processor": platform.machine()}
    for rec in (Recommender.load(), synthetic()):
        print(json.dumps({**measure(rec, args.requests), "machine": machine}), flush=True)
        print(json.dumps({**measure_group(rec, args.requests // 4), "machine": machine}),
              flush=True)


if __name__ == "__main__":
    main()
