"""The commands `make run` chains, run as a user would: separate processes, real Spark."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import datafiles
from tests.httpserver import FileServer

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.spark


def run(args, env, cwd):
    done = subprocess.run([sys.executable, "-m", "recommender", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_prepare_and_train_are_idempotent(tmp_path):
    body = datafiles.csv_zip(tmp_path / "fixture.zip").read_bytes()
    with FileServer() as server:
        server.files["/ml-latest-small.zip"] = body
        server.files["/ml-latest-small.zip.md5"] = datafiles.md5_of(body).encode()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MOVIELENS_BASE_URL": server.url,
               "DATASET": "ml-latest-small", "DATA_DIR": str(tmp_path / "data"),
               "MODELS_DIR": str(tmp_path / "models"), "SPARK_DRIVER_MEMORY": "1g",
               "JDK_DIR": str(ROOT / ".jdk")}
        out = run(["data", "prepare"], env, tmp_path)
        assert "ratings: read 13, kept 8, rejected 5" in out
        assert "users: 3   movies: 6" in out
        out = run(["data", "prepare"], env, tmp_path)
        assert "nothing to do" in out and "up to date" in out
        assert len([r for r in server.requests if r[0].endswith(".zip")]) == 1

    out = run(["train", "--if-missing", "--rank", "4", "--max-iter", "2"], env, tmp_path)
    assert "published" in out
    out = run(["train", "--if-missing"], env, tmp_path)
    assert "nothing to train" in out
    out = run(["data", "list"], env, tmp_path)
    assert "ml-latest-small" in out and "fetched" in out

    out = run(["evaluate", "--protocol", "all"], env, tmp_path)
    lines = [json.loads(line) for line in out.splitlines()]
    classic = [(x["protocol"], x["model"]) for x in lines if x["protocol"] != "new-user"]
    assert classic == [
        ("recommenders", "spark-als"), ("recommenders", "spark-als+mmr0.3"),
        ("recommenders", "spark-als-foldin"), ("recommenders", "popularity"),
        ("cold-start", "spark-als"), ("cold-start", "spark-als-foldin"),
        ("cold-start", "popularity"), ("cold-start", "spark-als-trained-users")]
    new_user = [x for x in lines if x["protocol"] == "new-user"]
    assert new_user[-1]["model"] == "summary"
    assert {x["model"] for x in new_user[:-1]} >= {"spark-als", "spark-als-foldin",
                                                   "popularity", "item-cosine", "ease"}
    saved = tmp_path / "models" / "current" / "evaluation" / "cold-start.jsonl"
    assert [json.loads(x) for x in saved.read_text().splitlines()] == lines[4:8]
    meta = json.loads((tmp_path / "models" / "current" / "model.json").read_text())
    # Six films cannot make any cold: the cold-items protocol says so and scores nothing.
    assert not [x for x in lines if x["protocol"] == "cold-items"]
    assert set(meta["metrics"]) == {"recommenders", "cold-start", "new-user", "cold-items"}
    assert meta["metrics"]["cold-items"] == {}
    assert set(meta["metrics"]["cold-start"]) == {"spark-als", "spark-als-foldin", "popularity",
                                                  "spark-als-trained-users"}
