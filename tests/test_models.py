"""Keeping the last N models, and rolling back only to a sound one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recommender.artifacts import (
    ITEM_FACTORS,
    current_dir,
    point_current,
    prune,
    rollback,
    versions,
)
from recommender.errors import ModelError
from tests.bot_model import write_model

ROOT = Path(__file__).resolve().parent.parent


def publish(models: Path, count: int) -> list[str]:
    return [write_model(models, trained_at=f"2026-11-2{i}T03:00:00+00:00").name
            for i in range(count)]


def corrupt(folder: Path) -> None:
    factors = np.load(folder / ITEM_FACTORS)
    factors[0, 0] = np.nan
    np.save(folder / ITEM_FACTORS, factors)


def test_versions_are_oldest_first_and_ignore_staging(tmp_path):
    names = publish(tmp_path, 3)
    (tmp_path / ".tmp-half-written").mkdir()
    assert versions(tmp_path) == sorted(names) == names


def test_rollback_steps_back_one_sound_model_at_a_time(tmp_path):
    a, b, c = publish(tmp_path, 3)
    corrupt(tmp_path / b)
    assert rollback(tmp_path) == (c, a)  # b is broken: skipped
    assert current_dir(tmp_path).name == a
    with pytest.raises(ModelError, match="no sound model older than"):
        rollback(tmp_path)
    assert current_dir(tmp_path).name == a


def test_prune_keeps_the_newest_and_always_the_current(tmp_path):
    names = publish(tmp_path, 5)
    point_current(tmp_path, names[0])  # rolled far back
    removed = prune(tmp_path, keep=2)
    assert removed == names[1:3]
    assert versions(tmp_path) == [names[0], *names[3:]]
    assert current_dir(tmp_path).name == names[0]


def run_jobs(models: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODELS_DIR": str(models),
           "DATA_DIR": str(models.parent / "data")}
    return subprocess.run([sys.executable, "-m", "jobs", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_cli_rollback_and_status(tmp_path):
    models = tmp_path / "models"
    a, b = publish(models, 2)
    done = run_jobs(models, "rollback")
    assert done.returncode == 0, done.stderr
    assert f"now points to {a} (was {b})" in done.stdout
    again = run_jobs(models, "rollback")
    assert again.returncode == 2
    assert again.stderr.startswith("error: There is no sound model older than") and \
        "Traceback" not in again.stderr
    status = run_jobs(models, "status")
    assert status.returncode == 0
    assert "Retraining: cron '0 3 * * *' (UTC)" in status.stdout
    assert "Last run: none yet" in status.stdout
    assert f"Models kept: 2 of up to 5; current {a}" in status.stdout


def test_the_airflow_example_calls_a_real_command():
    """The example DAG (Airflow is not installed here) runs `python -m jobs retrain`."""
    import ast

    from jobs.cli import EXIT, build_parser

    source = (ROOT / "jobs" / "airflow_dag.py").read_text()
    ast.parse(source)
    assert '.venv/bin/python -m jobs retrain"' in source
    assert build_parser().parse_args(["retrain"]).command == "retrain"
    assert "skip_on_exit_code=[1, 3]" in source
    assert (EXIT["rejected"], EXIT["busy"]) == (1, 3)


def test_cli_retrain_while_another_runs_exits_3(tmp_path):
    from jobs.lock import TrainingLock

    models = tmp_path / "models"
    publish(models, 1)
    with TrainingLock(models).acquire("cron"):
        done = run_jobs(models, "retrain")
    assert done.returncode == 3
    assert "A training is already running" in done.stdout


def test_cli_train_if_missing_leaves_the_model_and_the_database_alone(tmp_path):
    models = tmp_path / "models"
    publish(models, 1)
    done = run_jobs(models, "train", "--if-missing")
    assert done.returncode == 0, done.stderr
    assert "nothing to train" in done.stdout
    assert not (tmp_path / "data").exists()  # the bot's database was not even opened


def test_cli_train_says_in_one_line_when_the_database_is_unreadable(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bot.sqlite3").write_text("not a database")
    done = run_jobs(tmp_path / "models", "train")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: Cannot use the database") and "Traceback" not in \
        done.stderr


def test_serving_reads_only_what_it_shows(tmp_path):
    """Crews and runtimes were for training; the bot keeps titles, years, kinds, genres,
    alternative titles and IMDb data, each genre and kind string shared."""
    from recommender.artifacts import SERVED_FIELDS, read_artifact, write_artifact

    items = [{"item_id": i, "title": f"Film {i}", "year": 2000 + i, "genres": ["Drama"],
              "kind": "movie", "imdb_id": f"tt000000{i}", "runtime_minutes": 90,
              "directors": ["nm0000001"], "writers": ["nm0000002"], "alt_titles": ["Alt"]}
             for i in (1, 2)]
    folder = write_artifact(tmp_path, item_ids=np.array([1, 2]),
                            item_factors=np.ones((2, 3), dtype=np.float32),
                            popularity=np.array([5, 3]), mean_rating=np.array([4.0, 3.5]),
                            items=items, meta={"params": {"rank": 3}})
    read = read_artifact(folder)["items"]
    assert read[0] == {"item_id": 1, "title": "Film 1", "year": 2001, "genres": ("Drama",),
                       "kind": "movie", "imdb_id": "tt0000001", "alt_titles": ["Alt"]}
    assert set(read[1]) <= set(SERVED_FIELDS)
    assert read[0]["genres"][0] is read[1]["genres"][0]
