"""The content model (content features -> ALS factors) on tiny data with known answers,
and serving with content-predicted factors: mixed lists, sources, old models."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.artifacts import CONTENT_FACTORS, read_artifact, write_artifact
from recommender.config import ServingConfig
from recommender.content import (
    ContentFactors,
    ContentParams,
    FeatureSpec,
    fit_ridge,
    item_features,
    predict_factors,
)
from recommender.errors import ModelError
from recommender.neighbours import Neighbours
from recommender.scorers import CONTENT_WEIGHT
from recommender.serve import Recommender

GENRES_ONLY = FeatureSpec(year=False, kind=False, runtime=False, imdb=False, crew=False)
NEIGHBOURS = ServingConfig(popularity_weight=0.25, cooccurrence_weight=0.0, fold_in_from=0)


def test_features_one_hot_genres_decades_kinds_and_crew_on_two_or_more_items():
    items = [
        {"item_id": 1, "genres": ["Drama"], "year": 1994, "kind": "movie",
         "directors": ["nm1"], "writers": ["nm1", "nm2"], "runtime_minutes": 142,
         "imdb_votes": 1000, "imdb_rating": 9.0},
        {"item_id": 2, "genres": ["Drama", "Crime"], "year": 2008, "kind": "tv",
         "directors": ["nm1"], "writers": ["nm3"], "runtime_minutes": 45},
        {"item_id": 3, "genres": [], "year": None},  # no IMDb data: no crew, no numbers
    ]
    x, names = item_features(items, FeatureSpec())
    dense = dict(zip(names, x.toarray().T, strict=True))
    assert dense["genre:Crime"].tolist() == [0, 1, 0] and dense["genre:Drama"].tolist() == [1, 1, 0]
    assert dense["decade:1990"].tolist() == [1, 0, 0] and dense["kind:tv"].tolist() == [0, 1, 0]
    assert dense["year:missing"].tolist() == [0, 0, 1] and dense["year"][2] == 0
    # nm1 is credited on two items (once as both director and writer): it alone is kept.
    assert [n for n in names if n.startswith("person:")] == ["person:nm1"]
    assert dense["person:nm1"].tolist() == [1, 1, 0]
    assert dense["runtime:4"].tolist() == [1, 0, 0] and dense["runtime:1"].tolist() == [0, 1, 0]
    assert dense["imdb:rating_missing"].tolist() == [0, 1, 1]
    # Missing data is missing, never a dropped row or a NaN.
    assert x.shape[0] == 3 and np.isfinite(x.toarray()).all()


def test_ridge_recovers_factors_that_features_determine_exactly():
    rng = np.random.default_rng(0)
    genres = ["Action", "Comedy", "Drama", "Horror", "Sci-Fi"]
    weights = rng.normal(size=(len(genres), 3))
    items, factors = [], []
    for i in range(40):
        chosen = [g for g in genres if rng.random() < 0.5] or ["Drama"]
        items.append({"item_id": i, "genres": chosen})
        factors.append(sum(weights[genres.index(g)] for g in chosen) + 0.25)
    factors = np.array(factors, dtype=np.float32)
    warm = np.arange(30)  # the last 10 have no factors: predict them
    found = predict_factors(items, warm, factors[warm],
                            ContentParams(GENRES_ONLY, ridge=1e-8, scale=1.0))
    assert found.item_ids.tolist() == list(range(30, 40))
    np.testing.assert_allclose(found.factors, factors[30:], atol=1e-4)
    assert found.info["train_r2"] == pytest.approx(1.0, abs=1e-6)
    # A strong ridge shrinks predictions towards the mean factor; "norm" scales them back
    # to the mean norm of the real factors.
    shrunk = predict_factors(items, warm, factors[warm], ContentParams(GENRES_ONLY, 100.0, 1.0))
    normed = predict_factors(items, warm, factors[warm],
                             ContentParams(GENRES_ONLY, 100.0, "norm"))
    assert normed.info["scale_used"] > 1.0
    np.testing.assert_allclose(normed.factors, shrunk.factors * normed.info["scale_used"],
                               rtol=1e-5)


def test_ridge_intercept_is_unpenalised():
    # One constant feature and a huge ridge: the weights vanish, the mean remains.
    x = np.ones((4, 1))
    y = np.array([[1.0], [2.0], [3.0], [6.0]])
    w, b = fit_ridge(x, y, 1e9)
    assert abs(w[0, 0]) < 1e-9 and b[0] == pytest.approx(3.0)


def test_nothing_to_predict_or_learn_from_is_empty():
    items = [{"item_id": 1, "genres": ["Drama"]}, {"item_id": 2, "genres": ["Drama"]}]
    every = predict_factors(items, np.array([1, 2]), np.ones((2, 2), np.float32))
    assert len(every.item_ids) == 0  # everyone has factors
    zero = predict_factors(items, np.array([1]), np.zeros((1, 2), np.float32))
    assert len(zero.item_ids) == 0  # rated, never liked: nothing to learn from


# ----- serving --------------------------------------------------------------------------

# Three directions: science fiction, romance, and "a series" (which only the content
# model's kind feature can give: nobody rated the shows). The films' factors were trained;
# the three TV shows' were predicted from their content.
FILMS = {1: (1.0, 0.0, 0.0), 2: (0.9, 0.1, 0.0), 3: (0.0, 1.0, 0.0), 4: (0.1, 0.9, 0.0)}
SHOWS = {100000007: (0.3, 0.0, 0.8), 100000008: (0.0, 0.3, 0.8),
         100000009: (0.1, 0.1, 0.9)}
ITEMS = [{"item_id": i, "title": f"Film {i}", "year": 1990, "kind": "movie",
          "genres": ["Sci-Fi"] if f[0] > f[1] else ["Romance"]} for i, f in FILMS.items()] + [
    {"item_id": 100000007, "title": "Star Trek", "year": 1987, "kind": "tv",
     "genres": ["Sci-Fi"], "imdb_rating": 8.0, "imdb_votes": 100000},
    {"item_id": 100000008, "title": "Love Boat", "year": 1977, "kind": "tv",
     "genres": ["Romance"], "imdb_rating": 6.0, "imdb_votes": 9000},
    {"item_id": 100000009, "title": "Cheers", "year": 1982, "kind": "tv",
     "genres": ["Comedy"], "imdb_rating": 7.9, "imdb_votes": 60000}]
PARAMS = {"rank": 3, "reg_param": 0.1, "alpha": 1.0, "scheme": "binary"}
SERVINGS = [NEIGHBOURS, ServingConfig(), ServingConfig(scorer="fold-in")]


def predicted() -> ContentFactors:
    return ContentFactors(np.array(list(SHOWS)), np.array(list(SHOWS.values()), np.float32),
                          {"ridge": 1.0})


def served(content: ContentFactors | None, serving: ServingConfig = NEIGHBOURS) -> Recommender:
    return Recommender(item_ids=np.array(list(FILMS)),
                       item_factors=np.array(list(FILMS.values()), np.float32),
                       popularity=np.array([50, 40, 30, 20]),
                       mean_rating=np.full(4, 4.0, np.float32), items=ITEMS, params=PARAMS,
                       serving=serving, content=content)


@pytest.mark.parametrize("serving", SERVINGS, ids=["neighbours", "defaults", "fold-in"])
def test_someone_who_likes_only_series_gets_series_in_a_mixed_list(serving):
    rec = served(predicted(), serving)
    picks = rec.recommend([100000007, 100000008], n=3)
    assert picks[0].item_id == 100000009 and picks[0].kind == "tv"
    assert picks[0].source == "content"
    # "Because you liked" names the liked shows, as for any collaborative pick.
    assert {item for item, _ in picks[0].because} <= {100000007, 100000008}
    assert picks[0].because
    # Without the predicted factors the same person gets the content rule's pick.
    old = served(None, serving).recommend([100000007, 100000008], n=3)
    assert {p.source for p in old} == {"content"}


def test_a_film_liker_sees_the_nearest_show_beside_films():
    picks = served(predicted()).recommend([1], n=2)
    # Film 1 = (1, 0, 0), so M = 1 (film 1 itself): film 2 scores 0.9 + prior 0.2; Star
    # Trek 0.3 (no prior: nobody rated it); every other film less (film 4: 0.1 + 0.1).
    assert [p.item_id for p in picks] == [2, 100000007]
    assert [p.source for p in picks] == ["collaborative", "content"]
    assert picks[1].score == pytest.approx(0.3, rel=1e-6)
    assert picks[1].because == ((1, pytest.approx(0.3, rel=1e-6)),)


def test_explain_and_similar_say_content_for_predicted_rows():
    rec = served(predicted())
    explained = rec.explain([1], [], 100000007)
    assert explained.source == "content" and explained.because[0][0] == 1
    assert rec.similar(100000007, n=1)[0].source == "content"
    assert [(r.item_id, r.source) for r in rec.similar(1, n=2)] == [
        (2, "collaborative"), (100000007, "content")]


def test_predicted_rows_take_the_factor_part_at_full_weight_and_shares_add_up():
    blend = ServingConfig(cooccurrence_weight=0.8, popularity_weight=0.25, fold_in_from=0)
    films = np.array(list(FILMS))
    links = Neighbours.from_triples(np.array([1, 2, 3, 4]), np.array([2, 1, 4, 3]),
                                    np.array([0.5, 0.5, 0.4, 0.4]), films)
    rec = Recommender(item_ids=films, item_factors=np.array(list(FILMS.values()), np.float32),
                      popularity=np.array([50, 40, 30, 20]),
                      mean_rating=np.full(4, 4.0, np.float32), items=ITEMS, params=PARAMS,
                      serving=blend, neighbours=links, content=predicted())
    taste = rec.catalogue.taste([1, 3])
    scores = rec.rule.neighbours.score(taste)
    # v = y_1 + y_3 = (1, 1, 0); M = 1 (films 1 to 4 all score 1). Star Trek: 0.3 at full
    # weight, where a film with that factor score and no cosines would get 0.2·0.3.
    assert scores.values[rec.row[100000007]] == pytest.approx(0.3)
    assert scores.values[rec.row[2]] == pytest.approx(0.2 * 1.0 + 0.8 * 0.5 / 0.5 + 0.2)
    rows = np.arange(len(rec.catalogue))
    total = np.array([sum(v for _, v in line) for line in scores.shares(rows)])
    np.testing.assert_allclose(total + scores.remainder(rows), scores.values, atol=1e-9)


def test_fold_in_ignores_predicted_rows_in_its_shared_term():
    with_content, without = served(predicted()), served(None)
    np.testing.assert_array_equal(with_content.yty, without.yty)


def test_old_model_without_the_file_serves_as_before(tmp_path):
    common = {"item_ids": np.array(list(FILMS)),
              "item_factors": np.array(list(FILMS.values()), np.float32),
              "popularity": np.array([50, 40, 30, 20]),
              "mean_rating": np.full(4, 4.0, np.float32), "items": ITEMS,
              "meta": {"params": PARAMS, "serving": NEIGHBOURS.to_dict()}}
    old = write_artifact(tmp_path / "old", **common)
    new = write_artifact(tmp_path / "new", **common, content=predicted())
    assert not (old / CONTENT_FACTORS).exists() and (new / CONTENT_FACTORS).exists()
    before = Recommender.load(old)
    assert not before.catalogue.predicted.any()
    picks = before.recommend([1], n=2)  # the show is scored by the content rule
    assert [p.item_id for p in picks] == [2, 100000007]
    assert picks[1].source == "content"
    assert picks[1].score <= CONTENT_WEIGHT * picks[0].score  # today's cap
    after = Recommender.load(new)
    assert after.catalogue.predicted.tolist() == [False] * 4 + [True] * 3
    assert after.catalogue.trained.tolist() == [True] * 4 + [False] * 3
    assert read_artifact(new)["meta"]["content"] == {"ridge": 1.0}


def test_content_file_predicting_a_trained_item_is_refused(tmp_path):
    bad = ContentFactors(np.array([1]), np.zeros((1, 3), np.float32), {})
    folder = write_artifact(tmp_path, item_ids=np.array(list(FILMS)),
                            item_factors=np.array(list(FILMS.values()), np.float32),
                            popularity=np.zeros(4), mean_rating=np.zeros(4), items=ITEMS,
                            meta={"params": PARAMS}, content=bad)
    with pytest.raises(ModelError, match="trained factors"):
        read_artifact(folder)
