"""How a published model is served: the scoring rule and its knobs, apart from the model.

Training fits the item factors (Spark ALS); this says how a user's likes become
scores. It is chosen on validation users only (``python -m recommender tune
--objective new-user``), stored in ``model.json`` under ``"serving"``, and read back
when the model loads. A model without one is served with the defaults here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from recommender.errors import RecommenderError

SCORERS = ("neighbours", "fold-in")


@dataclass(frozen=True)
class ServingConfig:
    """The serving rule.

    ``scorer``: "neighbours" scores item j as Σ_i w_i·y_iᵀy_j over the user's rated
    items i (a neighbourhood over the ALS item factors), "fold-in" as Spark would score
    a user it trained (the exact normal equations). ``fold_in_from``: once a user has
    rated at least this many titles, not all of them likes, the exact fold-in serves
    instead (0: never). ``popularity_weight``:
    the weight of the popularity prior added to the normalised collaborative score
    (negative values debias towards the long tail). ``cooccurrence_weight`` in [0, 1]:
    the share of the neighbourhood score that comes from the item-item like cosines
    published with the model (:mod:`recommender.neighbours`) rather than the factors.
    ``dislike_weight``: how strongly a dislike pushes its neighbours down, relative to a
    like pulling them up.

    Defaults: the best of ``tune --objective new-user`` on ML-100K
    (``bench/results/tuning-new-user-ml-100k.jsonl``; README, "Choosing the defaults").
    """

    scorer: str = "neighbours"
    popularity_weight: float = 0.25
    cooccurrence_weight: float = 0.8
    dislike_weight: float = 0.5
    fold_in_from: int = 10

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise RecommenderError(f"Unknown scorer {self.scorer!r}; choose one of "
                                   f"{', '.join(SCORERS)}.")
        if self.fold_in_from < 0 or self.dislike_weight < 0:
            raise RecommenderError("fold_in_from and dislike_weight must be zero or more.")
        if not 0 <= self.cooccurrence_weight <= 1:
            raise RecommenderError("cooccurrence_weight must be between 0 and 1.")

    @classmethod
    def of_meta(cls, meta: dict | None) -> ServingConfig:
        """The config recorded in a model's ``model.json`` (defaults for missing keys)."""
        saved = (meta or {}).get("serving") or {}
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})

    @classmethod
    def of_model(cls, folder: Path) -> ServingConfig:
        """The config a published model is served with."""
        return cls.of_meta(json.loads((folder / "model.json").read_text()))

    def to_dict(self) -> dict:
        return asdict(self)
