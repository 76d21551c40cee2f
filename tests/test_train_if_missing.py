"""`train --if-missing` (what `make run` calls): a model trained on other data is replaced."""

from __future__ import annotations

import argparse
import json

from recommender.artifacts import point_current
from recommender.cli import _trained_on_current_data, add_train_arguments, run_train
from recommender.train import data_fingerprint


def publish(settings, fingerprint: str | None) -> None:
    folder = settings.models_dir / "v1"
    folder.mkdir(parents=True)
    meta = {} if fingerprint is None else {"data_fingerprint": fingerprint}
    (folder / "model.json").write_text(json.dumps(meta))
    point_current(settings.models_dir, "v1")


def processed(settings, size: int) -> None:
    table = settings.processed_dir / "ratings"
    table.mkdir(parents=True, exist_ok=True)
    (table / "part-0.parquet").write_bytes(b"x" * size)


def test_a_model_of_the_current_data_is_kept(settings, capsys):
    processed(settings, 10)
    publish(settings, data_fingerprint(settings.processed_dir))
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    assert run_train(parser.parse_args(["--if-missing"]), settings) == 0
    assert "nothing to train" in capsys.readouterr().out


def test_new_data_makes_the_model_stale(settings):
    processed(settings, 10)
    publish(settings, data_fingerprint(settings.processed_dir))
    model = settings.models_dir / "v1"
    assert _trained_on_current_data(model, settings)
    processed(settings, 20)  # another ingest: other files
    assert not _trained_on_current_data(model, settings)


def test_a_model_from_before_fingerprints_counts_as_current(settings):
    processed(settings, 10)
    publish(settings, None)
    assert _trained_on_current_data(settings.models_dir / "v1", settings)
