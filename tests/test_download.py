"""The real download code against a throwaway HTTP server on 127.0.0.1."""

import gzip
import hashlib

import pytest

from recommender.download import download, expect_digest, expect_gzip
from recommender.errors import ChecksumMismatch, DownloadError, OfflineError
from tests.httpserver import FileServer, closed_port_url

BODY = bytes(range(256)) * 4096  # 1 MiB
MD5 = hashlib.md5(BODY).hexdigest()


def no_sleep(_seconds: float) -> None:
    pass


@pytest.fixture
def server():
    with FileServer() as srv:
        srv.files["/f.bin"] = BODY
        yield srv


def test_success_verifies_and_leaves_no_part_file(server, tmp_path):
    dest = download(f"{server.url}/f.bin", tmp_path / "f.bin",
                    verify=expect_digest("md5", MD5), progress=False)
    assert dest.read_bytes() == BODY
    assert not (tmp_path / "f.bin.part").exists()


def test_truncated_body_is_resumed_with_range(server, tmp_path):
    server.truncate_once.add("/f.bin")
    dest = download(f"{server.url}/f.bin", tmp_path / "f.bin", verify=expect_digest("md5", MD5),
                    progress=False, sleep=no_sleep)
    assert dest.read_bytes() == BODY
    assert server.requests[0] == ("/f.bin", None)
    assert server.requests[1] == ("/f.bin", f"bytes={len(BODY) // 2}-")


def test_resume_when_server_ignores_range_restarts_cleanly(server, tmp_path):
    server.truncate_once.add("/f.bin")
    server.ignore_range = True
    dest = download(f"{server.url}/f.bin", tmp_path / "f.bin", verify=expect_digest("md5", MD5),
                    progress=False, sleep=no_sleep)
    assert dest.read_bytes() == BODY


def test_stale_part_file_from_an_interrupted_run_is_resumed(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(BODY[:1000])
    dest = download(f"{server.url}/f.bin", tmp_path / "f.bin", verify=expect_digest("md5", MD5),
                    progress=False)
    assert dest.read_bytes() == BODY
    assert server.requests == [("/f.bin", "bytes=1000-")]


def test_checksum_mismatch_retries_then_fails_and_leaves_nothing(server, tmp_path):
    with pytest.raises(ChecksumMismatch, match="md5"):
        download(f"{server.url}/f.bin", tmp_path / "f.bin", verify=expect_digest("md5", "0" * 32),
                 progress=False, sleep=no_sleep)
    assert list(tmp_path.iterdir()) == []
    assert len(server.requests) == 2  # one clean retry, then give up


def test_http_404_is_a_clear_error(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server.url}/missing.zip", tmp_path / "x.zip", progress=False,
                 sleep=no_sleep)
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_is_offline(tmp_path):
    with pytest.raises(OfflineError, match=r"cannot reach 127\.0\.0\.1"):
        download(f"{closed_port_url()}/f.bin", tmp_path / "f.bin", progress=False,
                 sleep=no_sleep)
    assert list(tmp_path.iterdir()) == []


def test_gzip_verifier_streams_and_rejects_truncated_files(tmp_path):
    good = tmp_path / "good.gz"
    good.write_bytes(gzip.compress(b"tconst\n" * 10_000))
    expect_gzip(good)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(ChecksumMismatch, match="gzip"):
        expect_gzip(bad)


def test_without_a_terminal_progress_is_a_line_per_quarter(tmp_path, capsys):
    body = bytes(range(256)) * (12 << 12)  # 12 MiB
    with FileServer() as server:
        server.files["/big.bin"] = body
        download(f"{server.url}/big.bin", tmp_path / "big.bin", sleep=lambda _s: None)
    lines = [x for x in capsys.readouterr().out.splitlines() if "big.bin" in x]
    assert lines == [f"  big.bin: {q}% of 13 MB" for q in (25, 50, 75, 100)]
