"""One settings object for the whole project, read from the environment and ``.env``.

Every path and tunable lives here so that tests, the bot and the jobs agree on where
data, models and the database are. Environment variables win over ``.env``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from recommender.errors import RecommenderError

DEFAULT_MOVIELENS_BASE_URL = "https://files.grouplens.org/datasets/movielens"
DEFAULT_IMDB_BASE_URL = "https://datasets.imdbws.com"


def _env() -> dict[str, str]:
    """The process environment layered over ``.env`` in the working directory."""
    values = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
    values.update(os.environ)
    return values


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise RecommenderError(f"{name} must be a whole number, got {raw!r}.") from None


@dataclass(frozen=True)
class Settings:
    """Paths and knobs. Build with :meth:`from_env`; override fields in tests."""

    data_dir: Path = Path("data")
    models_dir: Path = Path("models")
    db_path: Path = Path("data/bot.sqlite3")
    dataset: str = "ml-100k"
    spark_master: str = "local[*]"
    spark_driver_memory: str = "4g"
    imdb_min_votes: int = 5000
    movielens_base_url: str = DEFAULT_MOVIELENS_BASE_URL
    imdb_base_url: str = DEFAULT_IMDB_BASE_URL
    jdk_dir: Path = Path(".jdk")
    # Secrets: kept out of repr so they never reach a log line or a traceback.
    telegram_token: str | None = field(default=None, repr=False)
    telegram_api_base_url: str | None = None
    admin_ids: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = _env() if env is None else env
        data_dir = Path(env.get("DATA_DIR") or "data")
        return cls(
            data_dir=data_dir,
            models_dir=Path(env.get("MODELS_DIR") or "models"),
            db_path=Path(env.get("DB_PATH") or data_dir / "bot.sqlite3"),
            dataset=env.get("DATASET") or "ml-100k",
            spark_master=env.get("SPARK_MASTER") or "local[*]",
            spark_driver_memory=env.get("SPARK_DRIVER_MEMORY") or "4g",
            imdb_min_votes=_int(env, "IMDB_MIN_VOTES", 5000),
            movielens_base_url=env.get("MOVIELENS_BASE_URL") or DEFAULT_MOVIELENS_BASE_URL,
            imdb_base_url=env.get("IMDB_BASE_URL") or DEFAULT_IMDB_BASE_URL,
            jdk_dir=Path(env.get("JDK_DIR") or ".jdk"),
            telegram_token=(env.get("TELEGRAM_TOKEN") or "").strip() or None,
            telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL") or None,
            admin_ids=tuple(a for a in (env.get("ADMIN_IDS") or "").replace(",", " ").split()),
        )

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def processed_dir(self) -> Path:
        return self.data_dir / "processed"

    @property
    def downloads_dir(self) -> Path:
        return self.data_dir / "downloads"
