"""Top-k ranking metrics, as the Microsoft Recommenders benchmark defines them.

Binary relevance (every held-out item is relevant), natural-log discount (the nDCG
ratio does not depend on the base), averaged over users with at least one relevant
item. MAP divides each user's sum of precisions at the hits by the number of
relevant items (Recommenders' ``map``), not by min(k, relevant).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def user_metrics(ranked: Sequence[int], relevant: set[int], k: int) -> dict[str, float]:
    """Metrics of one user's ranked list against their relevant items."""
    top = list(ranked)[:k]
    hits = [rank for rank, item in enumerate(top, start=1) if item in relevant]
    n_rel = len(relevant)
    dcg = sum(1.0 / math.log(1 + rank) for rank in hits)
    idcg = sum(1.0 / math.log(1 + rank) for rank in range(1, min(n_rel, k) + 1))
    average_precision = sum((j + 1) / rank for j, rank in enumerate(hits)) / n_rel
    return {
        "map": average_precision,
        f"ndcg@{k}": dcg / idcg if idcg else 0.0,
        f"precision@{k}": len(hits) / k,
        f"recall@{k}": len(hits) / n_rel,
    }


def ranking_metrics(ranked: Mapping[int, Sequence[int]], relevant: Mapping[int, set[int]],
                    k: int = 10) -> dict[str, float]:
    """Mean of :func:`user_metrics` over users with relevant items and a ranked list."""
    users = [u for u, rel in relevant.items() if rel and u in ranked]
    totals: dict[str, float] = {}
    for user in users:
        for name, value in user_metrics(ranked[user], relevant[user], k).items():
            totals[name] = totals.get(name, 0.0) + value
    out = {name: value / len(users) for name, value in totals.items()} if users else {}
    out["users"] = len(users)
    return out
