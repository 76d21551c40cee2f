"""Fetching data sets: verified, atomic, idempotent, and clear when offline."""

from dataclasses import replace

import pytest

from recommender import fetch
from recommender.cli import main
from recommender.datasets import IMDB_FILES
from recommender.errors import ChecksumMismatch, DatasetNotFound, OfflineError
from tests import datafiles
from tests.httpserver import FileServer, closed_port_url


@pytest.fixture
def server(tmp_path):
    body = datafiles.csv_zip(tmp_path / "fixture.zip").read_bytes()
    with FileServer() as srv:
        srv.files["/ml-latest-small.zip"] = body
        srv.files["/ml-latest-small.zip.md5"] = (
            f"{datafiles.md5_of(body)}  ml-latest-small.zip\n".encode())
        yield srv


def quiet(*_args):
    pass


def no_sleep(_seconds):
    pass


def test_fetch_unpacks_verifies_and_is_idempotent(server, settings):
    settings = replace(settings, movielens_base_url=server.url)
    folder = fetch.fetch_movielens(settings, "ml-latest-small", say=quiet, sleep=no_sleep)
    assert folder == settings.raw_dir / "ml-latest-small"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".complete.json", "README.txt", "links.csv", "movies.csv", "ratings.csv"]
    assert fetch.read_marker(folder)["source"] == f"{server.url}/ml-latest-small.zip"
    assert not list(settings.downloads_dir.iterdir())  # the zip is gone once unpacked

    said = []
    requests_before = len(server.requests)
    fetch.fetch_movielens(settings, "ml-latest-small", say=said.append)
    assert len(server.requests) == requests_before
    assert "nothing to do" in said[0]


def test_checksum_mismatch_leaves_nothing_behind(server, settings):
    server.files["/ml-latest-small.zip.md5"] = b"MD5 (ml-latest-small.zip) = " + b"0" * 32
    settings = replace(settings, movielens_base_url=server.url)
    with pytest.raises(ChecksumMismatch):
        fetch.fetch_movielens(settings, "ml-latest-small", say=quiet, sleep=no_sleep)
    assert not (settings.raw_dir / "ml-latest-small").exists()
    assert not any(p.name.endswith(".part") for p in settings.downloads_dir.iterdir())
    # Once the server is right again, the same call succeeds from scratch.
    server.files["/ml-latest-small.zip.md5"] = (
        datafiles.md5_of(server.files["/ml-latest-small.zip"]).encode())
    folder = fetch.fetch_movielens(settings, "ml-latest-small", say=quiet, sleep=no_sleep)
    assert fetch.is_complete(folder)


def test_without_published_checksum_the_zip_crc_is_checked(server, settings):
    del server.files["/ml-latest-small.zip.md5"]
    server.files["/ml-latest-small.zip"] = b"PK\x03\x04 this is not a zip"
    settings = replace(settings, movielens_base_url=server.url)
    with pytest.raises(ChecksumMismatch, match="zip"):
        fetch.fetch_movielens(settings, "ml-latest-small", say=quiet, sleep=no_sleep)
    assert not (settings.raw_dir / "ml-latest-small").exists()


def test_offline_large_dataset_says_what_to_do(settings):
    settings = replace(settings, movielens_base_url=closed_port_url())
    with pytest.raises(OfflineError, match="ml-100k, which has an offline copy"):
        fetch.fetch_movielens(settings, "ml-25m", say=quiet, sleep=no_sleep)


def test_unknown_dataset(settings):
    with pytest.raises(DatasetNotFound, match="ml-100k, ml-latest-small"):
        fetch.fetch_movielens(settings, "ml-1b", say=quiet, sleep=no_sleep)


def test_imdb_fetch_streams_verifies_and_is_idempotent(settings, tmp_path):
    source = datafiles.imdb_files(tmp_path / "imdb-src")
    with FileServer() as srv:
        for name in IMDB_FILES:
            srv.files[f"/{name}"] = (source / name).read_bytes()
        settings = replace(settings, imdb_base_url=srv.url)
        folder = fetch.fetch_imdb(settings, say=quiet, sleep=no_sleep)
        assert (folder / "title.basics.tsv.gz").read_bytes() == (
            source / "title.basics.tsv.gz").read_bytes()
        count = len(srv.requests)
        fetch.fetch_imdb(settings, say=quiet, sleep=no_sleep)
        assert len(srv.requests) == count


def test_imdb_corrupt_gzip_is_refused(settings, tmp_path):
    source = datafiles.imdb_files(tmp_path / "imdb-src")
    with FileServer() as srv:
        srv.files["/title.basics.tsv.gz"] = (source / "title.basics.tsv.gz").read_bytes()[:-30]
        for name in IMDB_FILES[1:]:
            srv.files[f"/{name}"] = (source / name).read_bytes()
        settings = replace(settings, imdb_base_url=srv.url)
        with pytest.raises(ChecksumMismatch, match="gzip"):
            fetch.fetch_imdb(settings, say=quiet, sleep=no_sleep)
    assert not (settings.raw_dir / "imdb").exists()


def test_cli_errors_are_one_line_with_exit_code_2(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert main(["data", "fetch", "--dataset", "ml-1b"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown data set 'ml-1b'")
    assert err.count("\n") == 1
