"""One rule for what a star rating means: what the bot stored, training and the retraining
gate agree with :func:`recommender.preferences.opinion` on every half star (no Spark
needed)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.bot_data import read_bot_ratings
from jobs.retrain import gate_data
from recommender.preferences import HALF_STARS, SCHEMES, opinion, split, strength
from recommender.train import BOT_USER_ID_BASE, BotRatings, TrainParams, bot_preferences
from storage import Storage

ITEM_BASE = 100  # the half star s is rated on item ITEM_BASE + 2s


def item_of(stars: float) -> int:
    return ITEM_BASE + int(stars * 2)


@pytest.fixture
def rated_every_half_star(settings):
    """One bot user who rated one item with each half star, a 👍 and a 👎; and a MovieLens
    catalogue holding those items."""
    with Storage(settings.db_path) as store:
        me = store.user("telegram", "1")
        for stars in HALF_STARS:
            store.rate(me, item_of(stars), stars)
        store.like(me, 1)
        store.dislike(me, 2)
    processed = settings.processed_dir
    (processed / "ratings").mkdir(parents=True)
    (processed / "items").mkdir(parents=True)
    pq.write_table(pa.table({"user_id": pa.array([1, 1], pa.int32()),
                             "item_id": pa.array([1, 2], pa.int32()),
                             "rating": pa.array([4.0, 2.0], pa.float32()),
                             "ts": pa.array([0, 1], pa.int64())}),
                   processed / "ratings" / "part-0.parquet")
    items = [1, 2, *(item_of(s) for s in HALF_STARS)]
    pq.write_table(pa.table({"item_id": pa.array(items, pa.int32())}),
                   processed / "items" / "part-0.parquet")
    return settings, me


def test_storage_training_and_gate_read_every_half_star_alike(rated_every_half_star):
    settings, me = rated_every_half_star
    said = {stars: opinion(stars) for stars in HALF_STARS}
    assert set(said.values()) == {"like", "neutral", "dislike"}
    buttons = {1: "like", 2: "dislike"}  # 👍 and 👎 say the same as 5 and 1 stars
    expected = {**{item_of(s): o for s, o in said.items()}, **buttons}

    # What the bot stored: split() reads it exactly by opinion().
    with Storage(settings.db_path) as store:
        likes, dislikes, neutral = split(store.ratings_of(me))
    assert sorted(likes) == sorted(i for i, o in expected.items() if o == "like")
    assert sorted(dislikes) == sorted(i for i, o in expected.items() if o == "dislike")
    assert sorted(neutral) == sorted(i for i, o in expected.items() if o == "neutral")

    # Training: the bot's ratings get exactly the scheme's strengths, like MovieLens ones.
    bot = read_bot_ratings(settings.db_path)
    for scheme in SCHEMES:
        _users, items, prefs = bot_preferences(bot, scheme)
        ratings = np.array([{1: 5.0, 2: 1.0}.get(int(i), (int(i) - ITEM_BASE) / 2)
                            for i in items])
        np.testing.assert_array_equal(prefs, strength(scheme, ratings))
    _users, items, prefs = bot_preferences(bot, TrainParams().scheme)
    sign = {"like": 1.0, "neutral": 1.0, "dislike": -1.0}  # neutral: weak but positive
    assert [np.sign(p) for p in prefs] == [sign[expected[int(i)]] for i in items]
    assert TrainParams().scheme == "opinion"

    # The gate: MovieLens ratings as they are, plus every bot rating but the dislikes.
    data, n_bot, n_bot_users = gate_data(settings, bot)
    bot = data.users >= BOT_USER_ID_BASE
    assert sorted(data.items[bot].tolist()) == sorted(
        i for i, o in expected.items() if o != "dislike")
    assert n_bot == int(bot.sum()) == 7 and n_bot_users == 1  # 2.5 to 5 stars and 👍
    assert data.items[~bot].tolist() == [1, 2]  # MovieLens' own 2 stars are not dropped


def test_a_three_star_bot_rating_means_the_same_everywhere(rated_every_half_star):
    settings, me = rated_every_half_star
    three = item_of(3.0)
    with Storage(settings.db_path) as store:
        likes, dislikes, neutral = split(store.ratings_of(me))
        assert three not in likes and three not in dislikes and three in neutral
    bot = read_bot_ratings(settings.db_path)
    _users, items, prefs = bot_preferences(bot, TrainParams().scheme)
    assert prefs[items == three].tolist() == [0.5]  # weak interest, not a like
    data, _n, _u = gate_data(settings, bot)
    assert three in data.items.tolist()


def test_split_is_the_rule_for_what_a_user_told_the_bot():
    rated = [(9, None), (8, 5.0), (7, 0.5), (6, 2.0), (5, 2.5), (4, 3.0), (3, 3.5),
             (2, 1.0), (1, 5.0)]
    assert split(rated) == ([8, 3, 1], [9, 7, 6, 2], [5, 4])  # input order kept
    assert split([]) == ([], [], [])
    assert split(iter([(1, None), (1, 2.0), (2, 4)])) == ([2], [1], [])  # a dislike once
    for stars in HALF_STARS:
        likes, dislikes, neutral = split([(1, stars)])
        assert {"like": likes, "dislike": dislikes, "neutral": neutral}[opinion(stars)] == [1]


def test_the_bot_database_reads_as_arrays_numbered_per_platform_user(settings):
    assert len(read_bot_ratings(settings.db_path)) == 0  # no file: nothing, none created
    assert not settings.db_path.exists()
    with Storage(settings.db_path) as store:
        ann, bob = store.user("telegram", 2**63 - 1), store.user("discord", "2")
        store.like(bob, 10)
        store.rate(ann, 11, 2.5)
        store.like(ann, 12)
        store.not_interested(bob, 13)  # not a rating: never trained on
    bot = read_bot_ratings(settings.db_path)
    assert bot.users.tolist() == [BOT_USER_ID_BASE, BOT_USER_ID_BASE + 1,
                                  BOT_USER_ID_BASE + 1]  # by first appearance
    assert bot.items.tolist() == [10, 11, 12] and bot.ratings.tolist() == [5.0, 2.5, 5.0]
    assert bot.users.dtype == bot.items.dtype == np.int64 and len(bot.ts) == 3
    assert bot.n_users == 2 and len(bot.where(bot.items > 10)) == 2
    with pytest.raises(ValueError, match="one user, item"):
        BotRatings([1], [2, 3], [4.0])
