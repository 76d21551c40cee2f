"""Which data set a first run picks, and the one line saying why."""

from dataclasses import replace

import pytest

from recommender import fetch
from recommender.download import probe
from recommender.selection import choose_dataset
from recommender.settings import GIB, default_driver_memory, total_memory
from tests.httpserver import FileServer, closed_port_url


class Probe:
    """Answers per file name; records what was asked."""

    def __init__(self, answers: dict[str, str | None] | None = None,
                 default: str | None = None) -> None:
        self.answers, self.default, self.asked = answers or {}, default, []

    def __call__(self, url: str) -> str | None:
        self.asked.append(url.rsplit("/", 1)[-1])
        return self.answers.get(self.asked[-1], self.default)


def fetched(settings, name: str) -> None:
    folder = settings.raw_dir / name
    folder.mkdir(parents=True)
    fetch._write_marker(folder, source="test", files=[])


def test_online_with_memory_takes_the_newest(settings):
    choice = choose_dataset(settings, Probe(), 24 * GIB)
    assert choice.dataset == "ml-32m"
    assert choice.line() == ("Data set: ml-32m (the newest MovieLens this machine can train "
                             "on (24 GiB of memory)).")


def test_too_little_memory_takes_the_small_current_set(settings):
    choice = choose_dataset(settings, p := Probe(), 8 * GIB)
    assert choice.dataset == "ml-latest-small"
    assert "ml-32m needs 14 GiB of memory, this machine has 8.0" in choice.why
    assert p.asked == ["ml-latest-small.zip"]  # the one it cannot train is not even asked


def test_offline_falls_back_to_100k_after_one_probe(settings):
    choice = choose_dataset(settings, p := Probe(default="cannot reach x (refused)"), 24 * GIB)
    assert choice.dataset == "ml-100k"
    assert choice.line() == ("Data set: ml-100k (GroupLens is unreachable: cannot reach x "
                             "(refused); it works offline).")
    assert p.asked == ["ml-32m.zip"]


def test_a_mirror_without_the_file_moves_on(settings):
    choice = choose_dataset(settings, Probe({"ml-32m.zip": "HTTP 404 Not Found"}), 24 * GIB)
    assert choice.dataset == "ml-latest-small"
    assert "ml-32m: HTTP 404 Not Found" in choice.why


def test_what_was_fetched_before_is_used_offline(settings):
    fetched(settings, "ml-32m")
    choice = choose_dataset(settings, p := Probe(default="down"), 24 * GIB)
    assert (choice.dataset, p.asked) == ("ml-32m", [])
    fetched(settings, "ml-100k")
    choice = choose_dataset(settings, Probe(default="down"), 24 * GIB)
    assert choice.dataset == "ml-32m"  # the newer one wins


def test_an_offline_machine_that_comes_online_moves_up(settings):
    fetched(settings, "ml-100k")
    assert choose_dataset(settings, Probe(), 24 * GIB).dataset == "ml-32m"
    assert choose_dataset(settings, Probe(default="down"), 24 * GIB).line().endswith(
        "already fetched).")


def test_dataset_chosen_by_hand_asks_nothing(settings):
    p = Probe()
    choice = choose_dataset(replace(settings, dataset="ml-25m"), p, 1 * GIB)
    assert choice.line() == "Data set: ml-25m (chosen with DATASET)."
    assert choose_dataset(settings, p, 1 * GIB, asked="ml-100k").why == "chosen with --dataset"
    assert p.asked == []


def test_the_probe_reads_one_byte_of_a_real_server():
    with FileServer() as server:
        server.files["/ml-32m.zip"] = b"x" * 100_000
        assert probe(f"{server.url}/ml-32m.zip") is None
        assert server.requests[-1] == ("/ml-32m.zip", "bytes=0-0")
        assert probe(f"{server.url}/ml-25m.zip").startswith("HTTP 404")
    assert probe(f"{closed_port_url()}/ml-32m.zip").startswith("cannot reach 127.0.0.1")


@pytest.mark.parametrize(("limit", "expected"), [("max\n", None), ("1073741824\n", GIB)])
def test_a_container_limit_counts_as_the_memory(tmp_path, limit, expected):
    cgroup = tmp_path / "memory.max"
    cgroup.write_text(limit)
    physical = total_memory(tmp_path / "absent")
    assert total_memory(cgroup) == (expected or physical)


@pytest.mark.parametrize(("memory", "heap"), [(2 * GIB, "2g"), (8 * GIB, "4g"), (24 * GIB, "8g"),
                                              (256 * GIB, "8g")])
def test_the_driver_heap_follows_the_memory(memory, heap):
    assert default_driver_memory(memory) == heap
