"""Known answers for every scorer, the ranker and the group aggregation.

Tiny hand-built models whose right numbers are worked out in the comments; the factors
are dyadic fractions, so float32 products are exact and most checks are equalities.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender import group, ranker
from recommender.catalogue import Catalogue
from recommender.config import ServingConfig
from recommender.neighbours import Neighbours
from recommender.scorers import (
    CONTENT_WEIGHT,
    ContentScorer,
    FoldInScorer,
    NeighbourScorer,
    PopularityScorer,
    Scores,
    ServingRule,
)
from recommender.serve import Recommender

# Five films with 2-D factors and one TV show without. Popularity: the most rated has 40.
FILMS = {1: (1.0, 0.0), 2: (0.5, 0.5), 3: (0.0, 1.0), 4: (1.0, 0.5), 5: (0.5, 0.0)}
POPULARITY = np.array([10, 40, 20, 30, 40])  # p = 0.25, 1, 0.5, 0.75, 1
GENRES = {1: ["Sci-Fi"], 2: ["Drama"], 3: ["Romance"], 4: ["Sci-Fi", "Drama"], 5: ["Sci-Fi"],
          9: ["Sci-Fi"]}
ITEMS = [{"item_id": i, "title": f"Film {i}", "year": 2000, "genres": GENRES[i],
          "kind": "movie"} for i in FILMS] + [
    {"item_id": 9, "title": "Show 9", "year": 2000, "genres": ["Sci-Fi"], "kind": "tv"}]
PARAMS = {"rank": 2, "reg_param": 0.1, "alpha": 1.0, "scheme": "binary"}


# The knobs the known answers below are worked out for (not the tuned defaults).
KNOWN = ServingConfig(popularity_weight=0.25, cooccurrence_weight=0.0, dislike_weight=0.5,
                      fold_in_from=0)


def model(serving: ServingConfig | None = None) -> Recommender:
    serving = serving or KNOWN
    return Recommender(item_ids=np.array(list(FILMS)),
                       item_factors=np.array(list(FILMS.values()), dtype=np.float32),
                       popularity=POPULARITY, mean_rating=np.full(5, 4.0, dtype=np.float32),
                       items=ITEMS, params=PARAMS, serving=serving)


def scores_of(scores: Scores, rec: Recommender, item_ids) -> list[float]:
    return [float(scores.values[rec.row[i]]) for i in item_ids]


def assert_decomposes(scores: Scores, rows: np.ndarray, **tolerance) -> None:
    """Every score is the sum of its shares plus the remainder."""
    totals = [sum(share for _, share in line) for line in scores.shares(rows)]
    assert np.asarray(totals) + scores.remainder(rows) == pytest.approx(
        scores.values[rows], **tolerance)


# ----- neighbours --------------------------------------------------------------------


def test_neighbours_known_answer():
    rec = model(replace(KNOWN, popularity_weight=0.25, dislike_weight=0.5))
    taste = rec.catalogue.taste([1], [3])
    scores = rec.rule.neighbours.score(taste)
    # v = y1 - 0.5·y3 = (1, -0.5); y_jᵀv = 1, 0.25, -0.5, 0.75, 0.5; M = 1.
    # Prior 0.25·p = 0.0625, 0.25, 0.125, 0.1875, 0.25.
    assert scores_of(scores, rec, [1, 2, 3, 4, 5, 9]) == [1.0625, 0.5, -0.375, 0.9375, 0.75,
                                                          0.0]
    # Film 4: Film 1 gives y1ᵀy4 = 1, Film 3 takes 0.5·y3ᵀy4 = 0.25, the prior adds 0.1875.
    row = np.array([rec.row[4]])
    assert scores.shares(row) == [[(1, 1.0), (3, -0.25)]]
    assert scores.remainder(row).tolist() == [0.1875]
    rows = np.arange(len(rec.ids))
    totals = [sum(s for _, s in line) for line in scores.shares(rows)]
    assert (np.asarray(totals) + scores.remainder(rows)).tolist() == scores.values.tolist()


def cosines() -> Neighbours:
    """Published like cosines: Film 1's neighbours are Film 4 (0.8) and Film 2 (0.4)."""
    return Neighbours.from_triples(np.array([1, 1, 4]), np.array([4, 2, 1]),
                                   np.array([0.8, 0.4, 0.8]), np.array(list(FILMS)))


def test_neighbours_blend_in_the_published_like_cosines_known_answer():
    rec = Recommender(item_ids=np.array(list(FILMS)),
                      item_factors=np.array(list(FILMS.values()), dtype=np.float32),
                      popularity=POPULARITY, mean_rating=np.full(5, 4.0, dtype=np.float32),
                      items=ITEMS, params=PARAMS, neighbours=cosines(),
                      serving=ServingConfig(popularity_weight=0.0, cooccurrence_weight=0.5))
    scores = rec.rule.neighbours.score(rec.catalogue.taste([1]))
    # Factors: y_jᵀy1 = 1, 0.5, 0, 1, 0.5 (M = 1); cosines c = 0, 0.4, 0, 0.8, 0 (top 0.8).
    # 0.5·factors + 0.5·c/0.8 = 0.5, 0.5, 0, 1, 0.25; the TV show has neither.
    assert scores_of(scores, rec, [1, 2, 3, 4, 5, 9]) == [0.5, 0.5, 0.0, 1.0, 0.25, 0.0]
    assert scores.shares(np.array([rec.row[4], rec.row[2]])) == [[(1, 1.0)], [(1, 0.5)]]
    assert [r.item_id for r in rec.recommend([1], n=2, kind="movie")] == [4, 2]
    # Without published cosines the weight has nothing to blend: factors alone.
    alone = model(replace(KNOWN, popularity_weight=0.0, cooccurrence_weight=0.5))
    assert scores_of(alone.rule.neighbours.score(alone.catalogue.taste([1])), alone,
                     [2, 4]) == [0.5, 1.0]


def test_a_neutral_rating_is_weak_interest_by_the_one_rule():
    rec = Recommender(item_ids=np.array(list(FILMS)),
                      item_factors=np.array(list(FILMS.values()), dtype=np.float32),
                      popularity=POPULARITY, mean_rating=np.full(5, 4.0, dtype=np.float32),
                      items=ITEMS, params={**PARAMS, "scheme": "opinion"},
                      serving=ServingConfig(popularity_weight=0.0))
    scores = rec.rule.neighbours.score(rec.catalogue.taste([1], neutral=[3]))
    # "opinion": a 3 has half a like's strength, so v = y1 + 0.5·y3 = (1, 0.5); M = 1.25.
    assert scores_of(scores, rec, [2, 4]) == pytest.approx([0.6, 1.0])
    [[(first, a), (second, b)]] = scores.shares(np.array([rec.row[2]]))
    assert (first, second) == (1, 3) and (a, b) == pytest.approx((0.4, 0.2))
    assert 3 not in [r.item_id for r in rec.recommend([1], neutral=[3], n=5)]


def test_neighbours_recommend_with_because_and_a_tv_show_on_content():
    rec = model()
    results = rec.recommend([1], [3], n=4)
    # Show 9 (no factors) shares Film 1's genre and year: content 1·1·(quality 4.0)/5 = 0.8,
    # at CONTENT_WEIGHT of the best film's 0.9375.
    assert [r.item_id for r in results] == [4, 5, 9, 2]
    assert [r.score for r in results] == pytest.approx(
        [0.9375, 0.75, CONTENT_WEIGHT * 0.9375 * 0.8, 0.5])
    assert [r.source for r in results] == ["collaborative", "collaborative", "content",
                                           "collaborative"]
    assert results[0].because == ((1, 1.0),)  # positive shares only: Film 3's -0.25 is not
    assert results[2].because == ((1, pytest.approx(CONTENT_WEIGHT * 0.9375 * 0.8)),)
    assert rec.titles_of([1, 424242]) == ["Film 1", "424242"]


def test_explain_is_relative_to_the_best_item():
    rec = model()
    # Of every film, Film 1 (liked) scores best: 1.0625. Film 4: 0.9375 of it.
    explained = rec.explain([1], [3], 4)
    assert explained.score == pytest.approx(0.9375 / 1.0625, abs=1e-6)
    assert explained.because == ((1, pytest.approx(1 / 1.0625)),)
    show = rec.explain([1], [3], 9)  # no factors: content at full weight
    assert (show.source, show.score) == ("content", pytest.approx(0.8))
    assert rec.explain([], [], 4).source == "popular"
    assert rec.explain([1], [], 424242) is None


def test_a_dislike_pushes_its_neighbours_down():
    rec = model()
    plain = {r.item_id: r.score for r in rec.recommend([1], n=5)}
    disliked = {r.item_id: r.score for r in rec.recommend([1], [3], n=5)}
    # Without the dislike v = (1, 0): Film 2 = 0.5 + 0.25, Film 4 = 1 + 0.1875.
    assert (plain[2], plain[4]) == (0.75, 1.1875)
    assert (disliked[2], disliked[4]) == (0.5, 0.9375)  # each lost 0.5·y3ᵀy_j = 0.25
    assert plain[5] == disliked[5] == 0.75  # Film 5 ⟂ Film 3: untouched
    # A heavier dislike pushes harder.
    harder = {r.item_id: r.score for r in model(replace(KNOWN, dislike_weight=1.0)).recommend(
        [1], [3], n=5)}
    assert harder[2] == 0.25


def test_the_popularity_prior_changes_the_order_as_its_weight_rises():
    def order(weight: float) -> list[int]:
        return [r.item_id for r in model(replace(KNOWN, popularity_weight=weight)).recommend(
            [1], [3], n=3, kind="movie")]

    # y_jᵀv: Film 4 0.75, Film 5 0.5, Film 2 0.25; p: 0.75, 1, 1.
    assert order(0.0) == [4, 5, 2]
    assert order(0.25) == [4, 5, 2]
    # β = 2: Film 5 0.5 + 2 = 2.5; Films 2 and 4 tie at 2.25, Film 2 first by id.
    assert order(2.0) == [5, 2, 4]


def test_dislikes_alone_or_no_factors_give_neighbours_nothing_to_go_on():
    rec = model()
    assert rec.rule.neighbours.score(rec.catalogue.taste([], [3])) is None
    assert rec.rule.neighbours.score(rec.catalogue.taste([9])) is None  # no factors
    assert rec.recommend([], [3], n=1)[0].source == "popular"


# ----- the exact fold-in -------------------------------------------------------------


def fold_in_model() -> Recommender:
    # y1 = (1, 0), y2 = (0, 1), y3 = (1, 1): YᵀY = [[2, 1], [1, 2]].
    return Recommender(item_ids=np.array([1, 2, 3]),
                       item_factors=np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32),
                       popularity=np.ones(3), mean_rating=np.full(3, 4.0), items=[],
                       params=PARAMS, serving=ServingConfig(scorer="fold-in"))


def test_fold_in_known_answer():
    rec = fold_in_model()
    # Like Film 1 (binary: strength 1, c = alpha·1 = 1):
    # A = YᵀY + c·y1y1ᵀ + 0.1·1·I = [[3.1, 1], [1, 2.1]], b = (1 + c)·y1 = (2, 0),
    # det A = 3.1·2.1 - 1 = 5.51, x = A⁻¹b = (2·2.1, -2) / 5.51.
    x = rec.user_vector_for([1])
    assert x == pytest.approx(np.array([4.2, -2.0]) / 5.51)
    assert rec.fold_in([1], [1.0]) == pytest.approx(x)
    assert rec.scores(x) == pytest.approx(np.array([4.2, -2.0, 2.2]) / 5.51)
    # Served relative to the best allowed (Film 3, 2.2/5.51): Film 2 is -2/2.2.
    results = rec.recommend([1], n=2)
    assert [(r.item_id, r.score) for r in results] == [(3, 1.0),
                                                       (2, pytest.approx(-2 / 2.2, abs=1e-6))]
    assert results[0].because == ((1, pytest.approx(1.0)),)


def test_fold_in_shares_add_up_to_the_score():
    rec = fold_in_model()
    scores = rec.rule.fold_in.score(rec.catalogue.taste([1, 2]))
    # Likes 1 and 2: A = [[3.2, 1], [1, 3.2]], det 9.24, b = (2, 2), x = (2, 2)/4.2.
    # Film 3: y3ᵀx = 4/4.2; each like's share 2·y3ᵀA⁻¹y_i = 2·(3.2 - 1)/9.24 = 4.4/9.24.
    row = np.array([2])
    assert scores.values[2] == pytest.approx(4 / 4.2)
    assert scores.shares(row) == [[(1, pytest.approx(4.4 / 9.24)),
                                   (2, pytest.approx(4.4 / 9.24))]]
    assert scores.remainder(row).tolist() == [0.0]
    assert_decomposes(scores, np.arange(3), rel=1e-6)
    # Rescaling keeps the decomposition on the new scale.
    assert_decomposes(scores.rescaled(times=3.0, over=7.0), np.arange(3), rel=1e-6)


def test_fold_in_from_switches_rules_with_enough_likes():
    mixed = model(replace(KNOWN, fold_in_from=2))
    fold_in, neighbours = model(replace(KNOWN, scorer="fold-in")), model()
    rule = mixed.rule
    assert rule.collaborative_for(mixed.catalogue.taste([1])) is rule.neighbours
    # Likes alone never switch, however many: the neighbours serve people who only like.
    assert rule.collaborative_for(mixed.catalogue.taste([1, 2, 4])) is rule.neighbours
    # Two rated titles, one of them not a like (a dislike or a neutral rating): fold-in.
    assert rule.collaborative_for(mixed.catalogue.taste([1], [3])) is rule.fold_in
    assert rule.collaborative_for(mixed.catalogue.taste([1], neutral=[5])) is rule.fold_in
    assert rule.collaborative_for(mixed.catalogue.taste([], [3])) is rule.neighbours
    assert mixed.recommend([1, 2], n=3) == neighbours.recommend([1, 2], n=3)
    assert mixed.recommend([1, 2], [3], n=3) == fold_in.recommend([1, 2], [3], n=3)


# ----- content and popularity --------------------------------------------------------


def content_catalogue() -> Catalogue:
    # No ratings anywhere: quality is the global mean 3.5 for all, quality/5 = 0.7.
    items = [{"item_id": 1, "genres": ["Drama"], "year": 2000},
             {"item_id": 2, "genres": ["Comedy"], "year": 2000},
             {"item_id": 3, "genres": ["Comedy", "Drama"], "year": 2000},
             {"item_id": 4, "genres": ["Drama"], "year": 2015},
             {"item_id": 5, "genres": ["Horror"], "year": 2000},
             {"item_id": 6, "genres": ["Drama"]}]
    return Catalogue(np.array([], dtype=np.int64), np.zeros((0, 2), dtype=np.float32),
                     np.zeros(0), np.zeros(0), items)


def test_content_known_answer():
    cat = content_catalogue()
    scores = ContentScorer(cat).score(cat.taste([1, 2]))
    # Profile (Comedy, Drama) = (1, 1), |profile| = √2; mean liked year 2000.
    # Film 3: unit (1, 1)/√2, genre 1, era 1 → 0.7, half from each like.
    # Film 4: genre 1/√2, era e^(-15/15) → 0.7/(√2·e), all from Film 1.
    # Film 5: no shared genre → 0. Film 6: no year, era 0.5 → 0.35/√2.
    expected = [0.7, 0.7 / (math.sqrt(2) * math.e), 0.0, 0.35 / math.sqrt(2)]
    assert scores.values[2:].tolist() == pytest.approx(expected)
    assert scores.shares(np.array([2, 3])) == [
        [(1, pytest.approx(0.35)), (2, pytest.approx(0.35))],
        [(1, pytest.approx(expected[1])), (2, 0.0)]]
    assert_decomposes(scores, np.arange(6), rel=1e-6)
    assert scores.because(np.array([3]), 2) == {3: ((1, pytest.approx(expected[1])),)}
    # Only some rows: the same scores there, 0 elsewhere.
    some = ContentScorer(cat).score(cat.taste([1, 2]), np.array([3]))
    assert some.values[3] == scores.values[3] and some.values[2] == 0.0
    assert ContentScorer(cat).score(cat.taste([])) is None


def test_popularity_known_answer():
    # 50 ratings each, means 5 and 3: global mean 4; damped (5·50 + 4·50)/100 = 4.5 and 3.5.
    cat = Catalogue(np.array([1, 2]), np.zeros((2, 2), dtype=np.float32), np.array([50, 50]),
                    np.array([5.0, 3.0]), [])
    scores = PopularityScorer(cat).score(cat.taste([]))
    assert scores.values.tolist() == pytest.approx([0.9, 0.7])
    rows = np.array([0, 1])
    assert scores.shares(rows) == [[], []]
    assert scores.remainder(rows).tolist() == scores.values.tolist()  # all prior
    assert scores.because(rows, 2) == {0: (), 1: ()}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["neighbours", "fold-in", "blend"]))
def test_every_score_decomposes_on_random_models(seed, scorer):
    rng = np.random.default_rng(seed)
    n = 30
    items = [{"item_id": i, "genres": [str(g) for g in rng.choice(5, 2)],
              "year": int(rng.integers(1950, 2020))} for i in range(n + 5)]
    pairs = rng.integers(0, n, (2, 120))
    links = Neighbours.from_triples(pairs[0], pairs[1], rng.uniform(0, 1, 120), np.arange(n))
    serving = (ServingConfig(cooccurrence_weight=0.6) if scorer == "blend"
               else ServingConfig(scorer=scorer))
    rec = Recommender(item_ids=np.arange(n), popularity=rng.integers(0, 100, n),
                      item_factors=rng.standard_normal((n, 4)).astype(np.float32),
                      mean_rating=rng.uniform(1, 5, n), items=items, params=PARAMS,
                      serving=serving, neighbours=links)
    likes = rng.choice(n + 5, 3, replace=False).tolist()
    dislikes = [i for i in rng.choice(n, 2, replace=False).tolist() if i not in likes]
    taste = rec.catalogue.taste(likes, dislikes)
    collaborative, relative = rec.rule.single(taste)
    assert relative == (scorer == "fold-in")
    rows = np.arange(len(rec.ids))
    for scores in (collaborative, rec.rule.content.score(taste),
                   rec.rule.popularity.score(taste)):
        if scores is not None:
            assert_decomposes(scores, rows, rel=1e-4, abs=1e-5)
    for r in rec.recommend(likes, dislikes, n=10):
        assert not {r.item_id} & set(likes + dislikes)
        assert len(r.because) <= 2 and all(share > 0 for _, share in r.because)


# ----- the ranker --------------------------------------------------------------------


def test_top_n_breaks_ties_by_item_id():
    ids = np.array([5, 40, 30, 20, 1])
    score = np.array([1.0, 2.0, 2.0, 2.0, 0.0])
    everything = np.ones(5, dtype=bool)
    assert ranker.top_n(score, everything, 3, ids).tolist() == [3, 2, 1]  # ids 20, 30, 40
    assert ranker.top_n(score, everything, 2, ids).tolist() == [3, 2]  # partial selection
    assert ranker.top_n(score, everything, 9, ids).tolist() == [3, 2, 1, 0, 4]
    allowed = np.array([True, True, False, False, True])
    assert ranker.top_n(score, allowed, 2, ids).tolist() == [1, 0]


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 3000), k=st.integers(0, 60), seed=st.integers(0, 2**32 - 1),
       levels=st.sampled_from([3, 50, 0]), share=st.sampled_from([0.002, 0.05, 0.5, 1.0]))
def test_top_n_is_the_k_best_by_score_then_id(n, k, seed, levels, share):
    # The sampled threshold must never change the answer: compare with a full sort, with
    # many ties (few score levels), few allowed rows, and k beyond what is allowed.
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(10 * n, n, replace=False))
    score = rng.integers(0, levels, n).astype(float) if levels else rng.standard_normal(n)
    allowed = rng.random(n) < share
    rows = np.flatnonzero(allowed)
    expected = rows[np.lexsort((ids[rows], -score[rows]))][:k]
    assert ranker.top_n(score, allowed, k, ids).tolist() == expected.tolist()


def test_mmr_picks_a_diverse_second_item():
    # Rows 0 and 1 point the same way, row 2 elsewhere; scores 1, 0.95, 0.8.
    cat = Catalogue(np.array([1, 2, 3]),
                    np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32), np.ones(3),
                    np.full(3, 4.0), [])
    score, pool = np.array([1.0, 0.95, 0.8]), np.arange(3)
    assert ranker.mmr(pool, score, 3, 0.0, cat).tolist() == [0, 1, 2]
    # Diversity 0.5, second pick: row 1 0.5·0.95 - 0.5·1 = -0.025, row 2 0.5·0.8 - 0 = 0.4.
    assert ranker.mmr(pool, score, 3, 0.5, cat).tolist() == [0, 2, 1]


# ----- the group ---------------------------------------------------------------------


def test_aggregate_is_the_average_without_misery():
    block = np.array([[1.0, 0.6], [0.0, 0.6]])
    # Film A: 0.75·0.5 + 0.25·0 = 0.375; film B: 0.75·0.6 + 0.25·0.6 = 0.6.
    assert group.aggregate(block).tolist() == pytest.approx([0.375, 0.6])
    assert group.interleave([[(1, 0.5), (2, 0.25)], [(3, 0.75), (1, 0.5)]], 3) == (
        (1, 0.5), (3, 0.75), (2, 0.25))


def test_group_known_answer():
    rec = model()
    picks = rec.recommend_group([([1], []), ([3], [])], n=3)
    # Member 0 likes Film 1: scores 0.75 / 1.1875 / 0.75 for Films 2 / 4 / 5, best 1.1875.
    # Member 1 likes Film 3: 0.75 / 0.6875 / 0.25, best 0.75 (Film 2).
    # Normalised: Film 2 (12/19, 1), Film 4 (1, 11/12), Film 5 (12/19, 1/3).
    # Group: Film 4 0.375·23/12 + 0.25·11/12 = 11.375/12, Film 2 14.625/19,
    # Film 5 0.375·(12/19 + 1/3) + 0.25/3.
    assert [p.item.item_id for p in picks] == [4, 2, 5]
    assert [p.item.score for p in picks] == pytest.approx(
        [11.375 / 12, 14.625 / 19, 0.375 * (12 / 19 + 1 / 3) + 0.25 / 3], abs=1e-6)
    assert [p.member_scores for p in picks] == [
        pytest.approx((1.0, 11 / 12), abs=1e-6), pytest.approx((12 / 19, 1.0), abs=1e-6),
        pytest.approx((12 / 19, 1 / 3), abs=1e-6)]
    assert [p.for_whom for p in picks] == [(0,), (1,), (0,)]
    # Film 4's share from Film 1, on member 0's normalised scale: 1/1.1875 = 16/19.
    assert picks[0].item.because == ((1, pytest.approx(16 / 19)),)
    assert picks[1].item.because == ((3, pytest.approx(0.5 / 0.75)),)


def test_serving_rule_batches_members_by_scorer():
    rec = model(replace(KNOWN, fold_in_from=2))
    tastes = [rec.catalogue.taste(*t) for t in ([[1], []], [[1, 2], [4]], [[], [3]])]
    found = rec.rule.collaborative(tastes)
    assert [relative for _, relative in found] == [False, True, False]
    assert found[2][0] is None
    single = rec.rule.single(tastes[0])[0]
    assert found[0][0].values.tolist() == single.values.tolist()
    assert isinstance(rec.rule, ServingRule)
    assert isinstance(rec.rule.fold_in, FoldInScorer)
    assert isinstance(rec.rule.neighbours, NeighbourScorer)
