"""Spark ingest: raw MovieLens (+ IMDb) files into the canonical Parquet tables.

``items``: item_id, title, year, genres, kind, imdb_id, imdb_rating, imdb_votes,
runtime_minutes, popularity, alt_titles, directors, writers (IMDb nconst ids; empty
without IMDb's title.crew). ``ratings``: user_id, item_id, rating, ts,
source. Bad rows are counted by reason and reported, never silently dropped.
Output goes to ``data/processed/`` through a temporary folder and a rename.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from recommender.datasets import (
    IMDB_CREW,
    IMDB_DIR,
    MOVIE_TITLE_TYPES,
    OFFLINE_DATASET,
    TV_ITEM_ID_BASE,
    TV_TITLE_TYPES,
)
from recommender.errors import DatasetNotFound
from recommender.fetch import is_complete, read_marker
from recommender.fsutil import replace_dir, staging_dir
from recommender.layouts import Layout, detect, unpack_source
from recommender.settings import Settings
from recommender.titles import (
    canonical_genres,
    merge_alt_titles,
    parse_movielens_title,
    title_key,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
SUMMARY_FILE = "ingest.json"


@dataclass
class IngestSummary:
    """What the ingest read, kept and rejected; printed and saved as JSON."""

    source: str
    layout: str
    ratings_read: int = 0
    ratings_kept: int = 0
    ratings_rejected: dict[str, int] = field(default_factory=dict)
    users: int = 0
    items_read: int = 0
    items_kept: int = 0
    items_rejected: dict[str, int] = field(default_factory=dict)
    movies: int = 0
    tv_shows: int = 0
    imdb_matched: int = 0
    imdb: str | None = None
    seconds: float = 0.0
    inputs: dict | None = None

    def lines(self) -> list[str]:
        def reasons(rejected: dict[str, int]) -> str:
            if not rejected:
                return "none rejected"
            parts = ", ".join(f"{n:,} {why}" for why, n in sorted(rejected.items()))
            return f"rejected {sum(rejected.values()):,}: {parts}"

        out = [
            f"Ingested {self.source} ({self.layout} layout) in {self.seconds:.1f} s",
            f"  ratings: read {self.ratings_read:,}, kept {self.ratings_kept:,}, "
            f"{reasons(self.ratings_rejected)}",
            f"  items:   read {self.items_read:,}, kept {self.items_kept:,}, "
            f"{reasons(self.items_rejected)}",
            f"  users: {self.users:,}   movies: {self.movies:,}   TV shows: {self.tv_shows:,}",
        ]
        if self.imdb:
            out.append(f"  IMDb: {self.imdb_matched:,} movies linked to IMDb ({self.imdb})")
        return out


def resolve_source(settings: Settings, dataset: str | None, source: Path | None,
                   scratch: Path) -> tuple[Layout, str]:
    """The layout to read, from ``--source`` (zip or folder) or a fetched data set."""
    if source is not None:
        if not source.exists():
            raise DatasetNotFound(f"{source} does not exist.")
        if source.is_file():
            return detect(unpack_source(source, scratch)), str(source)
        return detect(source), str(source)
    name = dataset or settings.dataset or OFFLINE_DATASET
    folder = settings.raw_dir / name
    if not is_complete(folder):
        raise DatasetNotFound(
            f"{name} has not been fetched into {settings.raw_dir}; run "
            f"'python -m recommender data fetch --dataset {name}' first."
        )
    return detect(folder), f"{name} ({read_marker(folder).get('source', '?')})"


def ingest(spark: SparkSession, settings: Settings, *, dataset: str | None = None,
           source: Path | None = None, use_imdb: bool = True, say=print) -> IngestSummary:
    """Read raw files, write ``items`` and ``ratings`` Parquet, return the summary."""
    started = time.monotonic()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    scratch = staging_dir(settings.data_dir, "source")
    staging = staging_dir(settings.data_dir, "processed")
    try:
        layout, label = resolve_source(settings, dataset, source, scratch)
        summary = IngestSummary(source=label, layout=layout.kind)
        if source is None:
            summary.inputs = current_inputs(
                settings, dataset or settings.dataset or OFFLINE_DATASET, use_imdb)
        say(f"Reading {label} ...")
        items, items_read, items_bad = _read_items(spark, layout)
        items = items.cache()
        summary.items_read = items_read
        summary.items_rejected = items_bad

        ratings = _read_ratings(spark, layout, items).persist()
        counts = {row["reject"]: row["count"]
                  for row in ratings.groupBy("reject").count().collect()}
        summary.ratings_kept = counts.pop(None, 0)
        summary.ratings_rejected = counts
        summary.ratings_read = summary.ratings_kept + sum(counts.values())
        kept = ratings.where("reject IS NULL").drop("reject")
        popularity = kept.groupBy("item_id").count().withColumnRenamed("count", "popularity")

        imdb_dir = settings.raw_dir / IMDB_DIR
        if use_imdb and is_complete(imdb_dir):
            say("Joining IMDb metadata and TV shows ...")
            items, summary.imdb_matched = _with_imdb(spark, items, imdb_dir,
                                                     settings.imdb_min_votes)
            summary.imdb = str(imdb_dir)
        else:
            items = _without_imdb(items)
        from pyspark.sql import functions as F

        items = (items.join(popularity, "item_id", "left")
                 .withColumn("popularity", F.coalesce("popularity", F.lit(0)).cast("long"))
                 .select(*ITEM_COLUMNS).orderBy("item_id"))
        say("Writing Parquet ...")
        items.write.parquet(str(staging / "items"))
        kept.write.parquet(str(staging / "ratings"))
        ratings.unpersist()

        written = spark.read.parquet(str(staging / "items"))
        kinds = {r["kind"]: r["count"] for r in written.groupBy("kind").count().collect()}
        summary.items_kept = kinds.get("movie", 0)
        summary.movies, summary.tv_shows = kinds.get("movie", 0), kinds.get("tv", 0)
        summary.users = spark.read.parquet(str(staging / "ratings")).select("user_id") \
            .distinct().count()
        summary.seconds = round(time.monotonic() - started, 1)
        (staging / SUMMARY_FILE).write_text(json.dumps(asdict(summary), indent=2) + "\n")
        replace_dir(staging, settings.processed_dir)
        return summary
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)


ITEM_COLUMNS = ("item_id", "title", "year", "genres", "kind", "imdb_id", "imdb_rating",
                "imdb_votes", "runtime_minutes", "popularity", "alt_titles", "directors",
                "writers")


def _title_udf():
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("title", T.StringType()),
        T.StructField("year", T.IntegerType()),
        T.StructField("alt_titles", T.ArrayType(T.StringType())),
    ])
    return F.udf(lambda raw, year: tuple(parse_movielens_title(raw, year)), schema)


def _alt_titles_udf():
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    return F.udf(lambda title, alts, primary, original: merge_alt_titles(
        title, alts, primary, original), T.ArrayType(T.StringType()))


def _genres_udf():
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    return F.udf(lambda gs: canonical_genres(gs or []), T.ArrayType(T.StringType()))


def _read_items(spark: SparkSession, layout: Layout) -> tuple[DataFrame, int, dict[str, int]]:
    """Items with item_id, title, year, genres, alt_titles, imdb_id; plus rejections."""
    from pyspark.sql import functions as F

    if layout.kind == "ml100k":
        raw = (spark.read.option("sep", "|").option("quote", "").option("encoding", "ISO-8859-1")
               .csv(str(layout.items)))
        names = _ml100k_genre_names(layout)
        flags = [F.when(F.col(f"_c{5 + i}") == "1", F.lit(g)) for i, g in enumerate(names)]
        year_from_date = F.expr("try_cast(substring(_c2, -4, 4) AS INT)")
        frame = raw.select(
            F.col("_c0").alias("id_raw"), F.col("_c1").alias("title_raw"),
            year_from_date.alias("year_raw"),
            F.filter(F.array(*flags), lambda g: g.isNotNull()).alias("genres_raw"),
            F.lit(None).cast("string").alias("imdb_id"),
        )
    elif layout.kind == "recbole":
        raw = (spark.read.option("sep", "\t").option("quote", "").option("header", "true")
               .csv(str(layout.items)))
        cols = {c.split(":")[0]: c for c in raw.columns}
        frame = raw.select(
            F.col(f"`{cols['item_id']}`").alias("id_raw"),
            F.col(f"`{cols['movie_title']}`").alias("title_raw"),
            F.expr(f"try_cast(`{cols['release_year']}` AS INT)").alias("year_raw"),
            F.split(F.coalesce(F.col(f"`{cols['class']}`"), F.lit("")), " ").alias("genres_raw"),
            F.lit(None).cast("string").alias("imdb_id"),
        )
    else:
        raw = (spark.read.option("header", "true").option("quote", '"').option("escape", '"')
               .csv(str(layout.items)))
        frame = raw.select(
            F.col("movieId").alias("id_raw"), F.col("title").alias("title_raw"),
            F.lit(None).cast("int").alias("year_raw"),
            F.split(F.coalesce("genres", F.lit("")), r"\|").alias("genres_raw"),
        )
        if layout.links is not None:
            links = (spark.read.option("header", "true").csv(str(layout.links))
                     .select(F.col("movieId").alias("id_raw"),
                             # Zero-padded to 7 digits, never cut: Spark's lpad shortens
                             # longer strings, and newer films (in ML-32M) have 8 digits.
                             F.concat(F.lit("tt"), F.expr(
                                 "lpad(trim(imdbId), greatest(7, length(trim(imdbId))), '0')"))
                             .alias("imdb_id"))
                     .where(F.expr("try_cast(imdbId AS INT) IS NOT NULL")))
            frame = frame.join(links, "id_raw", "left")
        else:
            frame = frame.withColumn("imdb_id", F.lit(None).cast("string"))

    frame = frame.withColumn("item_id", F.col("id_raw").try_cast("int"))
    frame = frame.withColumn(
        "reject",
        F.when(F.col("item_id").isNull(), "unparseable id")
        .when(F.col("title_raw").isNull() | (F.trim("title_raw") == ""), "missing title"),
    )
    frame = frame.cache()
    counts = {r["reject"]: r["count"] for r in frame.groupBy("reject").count().collect()}
    kept_count = counts.pop(None, 0)
    good = frame.where("reject IS NULL")
    # One row per id: a repeated id is a bad row, not a second movie.
    dupes = good.groupBy("item_id").count().where("count > 1").count()
    good = good.dropDuplicates(["item_id"])
    if dupes:
        counts["duplicate id"] = counts.get("duplicate id", 0) + dupes
    parsed = _title_udf()(F.col("title_raw"), F.col("year_raw"))
    items = good.select(
        "item_id",
        parsed.getField("title").alias("title"),
        parsed.getField("year").alias("year"),
        _genres_udf()("genres_raw").alias("genres"),
        F.lit("movie").alias("kind"),
        "imdb_id",
        parsed.getField("alt_titles").alias("alt_titles"),
    )
    return items, kept_count + sum(counts.values()) - dupes, counts


def _ml100k_genre_names(layout: Layout) -> tuple[str, ...]:
    if layout.genres is None:
        return ML100K_GENRES
    names = []
    for line in layout.genres.read_text(encoding="latin-1").splitlines():
        if "|" in line:
            name, index = line.rsplit("|", 1)
            names.append((int(index), name))
    return tuple(name for _, name in sorted(names)) or ML100K_GENRES


def _read_ratings(spark: SparkSession, layout: Layout, items: DataFrame) -> DataFrame:
    """Every rating line, parsed, with ``reject`` set to a reason for bad ones."""
    from pyspark.sql import functions as F

    sep = "," if layout.kind == "csv" else "\t"
    lines = spark.read.text(str(layout.ratings))
    if layout.kind in ("csv", "recbole"):
        with layout.ratings.open("r", encoding="utf-8", errors="replace") as handle:
            header = handle.readline().rstrip("\r\n")
        lines = lines.where(F.col("value") != header)
    lines = lines.where(F.trim("value") != "")
    parts = F.split(F.trim("value"), sep)
    parsed = lines.select(
        F.size(parts).alias("n"),
        F.get(parts, 0).try_cast("int").alias("user_id"),
        F.get(parts, 1).try_cast("int").alias("item_id"),
        F.get(parts, 2).try_cast("float").alias("rating"),
        F.get(parts, 3).try_cast("double").cast("long").alias("ts"),
    )
    known = items.select("item_id", F.lit(True).alias("known"))
    joined = parsed.join(F.broadcast(known), "item_id", "left")
    reject = (
        F.when((F.col("n") != 4) | F.col("user_id").isNull() | F.col("item_id").isNull()
               | F.col("rating").isNull() | F.col("ts").isNull(), "malformed")
        .when((F.col("rating") < 0.5) | (F.col("rating") > 5)
              | (F.col("rating") * 2 != F.round(F.col("rating") * 2)), "rating out of range")
        .when(F.col("known").isNull(), "unknown item")
    )
    return joined.select(
        "user_id", "item_id", "rating", "ts", F.lit("movielens").alias("source"),
        reject.alias("reject"),
    )


def _without_imdb(items: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return (items.withColumn("imdb_rating", F.lit(None).cast("float"))
            .withColumn("imdb_votes", F.lit(None).cast("int"))
            .withColumn("runtime_minutes", F.lit(None).cast("int"))
            .withColumn("directors", F.array().cast("array<string>"))
            .withColumn("writers", F.array().cast("array<string>")))


def read_imdb(spark: SparkSession, imdb_dir: Path) -> tuple[DataFrame, DataFrame]:
    """IMDb's basics and ratings TSVs (gzip, ``\\N`` for null, no quoting)."""
    from pyspark.sql import functions as F

    reader = (spark.read.option("sep", "\t").option("header", "true").option("quote", "")
              .option("nullValue", "\\N"))
    basics = reader.csv(str(imdb_dir / "title.basics.tsv.gz")).select(
        "tconst", "titleType", "primaryTitle", "originalTitle",
        F.col("isAdult").try_cast("int").alias("isAdult"),
        F.col("startYear").try_cast("int").alias("startYear"),
        F.col("runtimeMinutes").try_cast("int").alias("runtime_minutes"),
        F.split(F.coalesce("genres", F.lit("")), ",").alias("imdb_genres"),
    )
    ratings = reader.csv(str(imdb_dir / "title.ratings.tsv.gz")).select(
        "tconst",
        F.col("averageRating").try_cast("float").alias("imdb_rating"),
        F.col("numVotes").try_cast("int").alias("imdb_votes"),
    )
    return basics, ratings


def read_crew(spark: SparkSession, imdb_dir: Path) -> DataFrame | None:
    """IMDb's title.crew as tconst, directors, writers (arrays of nconst ids, empty for
    ``\\N``); None when the file is missing (IMDb fetched before it was added)."""
    from pyspark.sql import functions as F

    path = imdb_dir / IMDB_CREW
    if not path.is_file():
        return None
    crew = (spark.read.option("sep", "\t").option("header", "true").option("quote", "")
            .option("nullValue", "\\N").csv(str(path)))

    def people(column: str):
        # A missing list is empty, never null: the content model reads both the same way.
        return F.filter(F.split(F.coalesce(column, F.lit("")), ","), lambda x: x != "")

    return crew.select("tconst", people("directors").alias("directors"),
                       people("writers").alias("writers"))


def _with_crew(frame: DataFrame, crew: DataFrame | None, key: str) -> DataFrame:
    """``frame`` plus directors and writers (empty arrays where IMDb lists none)."""
    from pyspark.sql import functions as F

    empty = F.array().cast("array<string>")
    if crew is None:
        return frame.withColumn("directors", empty).withColumn("writers", empty)
    joined = frame.join(crew.withColumnRenamed("tconst", key), key, "left")
    return (joined.withColumn("directors", F.coalesce("directors", empty))
            .withColumn("writers", F.coalesce("writers", empty)))


def _with_imdb(spark: SparkSession, items: DataFrame, imdb_dir: Path,
               min_votes: int) -> tuple[DataFrame, int]:
    """Enrich movies from IMDb and append IMDb TV shows; return items and matches."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    basics, ratings = read_imdb(spark, imdb_dir)
    # The gzip file is read by one core; read it once and keep only what we use
    # (episodes, most of the 12M rows, are dropped here).
    basics = (basics.where(F.coalesce("isAdult", F.lit(0)) == 0)
              .where(F.col("titleType").isin(*MOVIE_TITLE_TYPES, *TV_TITLE_TYPES))
              .persist())
    ratings = ratings.persist()
    key = F.udf(lambda name: title_key(name), T.StringType())  # lambda: no hint inference

    # Movies without a links.csv id (100K) are matched on title key and year (+-1,
    # since 100K years are release dates); the closest year, then most votes, wins.
    unlinked = items.where("imdb_id IS NULL")
    bounds = unlinked.agg(F.min("year"), F.max("year")).first()
    if bounds[0] is not None:
        ml_keys = unlinked.select(
            "item_id", "year",
            F.explode(F.array_union(F.array("title"),
                                    F.coalesce("alt_titles", F.array().cast("array<string>"))))
            .alias("name"),
        ).select("item_id", "year", key("name").alias("key"))
        ml_keys = ml_keys.where("year IS NOT NULL AND key != ''")
        candidates = (
            basics.where(F.col("titleType").isin(*MOVIE_TITLE_TYPES))
            .where(F.col("startYear").between(bounds[0] - 1, bounds[1] + 1))
            .select("tconst", "startYear",
                    F.explode(F.array_distinct(F.array("primaryTitle", "originalTitle")))
                    .alias("name"))
            .select("tconst", "startYear", key("name").alias("key"))
            .where("key != ''")
            .join(ratings.select("tconst", "imdb_votes"), "tconst", "left")
        )
        window = Window.partitionBy("item_id").orderBy(
            F.abs(F.col("year") - F.col("startYear")), F.desc_nulls_last("imdb_votes"),
            "tconst")
        best = (ml_keys.join(candidates, "key")
                .where(F.abs(F.col("year") - F.col("startYear")) <= 1)
                .withColumn("rank", F.row_number().over(window)).where("rank = 1")
                .select("item_id", F.col("tconst").alias("matched_id")))
        items = (items.join(best, "item_id", "left")
                 .withColumn("imdb_id", F.coalesce("imdb_id", "matched_id")).drop("matched_id"))

    meta = (basics.select("tconst", "runtime_minutes", "primaryTitle", "originalTitle")
            .join(ratings, "tconst", "left"))
    # IMDb's titles become alternative titles, so a film is found by its original title.
    movies = (items.join(meta.withColumnRenamed("tconst", "imdb_id"), "imdb_id", "left")
              .withColumn("alt_titles", _alt_titles_udf()("title", "alt_titles",
                                                          "primaryTitle", "originalTitle"))
              .cache())
    matched = movies.where("runtime_minutes IS NOT NULL OR imdb_votes IS NOT NULL").count()

    tv = (basics.where(F.col("titleType").isin(*TV_TITLE_TYPES))
          .join(ratings, "tconst")
          .where((F.col("imdb_votes") >= min_votes) & F.col("tconst").rlike("^tt[0-9]{1,9}$"))
          .select(
              (F.lit(TV_ITEM_ID_BASE) + F.substring("tconst", 3, 20).try_cast("int"))
              .alias("item_id"),
              F.col("primaryTitle").alias("title"),
              F.col("startYear").alias("year"),
              _genres_udf()("imdb_genres").alias("genres"),
              F.lit("tv").alias("kind"),
              F.col("tconst").alias("imdb_id"),
              F.when(F.col("originalTitle") != F.col("primaryTitle"),
                     F.array("originalTitle")).otherwise(F.array().cast("array<string>"))
              .alias("alt_titles"),
              "runtime_minutes", "imdb_rating", "imdb_votes",
          ))
    crew = read_crew(spark, imdb_dir)
    movies, tv = _with_crew(movies, crew, "imdb_id"), _with_crew(tv, crew, "imdb_id")
    columns = [c for c in ITEM_COLUMNS if c != "popularity"]
    return movies.select(*columns).unionByName(tv.select(*columns)), matched


def current_inputs(settings: Settings, dataset: str, use_imdb: bool) -> dict:
    """What an ingest of fetched data depends on; ``data prepare`` re-ingests when it changes."""
    def marker(folder: Path) -> dict | None:
        return read_marker(folder) if is_complete(folder) else None

    imdb = marker(settings.raw_dir / IMDB_DIR) if use_imdb else None
    return {"dataset": dataset, "raw": marker(settings.raw_dir / dataset), "imdb": imdb,
            "imdb_min_votes": settings.imdb_min_votes if imdb else None}


def load_summary(settings: Settings) -> dict | None:
    path = settings.processed_dir / SUMMARY_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def dataset_label(settings: Settings) -> str:
    """Which data set the processed tables came from, for result lines."""
    summary = load_summary(settings) or {}
    return (summary.get("inputs") or {}).get("dataset") or summary.get("source", "unknown")
