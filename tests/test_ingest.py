"""Spark ingest of every supported layout, with IMDb, in local mode."""

import json

import pytest

from recommender.errors import DatasetNotFound, UnsupportedLayout
from recommender.ingest import current_inputs, ingest, load_summary
from tests import datafiles

pytestmark = pytest.mark.spark


def quiet(*_args):
    pass


def read_items(spark, settings):
    rows = spark.read.parquet(str(settings.processed_dir / "items")).collect()
    return {r["item_id"]: r.asDict() for r in rows}


def read_ratings(spark, settings):
    return spark.read.parquet(str(settings.processed_dir / "ratings")).collect()


def add_imdb(settings):
    folder = datafiles.imdb_files(settings.raw_dir / "imdb")
    (folder / ".complete.json").write_text(json.dumps({"source": "test", "files": []}))


def test_ml100k_zip_layout(spark, settings, tmp_path):
    source = datafiles.ml100k_zip(tmp_path / "ml-100k.zip")
    summary = ingest(spark, settings, source=source, say=quiet)
    assert summary.layout == "ml100k"
    assert (summary.ratings_read, summary.ratings_kept) == (14, 11)
    assert summary.ratings_rejected == {"rating out of range": 1, "malformed": 1,
                                        "unknown item": 1}
    assert (summary.items_read, summary.items_kept, summary.users) == (7, 7, 4)
    items = read_items(spark, settings)
    assert items[2]["title"] == "The Matrix" and items[2]["year"] == 1999
    assert items[2]["genres"] == ["Action", "Sci-Fi"]
    assert items[1]["genres"] == ["Animation", "Children", "Comedy"]
    assert items[5]["title"] == "Les Misérables"  # Latin-1 in u.item
    assert items[6]["alt_titles"] == ["Yao a yao yao dao waipo qiao"]
    assert (items[3]["title"], items[3]["year"]) == ("Dune", 1984)
    assert (items[4]["title"], items[4]["year"]) == ("Dune", 2000)
    assert items[7]["year"] is None and items[7]["genres"] == []
    assert items[1]["popularity"] == 3 and items[6]["popularity"] == 1
    assert {i["kind"] for i in items.values()} == {"movie"}
    assert {(tuple(i["directors"]), tuple(i["writers"])) for i in items.values()} == {((), ())}
    ratings = read_ratings(spark, settings)
    assert len(ratings) == 11
    first = next(r for r in ratings if (r["user_id"], r["item_id"]) == (1, 1))
    assert (first["rating"], first["ts"], first["source"]) == (5.0, 881250949, "movielens")


def test_recbole_folder_layout(spark, settings, tmp_path):
    source = datafiles.recbole_folder(tmp_path / "recbole")
    summary = ingest(spark, settings, source=source, say=quiet)
    assert summary.layout == "recbole"
    assert (summary.ratings_read, summary.ratings_kept, summary.ratings_rejected) == (11, 11, {})
    items = read_items(spark, settings)
    assert (items[2]["title"], items[2]["year"]) == ("The Matrix", 1999)
    assert items[5]["title"] == "Les Misérables"
    assert items[7]["year"] is None and items[7]["genres"] == []


def test_csv_zip_layout_with_links(spark, settings, tmp_path):
    source = datafiles.csv_zip(tmp_path / "ml-latest-small.zip")
    summary = ingest(spark, settings, source=source, say=quiet)
    assert summary.layout == "csv"
    assert (summary.ratings_read, summary.ratings_kept) == (13, 8)
    assert summary.ratings_rejected == {"rating out of range": 2, "unknown item": 1,
                                        "malformed": 2}
    items = read_items(spark, settings)
    assert items[11]["title"] == "The American President"
    assert items[2571]["imdb_id"] == "tt0133093"
    assert items[293]["title"] == "Léon: The Professional"
    assert items[293]["alt_titles"] == ["The Professional", "Léon"]
    assert items[149532]["year"] is None and items[149532]["genres"] == []
    assert items[171749]["year"] == 2006
    assert {r["rating"] for r in read_ratings(spark, settings)} >= {0.5, 3.5, 4.5}


def test_eight_digit_imdb_ids_are_kept_whole(spark, settings, tmp_path):
    # ML-32M links films from 2019 on to 8-digit IMDb ids; 7 digits stay zero-padded.
    folder = tmp_path / "ml-32m"
    folder.mkdir()
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Comedy\n"
                                       "2,Oppenheimer (2023),Drama\n")
    (folder / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n"
                                      "2,15398776,872585\n")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,1\n"
                                        "1,2,5.0,2\n")
    ingest(spark, settings, source=folder, say=quiet)
    items = read_items(spark, settings)
    assert (items[1]["imdb_id"], items[2]["imdb_id"]) == ("tt0114709", "tt15398776")


def test_ml100k_is_matched_to_imdb_by_title_and_year_and_gains_tv_shows(spark, settings,
                                                                        tmp_path):
    add_imdb(settings)
    source = datafiles.ml100k_zip(tmp_path / "ml-100k.zip")
    summary = ingest(spark, settings, source=source, say=quiet)
    items = read_items(spark, settings)
    assert items[1]["imdb_id"] == "tt0114709"
    assert items[2]["imdb_id"] == "tt0133093" and items[2]["imdb_rating"] == pytest.approx(8.7)
    assert items[2]["runtime_minutes"] == 136 and items[2]["imdb_votes"] == 2_100_000
    assert items[3]["imdb_id"] == "tt0087182"  # Dune (1984), the film
    assert items[4]["imdb_id"] is None  # Dune (2000) on IMDb is a mini-series, not a film
    assert items[5]["imdb_id"] == "tt0113247"  # "Misérables, Les" == "Les Misérables"
    assert items[6]["imdb_id"] == "tt0115012"
    assert summary.imdb_matched == 5
    tv = {i["title"]: i for i in items.values() if i["kind"] == "tv"}
    assert sorted(tv) == ["Band of Brothers", "Breaking Bad", "Dune"]  # adult, few-vote gone
    breaking = tv["Breaking Bad"]
    assert breaking["item_id"] == 100_000_000 + 903747
    assert (breaking["year"], breaking["imdb_rating"]) == (2008, pytest.approx(9.5))
    assert breaking["genres"] == ["Crime", "Drama", "Thriller"]
    assert breaking["popularity"] == 0
    assert tv["Dune"]["alt_titles"] == ["Frank Herbert's Dune"]
    # title.crew: comma lists become arrays, \N an empty one, unmatched items get none.
    assert (items[3]["directors"], items[3]["writers"]) == (["nm0000186"],
                                                            ["nm0378924", "nm0000186"])
    assert tv["Dune"]["writers"] == ["nm0378924", "nm0365216"]
    assert breaking["directors"] == ["nm0319213", "nm0533713"]
    assert tv["Band of Brothers"]["directors"] == [] and items[5]["writers"] == []
    assert (items[4]["directors"], items[4]["writers"]) == ([], [])
    assert summary.tv_shows == 3 and summary.movies == 7


def test_links_join_imdb_and_min_votes_is_configurable(spark, settings, tmp_path):
    from dataclasses import replace

    add_imdb(settings)
    # IMDb fetched before title.crew was added: the crew columns are there, and empty.
    (settings.raw_dir / "imdb" / "title.crew.tsv.gz").unlink()
    settings = replace(settings, imdb_min_votes=100_000)
    ingest(spark, settings, source=datafiles.csv_zip(tmp_path / "s.zip"), say=quiet)
    items = read_items(spark, settings)
    assert all(i["directors"] == [] and i["writers"] == [] for i in items.values())
    assert items[2571]["imdb_rating"] == pytest.approx(8.7)
    assert items[1]["runtime_minutes"] == 81
    assert sorted(i["title"] for i in items.values() if i["kind"] == "tv") == [
        "Band of Brothers", "Breaking Bad"]


def test_fetched_dataset_is_ingested_and_inputs_recorded(spark, settings, tmp_path):
    with pytest.raises(DatasetNotFound, match="data fetch --dataset ml-100k"):
        ingest(spark, settings, say=quiet)
    folder = datafiles.recbole_folder(settings.raw_dir / "ml-100k")
    (folder / ".complete.json").write_text(json.dumps({"source": "test", "files": []}))
    summary = ingest(spark, settings, say=quiet)
    assert summary.source == "ml-100k (test)"
    saved = load_summary(settings)
    assert saved["ratings_kept"] == 11
    assert saved["inputs"] == current_inputs(settings, "ml-100k", True)
    add_imdb(settings)  # new inputs: `data prepare` would ingest again
    assert saved["inputs"] != current_inputs(settings, "ml-100k", True)


def test_failed_ingest_keeps_previous_output(spark, settings, tmp_path):
    ingest(spark, settings, source=datafiles.recbole_folder(tmp_path / "rb"), say=quiet)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnsupportedLayout, match=r"expected u\.data"):
        ingest(spark, settings, source=empty, say=quiet)
    assert len(read_ratings(spark, settings)) == 11
    assert not [p for p in settings.data_dir.iterdir() if p.name.startswith(".tmp")]


def test_imdb_titles_of_linked_films_become_alternative_titles(spark, settings, tmp_path):
    add_imdb(settings)
    ingest(spark, settings, source=datafiles.csv_zip(tmp_path / "s.zip"), say=quiet)
    items = read_items(spark, settings)
    # IMDb's primary and original titles differ from MovieLens' "Death Note: Desu nôto".
    assert items[171749]["alt_titles"] == ["Death Note", "Desu nôto"]
    # Both of Léon's IMDb titles are already there: nothing repeated.
    assert items[293]["alt_titles"] == ["The Professional", "Léon"]
    assert items[2571]["alt_titles"] == [] and items[1]["alt_titles"] == []
    assert items[149532]["alt_titles"] == []  # linked, but not in IMDb's files


def test_films_matched_by_title_keep_alternative_titles_without_repeats(spark, settings,
                                                                        tmp_path):
    add_imdb(settings)
    ingest(spark, settings, source=datafiles.ml100k_zip(tmp_path / "ml.zip"), say=quiet)
    items = read_items(spark, settings)
    assert items[6]["alt_titles"] == ["Yao a yao yao dao waipo qiao"]  # also IMDb's original
    assert items[5]["alt_titles"] == []  # "Les misérables" is "Les Misérables" as a key
