"""The cold-items protocol's pieces that need no Spark: the split, the shares, and what
the feature report says about data without IMDb."""

from __future__ import annotations

import numpy as np

from recommender.colditems import (
    MIN_RATINGS,
    cold_items_split,
    informative_groups,
    liked_sets,
    mixed_shares,
)
from recommender.evaluate import Ratings


def ratings(n_films: int = 60, n_users: int = 50, seed: int = 1) -> Ratings:
    rng = np.random.default_rng(seed)
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_films))
    keep = rng.random(users.shape) < np.linspace(0.1, 0.9, n_films)[:, None]
    users, items = users[keep], items[keep]
    return Ratings(users, items, rng.integers(1, 6, len(users)).astype(float),
                   np.arange(len(users)))


def test_split_hides_whole_films_with_enough_ratings_in_two_disjoint_halves():
    data = ratings()
    split = cold_items_split(data)
    validation, test = split.halves["validation"], split.halves["test"]
    counts = dict(zip(*np.unique(data.items, return_counts=True), strict=True))
    hidden = np.concatenate([validation, test])
    eligible = sum(n >= MIN_RATINGS for n in counts.values())
    assert len(hidden) == round(0.1 * eligible) and len(set(hidden)) == len(hidden)
    assert not set(validation) & set(test) and abs(len(validation) - len(test)) <= 1
    assert all(counts[i] >= MIN_RATINGS for i in hidden)
    # Every rating of a hidden film is hidden; none reaches training or the kept-back set.
    assert not np.isin(split.train.items, hidden).any()
    assert not np.isin(split.kept_back.items, hidden).any()
    assert set(split.hidden.items.tolist()) == set(hidden.tolist())
    assert len(split.train) + len(split.kept_back) + len(split.hidden) == len(data)
    again = cold_items_split(data)  # seeded
    assert np.array_equal(again.halves["test"], test)


def test_shares_are_pooled_over_users():
    ranked = {1: [10, 11, 12, 13], 2: [10, 20, 21, 22]}
    relevant = {1: {10, 30}, 2: {40, 41, 42}}
    shares = mixed_shares(ranked, relevant, np.array([10, 40]))
    assert shares == {"hidden_share_top10": 2 / 8, "hidden_share_likes": 2 / 5}


def test_liked_sets_follow_the_rating_rule():
    data = Ratings(np.array([1, 1, 2]), np.array([5, 6, 5]), np.array([4.0, 2.0, 3.0]),
                   np.zeros(3))
    assert liked_sets(data) == {1: {5}}
    assert liked_sets(data, np.array([6])) == {}


def test_without_imdb_only_genres_and_years_inform():
    items = [{"item_id": i, "genres": [g], "year": 1980 + 10 * i, "kind": "movie"}
             for i, g in enumerate(["Drama", "Comedy", "Drama"])]
    assert informative_groups(items) == ["decade", "genre", "year"]
    items[0].update(directors=["nm1"], writers=["nm2"])
    items[1].update(directors=["nm1"], imdb_votes=10, imdb_rating=7.0)
    assert informative_groups(items) == ["decade", "genre", "imdb", "person", "year"]
