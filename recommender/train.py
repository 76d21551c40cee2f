"""Train implicit-feedback ALS with Spark and publish a versioned artifact.

``fit_als`` is the one place that runs Spark's ALS; ``train`` fits it on every
processed rating, plus the bot's ratings when it is handed them (:class:`BotRatings`;
reading them from the bot's database is ``jobs.bot_data``'s business), and publishes
``models/<version>``; evaluation and tuning call ``fit_als`` on their own splits. Items the
fit has no factors for (IMDb TV shows, films nobody rated) get factors predicted from their
content (:mod:`recommender.content`), published beside the trained ones.
"""

from __future__ import annotations

import hashlib
import json
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recommender.artifacts import write_artifact
from recommender.config import ServingConfig
from recommender.content import predict_factors
from recommender.errors import DatasetNotFound, RecommenderError
from recommender.neighbours import Neighbours, like_cosine
from recommender.preferences import LIKED_AT_LEAST, SCHEMES, spark_strength, strength
from recommender.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SEED = 42
# Bot users get ids above every MovieLens user id (ML-32M has ~200,000 users). Platform
# ids are 64-bit, so they are mapped to this range, never cast.
BOT_USER_ID_BASE = 1_000_000_000


@dataclass(frozen=True)
class TrainParams:
    """ALS hyperparameters and the rating-to-preference scheme.

    Defaults come from the recorded searches in ``bench/results/tuning-ml-100k.jsonl``
    (warm users) and ``tuning-new-user-ml-100k.jsonl`` (new users; it chose the scheme)
    (README, "Choosing the defaults"). The scheme is "opinion": a rating is what
    :func:`recommender.preferences.opinion` says it is (a like a positive, a neutral
    rating weak interest, a dislike a confident negative), the rule storage, the
    retraining gate and serving use too.
    """

    rank: int = 16
    reg_param: float = 0.1
    alpha: float = 0.25
    max_iter: int = 15
    scheme: str = "opinion"

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise RecommenderError(f"Unknown preference scheme {self.scheme!r}; choose one "
                                   f"of {', '.join(SCHEMES)}.")

    @classmethod
    def of_model(cls, folder: Path) -> TrainParams:
        """The parameters a published model was trained with (defaults for unknown keys)."""
        saved = json.loads((folder / "model.json").read_text()).get("params") or {}
        return cls(**{k: v for k, v in saved.items() if k in cls.__dataclass_fields__})


@dataclass
class AlsFit:
    """Factors straight from Spark, rows sorted by id, and the like neighbours."""

    item_ids: np.ndarray
    item_factors: np.ndarray
    user_ids: np.ndarray
    user_factors: np.ndarray
    seconds: float
    neighbours: Neighbours | None = None
    neighbours_seconds: float = 0.0  # of ``seconds``: the like cosines (phase timing)


def _factors(frame: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Ids and factors of an ALS factor frame, by id, through Arrow: collecting Rows of
    ML-32M's 200,000 users took tens of seconds of the nightly retraining."""
    table = frame.orderBy("id").toArrow()
    ids = table.column("id").to_numpy().astype(np.int64)
    features = table.column("features").combine_chunks().flatten()
    factors = features.to_numpy(zero_copy_only=False).astype(np.float32)
    return ids, factors.reshape(len(ids), -1)


def fit_als(ratings: DataFrame, params: TrainParams, neighbours: bool = True) -> AlsFit:
    """Fit Spark's implicit ALS on a frame of ``user_id, item_id, rating`` (or ``pref``),
    and (``neighbours``) each item's nearest items by like cosine."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    started = time.monotonic()
    if "pref" not in ratings.columns:
        ratings = ratings.withColumn("pref", spark_strength(params.scheme, F.col("rating")))
    prefs = ratings.select("user_id", "item_id", "pref").where("pref != 0")
    # Spark regularises a user (item) by its number of *positive* entries, so one with
    # only negatives gets no ridge and can make the solve singular; nothing liked, nothing
    # to learn: such users and items stay out of the fit. The items come back below with
    # zero factors: known, rated, and never pulled up by anyone's taste.
    rated = np.sort(prefs.select("item_id").distinct().toArrow().column("item_id")
                    .to_numpy().astype(np.int64))
    positive = prefs.where("pref > 0")
    prefs = (prefs.join(positive.select("user_id").distinct(), "user_id", "left_semi")
             .join(positive.select("item_id").distinct(), "item_id", "left_semi"))
    als = ALS(rank=params.rank, maxIter=params.max_iter, regParam=params.reg_param,
              alpha=params.alpha, implicitPrefs=True, userCol="user_id", itemCol="item_id",
              ratingCol="pref", coldStartStrategy="drop", seed=SEED)
    model = als.fit(prefs)
    item_ids, item_factors = _with_zero_rows(*_factors(model.itemFactors), rated)
    user_ids, user_factors = _factors(model.userFactors)
    found, neighbours_started = None, time.monotonic()
    if neighbours:
        # A like is what the one rule calls a like: at least the strength of LIKED_AT_LEAST.
        like = float(strength(params.scheme, np.array([LIKED_AT_LEAST]))[0])
        likes = prefs.where(F.col("pref") >= F.lit(like)).select("user_id", "item_id")
        found = Neighbours.from_triples(*like_cosine(likes.distinct()), item_ids=item_ids)
    now = time.monotonic()
    return AlsFit(item_ids, item_factors, user_ids, user_factors,
                  round(now - started, 2), found, round(now - neighbours_started, 2))


def _with_zero_rows(ids: np.ndarray, factors: np.ndarray,
                   every: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ids``/``factors`` plus a zero row for each id of ``every`` they lack, by id."""
    missing = np.setdiff1d(every, ids)
    if len(missing) == 0:
        return ids, factors
    all_ids = np.concatenate([ids, missing])
    order = np.argsort(all_ids, kind="stable")
    rank = factors.shape[1] if factors.ndim == 2 and factors.shape[1] else 0
    zeros = np.zeros((len(missing), rank), dtype=np.float32)
    return all_ids[order], np.concatenate([factors.reshape(len(ids), rank), zeros])[order]


def fit_arrays(spark: SparkSession, users: np.ndarray, items: np.ndarray,
               ratings: np.ndarray, params: TrainParams, neighbours: bool = True) -> AlsFit:
    """``fit_als`` on numpy arrays (evaluation splits), passed to Spark through Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"user_id": pa.array(users, pa.int32()),
                      "item_id": pa.array(items, pa.int32()),
                      "rating": pa.array(ratings, pa.float32())})
    with tempfile.TemporaryDirectory(prefix="als-split-") as tmp:
        path = f"{tmp}/ratings.parquet"
        pq.write_table(table, path)
        return fit_als(spark.read.parquet(path), params, neighbours)


def _array(values: object, dtype: type) -> np.ndarray:
    return np.asarray(values, dtype=dtype).reshape(-1)


@dataclass(frozen=True, eq=False)
class BotRatings:
    """The ratings, likes and dislikes the bot collected, one entry per rating.

    ``users`` are already numbered from :data:`BOT_USER_ID_BASE` (platform ids are
    64-bit: they are mapped, never cast); ``ratings`` are half stars as stored (👍 is
    5, 👎 is 1); ``ts`` epoch seconds (the evaluation protocols of the retraining gate
    order by them; training ignores them: zeros when not given).
    """

    users: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    items: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ratings: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    ts: np.ndarray | None = None

    def __post_init__(self) -> None:
        users, items = _array(self.users, np.int64), _array(self.items, np.int64)
        ratings = _array(self.ratings, np.float64)
        ts = np.zeros(len(users)) if self.ts is None else _array(self.ts, np.float64)
        if not len(users) == len(items) == len(ratings) == len(ts):
            raise ValueError("The bot's ratings need one user, item, rating and time per "
                             "entry.")
        for name, value in (("users", users), ("items", items), ("ratings", ratings),
                            ("ts", ts)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_users(self) -> int:
        return len(np.unique(self.users))

    def where(self, keep: np.ndarray) -> BotRatings:
        """Only the entries where the boolean array ``keep`` is true."""
        return BotRatings(self.users[keep], self.items[keep], self.ratings[keep],
                          self.ts[keep])


def bot_preferences(bot: BotRatings, scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bot's ratings as (user ids, item ids, preference strengths).

    Exactly ``strength(scheme, ratings)``, as for MovieLens ratings: the bot's users get
    no rule of their own. Under the default "opinion" scheme a dislike (👎 is stored as
    1 star) is a confident negative and a neutral rating weak interest, as
    :mod:`recommender.preferences` says; under another scheme a dislike means what that
    scheme makes of its stars.
    """
    return bot.users, bot.items, strength(scheme, bot.ratings)


def data_fingerprint(processed_dir: Path) -> str:
    """A hash of the processed tables' file names and sizes: changes when the data does."""
    digest = hashlib.sha256()
    for path in sorted(processed_dir.rglob("*.parquet")):
        digest.update(f"{path.relative_to(processed_dir)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def train(spark: SparkSession, settings: Settings, params: TrainParams = TrainParams(),
          say=print, publish: bool = True, serving: ServingConfig | None = None, *,
          extra: BotRatings | None = None) -> Path:
    """Fit ALS on ``data/processed/ratings`` plus the bot's ratings ``extra`` (none when
    None); write ``models/<version>`` and, when ``publish`` is true, point
    ``models/current`` at it. ``serving`` is recorded in ``model.json`` as the way to
    serve it (default: ``ServingConfig()``)."""
    import pyspark
    from pyspark.sql import functions as F

    processed = settings.processed_dir
    if not (processed / "ratings").is_dir() or not (processed / "items").is_dir():
        raise DatasetNotFound(
            f"No processed data in {processed}; run 'python -m recommender data prepare' first."
        )
    started = time.monotonic()
    ratings = spark.read.parquet(str(processed / "ratings")).select(
        "user_id", "item_id", F.col("rating").cast("float").alias("rating")).cache()
    stats = ratings.groupBy("item_id").agg(F.count("*").alias("n"),
                                           F.avg("rating").alias("mean")).toArrow().to_pylist()
    n_ratings = sum(r["n"] for r in stats)
    n_users = ratings.select("user_id").distinct().count()
    items = [_plain(r) for r in
             spark.read.parquet(str(processed / "items")).orderBy("item_id").toArrow()
             .to_pylist()]
    bot_users, bot_items, bot_prefs = bot_preferences(extra or BotRatings(), params.scheme)
    prefs = ratings.withColumn("pref", spark_strength(params.scheme, F.col("rating")))
    if len(bot_users):
        # Only items of this catalogue: a like kept from an older data set has no metadata.
        known = {item["item_id"] for item in items}
        keep = np.array([int(i) in known for i in bot_items], dtype=bool)
        bot_users, bot_items, bot_prefs = bot_users[keep], bot_items[keep], bot_prefs[keep]
        bot = spark.createDataFrame(
            [(int(u), int(i), float(p)) for u, i, p in
             zip(bot_users, bot_items, bot_prefs, strict=True)],
            "user_id INT, item_id INT, pref FLOAT")
        prefs = prefs.select("user_id", "item_id", "pref").unionByName(bot)
    say(f"Training ALS ({params.scheme} preferences, rank {params.rank}, {params.max_iter} "
        f"iterations) on {n_ratings:,} ratings from {n_users:,} users, plus "
        f"{len(bot_users):,} from {len(set(bot_users.tolist())):,} bot users ...")
    fit = fit_als(prefs, params)
    say(f"  fitted in {fit.seconds:.1f} s (like neighbours {fit.neighbours_seconds:.1f} s); "
        f"collecting factors of {len(fit.item_ids):,} items")
    by_item = {r["item_id"]: (r["n"], r["mean"]) for r in stats}
    popularity = np.array([by_item.get(int(i), (0, 0))[0] for i in fit.item_ids])
    mean_rating = np.array([by_item.get(int(i), (0, np.nan))[1] for i in fit.item_ids],
                           dtype=np.float32)
    ratings.unpersist()
    seconds = round(time.monotonic() - started, 1)
    meta = {
        "algorithm": "spark-als-implicit",
        "params": asdict(params),
        "serving": (serving or ServingConfig()).to_dict(),
        "seed": SEED,
        "counts": {"ratings": n_ratings, "users": n_users, "bot_ratings": len(bot_users),
                   "bot_users": len(set(bot_users.tolist())),
                   "items_with_factors": len(fit.item_ids), "items": len(items)},
        "metrics": {},
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_seconds": seconds,
        "spark_master": spark.sparkContext.master,
        "data_fingerprint": data_fingerprint(processed),
        "data": _ingest_source(processed),
        "versions": {"python": platform.python_version(), "pyspark": pyspark.__version__,
                     "numpy": np.__version__},
    }
    # Items nobody rated (IMDb TV shows, unrated films) get factors predicted from their
    # content, so the collaborative scorers rank them beside the rest.
    content = predict_factors(items, fit.item_ids, fit.item_factors)
    say(f"  content: factors predicted for {len(content.item_ids):,} items without ratings")
    folder = write_artifact(settings.models_dir, item_ids=fit.item_ids,
                            item_factors=fit.item_factors, popularity=popularity,
                            mean_rating=mean_rating, items=items, meta=meta, publish=publish,
                            neighbours=fit.neighbours, content=content)
    say(f"Model {folder.name} {'published' if publish else 'written'} in {folder} "
        f"({seconds:.1f} s).")
    return folder


def _plain(row: dict) -> dict:
    """A Spark Row dict with only JSON types (arrays become lists)."""
    return {k: (list(v) if isinstance(v, tuple | list) else v) for k, v in row.items()}


def _ingest_source(processed: Path) -> str | None:
    path = processed / "ingest.json"
    return json.loads(path.read_text()).get("source") if path.is_file() else None
