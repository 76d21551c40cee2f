"""Shared fixtures: one Spark session for the whole run, and per-test settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from recommender.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings rooted in a fresh temporary folder; the real .jdk is kept."""
    base = Settings.from_env({})
    return replace(base, data_dir=tmp_path / "data", models_dir=tmp_path / "models",
                   db_path=tmp_path / "data" / "bot.sqlite3",
                   jdk_dir=Path(__file__).resolve().parent.parent / ".jdk")


@pytest.fixture(scope="session")
def spark():
    """A local Spark session shared by every Spark test (cold start is ~5 s)."""
    from recommender.spark import start_spark

    session = start_spark(replace(Settings.from_env({}), spark_master="local[2]",
                                  spark_driver_memory="2g"), app_name="tests")
    yield session
    session.stop()
