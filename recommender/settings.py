"""The recommender's settings, read from the environment and ``.env``.

Every path and tunable of the recommender lives here so that tests, the bot and the
jobs agree on where data, models and the database are; the chat platforms' tokens and
admins are the bot's (``bot/settings.py``), the retraining schedule and its knobs the
jobs' (``jobs/settings.py``). Environment variables win over ``.env``; :func:`env_int`,
:func:`env_float` and :func:`env_choice` read one variable the same way for all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from recommender.errors import RecommenderError

GIB = 1 << 30
DEFAULT_MOVIELENS_BASE_URL = "https://files.grouplens.org/datasets/movielens"
DEFAULT_IMDB_BASE_URL = "https://datasets.imdbws.com"


def total_memory(cgroup: Path = Path("/sys/fs/cgroup/memory.max")) -> int:
    """The memory this process may use: physical memory, or a container's lower limit."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = cgroup.read_text().strip()
    except OSError:
        return physical
    return min(physical, int(limit)) if limit.isdigit() else physical


def default_driver_memory(memory: int | None = None) -> str:
    """Spark's driver heap when SPARK_DRIVER_MEMORY is unset: half the memory, 2 to 8 GiB
    (ml-32m trains in 8; the JVM takes only what a smaller data set needs)."""
    memory = total_memory() if memory is None else memory
    return f"{max(2, min(8, memory // (2 * GIB)))}g"


def read_env() -> dict[str, str]:
    """The process environment layered over ``.env`` in the working directory."""
    values = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
    values.update(os.environ)
    return values


def env_int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    """Variable ``name`` of ``env`` as a whole number of at least ``minimum``."""
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise RecommenderError(f"{name} must be a whole number, got {raw!r}.") from None
    if value < minimum:
        raise RecommenderError(f"{name} must be at least {minimum}, got {value}.")
    return value


def env_float(env: dict[str, str], name: str, default: float) -> float:
    """Variable ``name`` of ``env`` as a finite number, zero or more."""
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise RecommenderError(f"{name} must be a number, got {raw!r}.") from None
    if not 0 <= value < float("inf"):
        raise RecommenderError(f"{name} must be zero or more, got {raw!r}.")
    return value


def env_choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    """Variable ``name`` of ``env``, lower-cased, one of ``choices`` (the first by default)."""
    value = (env.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise RecommenderError(f"{name} must be one of {', '.join(choices)}, got {value!r}.")
    return value


@dataclass(frozen=True)
class Settings:
    """Paths and knobs. Build with :meth:`from_env`; override fields in tests."""

    data_dir: Path = Path("data")
    models_dir: Path = Path("models")
    db_path: Path = Path("data/bot.sqlite3")
    dataset: str | None = None  # None: chosen by recommender.selection
    spark_master: str = "local[*]"
    spark_driver_memory: str = field(default_factory=default_driver_memory)
    imdb: bool = True  # IMDb metadata and TV shows; IMDB=off leaves them out
    imdb_min_votes: int = 5000
    movielens_base_url: str = DEFAULT_MOVIELENS_BASE_URL
    imdb_base_url: str = DEFAULT_IMDB_BASE_URL
    jdk_dir: Path = Path(".jdk")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = read_env() if env is None else env
        data_dir = Path(env.get("DATA_DIR") or "data")
        return cls(
            data_dir=data_dir,
            models_dir=Path(env.get("MODELS_DIR") or "models"),
            db_path=Path(env.get("DB_PATH") or data_dir / "bot.sqlite3"),
            dataset=(env.get("DATASET") or "").strip() or None,
            spark_master=env.get("SPARK_MASTER") or "local[*]",
            spark_driver_memory=env.get("SPARK_DRIVER_MEMORY") or default_driver_memory(),
            imdb=env_choice(env, "IMDB", ("on", "off")) == "on",
            imdb_min_votes=env_int(env, "IMDB_MIN_VOTES", 5000),
            movielens_base_url=env.get("MOVIELENS_BASE_URL") or DEFAULT_MOVIELENS_BASE_URL,
            imdb_base_url=env.get("IMDB_BASE_URL") or DEFAULT_IMDB_BASE_URL,
            jdk_dir=Path(env.get("JDK_DIR") or ".jdk"),
        )

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild these settings in a child process (no secrets: the
        chat settings are not among them; the retraining knobs are the jobs')."""
        return {
            "DATA_DIR": str(self.data_dir), "MODELS_DIR": str(self.models_dir),
            "DB_PATH": str(self.db_path), "DATASET": self.dataset or "",
            "IMDB": "on" if self.imdb else "off",
            "SPARK_MASTER": self.spark_master, "SPARK_DRIVER_MEMORY": self.spark_driver_memory,
            "IMDB_MIN_VOTES": str(self.imdb_min_votes),
            "MOVIELENS_BASE_URL": self.movielens_base_url, "IMDB_BASE_URL": self.imdb_base_url,
            "JDK_DIR": str(self.jdk_dir),
        }

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def processed_dir(self) -> Path:
        return self.data_dir / "processed"

    @property
    def downloads_dir(self) -> Path:
        return self.data_dir / "downloads"
