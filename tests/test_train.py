"""Spark ALS training publishes a complete, versioned artifact atomically."""

import json
import os

import numpy as np
import pytest

from recommender.artifacts import current_dir, point_current, write_artifact
from recommender.errors import DatasetNotFound, ModelError
from recommender.ingest import ingest
from recommender.train import TrainParams, fit_arrays, train
from tests import datafiles

pytestmark = pytest.mark.spark


def quiet(*_args):
    pass


def test_train_publishes_artifact_and_current_pointer(spark, settings, tmp_path):
    ingest(spark, settings, source=datafiles.ml100k_zip(tmp_path / "z.zip"), say=quiet)
    folder = train(spark, settings, TrainParams(rank=4, max_iter=3), say=quiet)
    assert current_dir(settings.models_dir) == folder.resolve()
    assert os.readlink(settings.models_dir / "current") == folder.name  # relative link

    ids = np.load(folder / "item_ids.npy")
    factors = np.load(folder / "item_factors.npy")
    popularity = np.load(folder / "popularity.npy")
    assert ids.tolist() == [1, 2, 3, 4, 5, 6, 7]  # every rated item, sorted
    assert factors.dtype == np.float32 and factors.shape == (7, 4)
    assert np.isfinite(factors).all() and np.abs(factors).sum() > 0
    assert popularity.tolist() == [3, 3, 1, 1, 1, 1, 1]

    meta = json.loads((folder / "model.json").read_text())
    assert meta["params"] == {"rank": 4, "reg_param": 0.1, "alpha": 0.25, "max_iter": 3,
                              "scheme": "opinion"}
    mean_rating = np.load(folder / "mean_rating.npy")
    assert mean_rating[0] == pytest.approx((5 + 4 + 3) / 3)  # Toy Story
    assert meta["counts"]["ratings"] == 11 and meta["counts"]["users"] == 4
    assert meta["version"] == folder.name and meta["versions"]["pyspark"].startswith("4.")
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]
    assert items[1]["title"] == "The Matrix" and items[1]["genres"] == ["Action", "Sci-Fi"]


def test_same_seed_same_factors(spark, settings, tmp_path):
    ingest(spark, settings, source=datafiles.recbole_folder(tmp_path / "rb"), say=quiet)
    first = train(spark, settings, TrainParams(rank=3, max_iter=2), say=quiet)
    second = train(spark, settings, TrainParams(rank=3, max_iter=2), say=quiet)
    assert first != second and current_dir(settings.models_dir) == second.resolve()
    np.testing.assert_allclose(np.load(first / "item_factors.npy"),
                               np.load(second / "item_factors.npy"), rtol=1e-5)


def test_train_without_data_says_what_to_run(spark, settings):
    with pytest.raises(DatasetNotFound, match="data prepare"):
        train(spark, settings, say=quiet)


def test_broken_arrays_are_never_published(settings):
    ids = np.arange(3)
    with pytest.raises(ModelError, match="non-finite"):
        write_artifact(settings.models_dir, item_ids=ids,
                       item_factors=np.array([[1.0], [np.nan], [0.0]]),
                       popularity=np.ones(3), mean_rating=np.ones(3), items=[], meta={})
    with pytest.raises(ModelError, match="disagree"):
        write_artifact(settings.models_dir, item_ids=ids, item_factors=np.ones((2, 1)),
                       popularity=np.ones(3), mean_rating=np.ones(3), items=[], meta={})
    assert current_dir(settings.models_dir) is None
    assert not list(settings.models_dir.glob("*/model.json"))


def test_current_pointer_only_moves_to_complete_models(settings):
    good = write_artifact(settings.models_dir, item_ids=np.arange(2),
                          item_factors=np.ones((2, 2)), popularity=np.ones(2),
                          mean_rating=np.ones(2), items=[], meta={})
    (settings.models_dir / "half-written").mkdir()
    with pytest.raises(ModelError):
        point_current(settings.models_dir, "half-written")
    assert current_dir(settings.models_dir) == good.resolve()


def test_bot_ratings_join_training_in_their_own_user_range(spark, settings, tmp_path):
    from jobs.bot_data import read_bot_ratings
    from recommender.train import BOT_USER_ID_BASE, bot_preferences
    from storage import Storage

    ingest(spark, settings, source=datafiles.ml100k_zip(tmp_path / "z.zip"), say=quiet)
    store = Storage(settings.db_path)
    for n in range(30):  # thirty Telegram users with 64-bit ids love item 7
        uid = store.user("telegram", str(2**62 + n))
        store.like(uid, 7)
    store.dislike(store.user("discord", str(2**63 - 1)), 1)
    store.like(store.user("discord", "5"), 999_999)  # not in this catalogue: left out
    store.close()

    bot = read_bot_ratings(settings.db_path)
    users, items, prefs = bot_preferences(bot, TrainParams().scheme)
    assert users.min() == BOT_USER_ID_BASE and users.max() < BOT_USER_ID_BASE + 100
    assert prefs[items == 1].tolist() == [-1.0]  # a dislike is a confident negative
    assert set(prefs[items == 7].tolist()) == {1.0}
    # No rule of the bot's own: another scheme reads 👎 (1 star) as it reads MovieLens'.
    _u, items, prefs = bot_preferences(bot, "binary")
    assert prefs[items == 1].tolist() == [1.0]

    folder = train(spark, settings, TrainParams(rank=4, max_iter=3), say=quiet, extra=bot)
    meta = json.loads((folder / "model.json").read_text())
    assert meta["counts"]["bot_ratings"] == 31 and meta["counts"]["bot_users"] == 31
    assert 7 in np.load(folder / "item_ids.npy").tolist()
    # Training reads no database of its own: without the arrays, no bot ratings.
    alone = train(spark, settings, TrainParams(rank=4, max_iter=3), say=quiet)
    assert json.loads((alone / "model.json").read_text())["counts"]["bot_ratings"] == 0


def test_many_iterations_do_not_overflow_the_stack(spark):
    """ALS past ~20 iterations needs a checkpoint directory (start_spark sets one).

    Measured on this very fit in a session without a checkpoint directory: 20 iterations
    pass, 21 and more die of StackOverflowError; 30 is well past that.
    """
    assert spark.sparkContext.getCheckpointDir()
    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 60, 600), rng.integers(0, 80, 600)
    fit = fit_arrays(spark, users, items, np.full(600, 4.0), TrainParams(rank=4, max_iter=30))
    assert np.isfinite(fit.item_factors).all()


def test_a_rated_tv_show_gets_trained_factors_and_collaborative_picks(spark, settings,
                                                                      tmp_path):
    """IMDb TV shows start with content-predicted factors; once bot users rate one,
    retraining gives it trained factors and it is recommended on collaborative evidence."""
    from recommender.serve import Recommender
    from recommender.train import BOT_USER_ID_BASE, BotRatings
    from tests.test_ingest import add_imdb

    add_imdb(settings)
    ingest(spark, settings, source=datafiles.ml100k_zip(tmp_path / "z.zip"), say=quiet)
    breaking_bad, band_of_brothers = 100_000_000 + 903747, 100_000_000 + 185906
    params = TrainParams(rank=4, max_iter=5)
    before = Recommender.load(train(spark, settings, params, say=quiet))
    row = before.catalogue.row
    assert before.catalogue.predicted[row[breaking_bad]]  # nobody rated it yet
    assert not before.catalogue.trained[row[breaking_bad]]

    # Six bot users each like The Matrix (2) and Breaking Bad; nobody rates the other shows.
    users = np.repeat(BOT_USER_ID_BASE + np.arange(6), 2)
    bot = BotRatings(users, np.tile([2, breaking_bad], 6), np.full(12, 5.0))
    folder = train(spark, settings, params, say=quiet, extra=bot)
    assert json.loads((folder / "model.json").read_text())["counts"]["bot_ratings"] == 12
    assert breaking_bad in np.load(folder / "item_ids.npy").tolist()  # kept, not filtered
    after = Recommender.load(folder)
    cat = after.catalogue
    assert cat.trained[row[breaking_bad]] and not cat.predicted[row[breaking_bad]]
    assert cat.predicted[row[band_of_brothers]] and not cat.trained[row[band_of_brothers]]
    picks = after.recommend([2], n=2)
    show = next(p for p in picks if p.item_id == breaking_bad)
    assert show.source == "collaborative" and show.kind == "tv"
    assert show.because and show.because[0][0] == 2  # because you liked The Matrix
