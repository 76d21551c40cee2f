"""``python -m recommender``: fetch and ingest data, train models.

Every command prints what it does; every failure a user can fix ends with one line
on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from recommender import fetch
from recommender.datasets import IMDB_DIR, MOVIELENS
from recommender.download import probe
from recommender.errors import DatasetNotFound, DownloadError, RecommenderError
from recommender.preferences import SCHEMES
from recommender.selection import choose_dataset
from recommender.settings import Settings, total_memory
from recommender.spark import jvm_gone, stop_spark

if TYPE_CHECKING:
    from recommender.train import BotRatings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recommender", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="fetch and ingest data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    datasets = ", ".join(MOVIELENS)

    fetch = data_commands.add_parser("fetch", help="download a data set into data/raw/")
    fetch.add_argument("--dataset", help=f"one of {datasets} (default: $DATASET, else the "
                                         "newest this machine can reach and train on)")
    add_imdb_switch(fetch)
    fetch.add_argument("--force", action="store_true", help="download again even if present")

    ingest = data_commands.add_parser("ingest", help="turn raw files into Parquet tables")
    ingest.add_argument("--dataset", help="a fetched data set (default: $DATASET, else the "
                                          "newest one fetched)")
    ingest.add_argument("--source", type=Path,
                        help="a MovieLens zip or folder you already have, instead of --dataset")
    add_imdb_switch(ingest)
    ingest.add_argument("--master", help="Spark master URL (default: $SPARK_MASTER or local[*])")

    prepare = data_commands.add_parser("prepare", help="fetch, then ingest if anything changed")
    prepare.add_argument("--dataset", help=f"one of {datasets} (default: as for fetch)")
    add_imdb_switch(prepare)
    prepare.add_argument("--master", help="Spark master URL")

    data_commands.add_parser("list", help="the data sets we can fetch, and what is here")

    add_train_arguments(commands.add_parser(
        "train", help="train ALS with Spark on the data set and publish a model "
                      "('python -m jobs train' adds the bot's ratings)"))

    evaluate = commands.add_parser("evaluate", help="offline evaluation, JSON lines")
    evaluate.add_argument("--protocol", default="all", choices=[
        "recommenders", "cold-start", "new-user", "cold-items", "all"])
    evaluate.add_argument("--users", type=int, default=None,
                          help="new-user protocol: test users held out (default 150; as many "
                               "again are held out for validation)")
    evaluate.add_argument("--seed", type=int, default=None,
                          help="new-user protocol: which users are held out (default 42)")
    evaluate.add_argument("--master", help="Spark master URL")
    evaluate.add_argument("--plot", type=Path, help="also draw the nDCG@10 comparison (PNG)")

    tune = commands.add_parser("tune", help="hyperparameter search on a validation split")
    tune.add_argument("--master", help="Spark master URL")
    tune.add_argument("--out", type=Path, help="also write the trials here (JSON lines)")
    tune.add_argument("--objective", choices=["recommenders", "new-user"], default="recommenders",
                      help="what to maximise on validation: the Recommenders protocol's "
                           "nDCG@10 (warm users) or the new-user protocol's (5 likes)")
    return parser


def add_imdb_switch(parser: argparse.ArgumentParser) -> None:
    """``--imdb`` / ``--no-imdb``; without either, ``IMDB`` (on unless set to off) decides."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--imdb", dest="imdb", action="store_true", default=None,
                       help="IMDb metadata and TV shows (the default; an error if IMDb "
                            "cannot be fetched)")
    group.add_argument("--no-imdb", dest="imdb", action="store_false",
                       help="leave IMDb out (as IMDB=off does)")


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    """The options of a ``train`` command (here, and ``python -m jobs train``)."""
    train.add_argument("--if-missing", action="store_true",
                       help="do nothing when models/current already exists")
    train.add_argument("--master", help="Spark master URL (default: $SPARK_MASTER or local[*])")
    train.add_argument("--rank", type=int)
    train.add_argument("--reg-param", type=float)
    train.add_argument("--alpha", type=float)
    train.add_argument("--max-iter", type=int)
    train.add_argument("--scheme", choices=list(SCHEMES),
                       help="how ratings become preferences (see README)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"data": _data, "train": run_train, "evaluate": _evaluate, "tune": _tune}
    return run_command(lambda settings: handler[args.command](args, settings))


def run_command(command: Callable[[Settings], int],
                errors: tuple[type[Exception], ...] = (RecommenderError,)) -> int:
    """Run ``command`` with the settings; ``errors`` (a problem a user can fix) and a JVM
    that went away become one line on stderr and exit code 2, Ctrl-C exit code 130."""
    # py4j logs a traceback for every call that fails when the JVM is gone; we say it once.
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        return command(Settings.from_env())
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted; nothing half-written was kept.", file=sys.stderr)
        return 130
    except Exception as exc:  # only when the JVM went away mid-job; other bugs still raise
        if not jvm_gone(exc):
            raise
        print(f"error: Spark's JVM stopped unexpectedly ({type(exc).__name__}); nothing was "
              "published. If it ran out of memory, raise SPARK_DRIVER_MEMORY and retry.",
              file=sys.stderr)
        return 2


def _data(args: argparse.Namespace, settings: Settings) -> int:
    if args.data_command == "list":
        return _list(settings)
    use_imdb = settings.imdb if args.imdb is None else args.imdb
    if args.data_command == "ingest":
        # No network here: the newest data set already fetched that fits this machine.
        dataset = choose_dataset(settings, lambda _url: "not asked", total_memory(),
                                 args.dataset).dataset
    else:
        choice = choose_dataset(settings, probe, total_memory(), args.dataset)
        print(choice.line(), flush=True)
        dataset = choice.dataset
        fetch.fetch_movielens(settings, dataset, force=getattr(args, "force", False))
        if use_imdb:
            _fetch_imdb(settings, force=getattr(args, "force", False), required=bool(args.imdb))
    if args.data_command == "fetch":
        return 0
    return _ingest(args, settings, dataset, use_imdb)


def _fetch_imdb(settings: Settings, *, force: bool, required: bool) -> None:
    """IMDb's files; unless ``--imdb`` asked for them, a failure is one line, not the end."""
    try:
        fetch.fetch_imdb(settings, force=force)
    except DownloadError as exc:
        if required:
            raise
        kept = fetch.is_complete(settings.raw_dir / IMDB_DIR)
        print(f"IMDb: {exc}; going on with "
              f"{'the IMDb files fetched before' if kept else 'no TV shows'} "
              "(IMDB=off skips IMDb).", flush=True)


def _ingest(args: argparse.Namespace, settings: Settings, dataset: str, use_imdb: bool) -> int:
    from recommender.ingest import current_inputs, ingest, load_summary

    source = getattr(args, "source", None)
    if source is not None and not source.exists():
        raise DatasetNotFound(f"{source} does not exist.")
    if source is None and not fetch.is_complete(settings.raw_dir / dataset):
        raise DatasetNotFound(f"{dataset} has not been fetched; run "
                              f"'python -m recommender data fetch --dataset {dataset}' first.")
    if args.data_command == "prepare":
        summary = load_summary(settings)
        if summary and summary.get("inputs") == current_inputs(settings, dataset, use_imdb):
            print(f"Processed data in {settings.processed_dir} is up to date; nothing to do.")
            return 0
    spark = _spark(settings, args.master)
    try:
        result = ingest(spark, settings, dataset=dataset, source=source, use_imdb=use_imdb)
    finally:
        stop_spark(spark)
    print("\n".join(result.lines()))
    return 0


def _list(settings: Settings) -> int:
    for name, release in MOVIELENS.items():
        here = "fetched" if fetch.is_complete(settings.raw_dir / name) else "-"
        print(f"{name:16} {release.size:>7}  {here:8} {release.description}")
    imdb = "fetched" if fetch.is_complete(settings.raw_dir / IMDB_DIR) else "-"
    print(f"{'imdb':16} {'300 MB':>7}  {imdb:8} IMDb titles, ratings and crews: TV shows "
          "(on unless IMDB=off)")
    return 0


def run_train(args: argparse.Namespace, settings: Settings,
              extra: Callable[[], BotRatings] | None = None) -> int:
    """A ``train`` command (:func:`add_train_arguments`): on the data set, plus what
    ``extra`` reads, once it is clear that a model is to be trained."""
    from recommender.artifacts import current_dir
    from recommender.train import TrainParams, train

    if args.if_missing and (found := current_dir(settings.models_dir)) is not None:
        if _trained_on_current_data(found, settings):
            print(f"A model is already published ({found.name}); nothing to train.")
            return 0
        print(f"The data changed since model {found.name} was trained; training a new one.")
    defaults = TrainParams()
    params = TrainParams(
        rank=args.rank or defaults.rank,
        reg_param=defaults.reg_param if args.reg_param is None else args.reg_param,
        alpha=defaults.alpha if args.alpha is None else args.alpha,
        max_iter=args.max_iter or defaults.max_iter,
        scheme=args.scheme or defaults.scheme,
    )
    bot = extra() if extra is not None else None
    spark = _spark(settings, args.master)
    try:
        train(spark, settings, params, extra=bot)
    finally:
        stop_spark(spark)
    return 0


def _trained_on_current_data(model: Path, settings: Settings) -> bool:
    """Whether ``model`` was fitted on the processed data there is now (a model from
    before fingerprints were recorded counts as current)."""
    import json

    from recommender.train import data_fingerprint

    recorded = json.loads((model / "model.json").read_text()).get("data_fingerprint")
    return recorded is None or recorded == data_fingerprint(settings.processed_dir)


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from recommender.artifacts import current_dir
    from recommender.config import ServingConfig
    from recommender.evaluate import load_ratings, plot_comparison, protocols, write_results
    from recommender.ingest import dataset_label
    from recommender.train import TrainParams

    data = load_ratings(settings.processed_dir)
    model = current_dir(settings.models_dir)
    # Evaluate the settings the published model was trained and is served with.
    params = TrainParams.of_model(model) if model is not None else TrainParams()
    serving = ServingConfig.of_model(model) if model is not None else None
    dataset = dataset_label(settings)
    every_protocol = protocols()
    chosen = list(every_protocol) if args.protocol == "all" else [args.protocol]
    spark = _spark(settings, args.master)
    every = []
    options = {"users": args.users, "seed": args.seed, "serving": serving}
    try:
        for protocol in chosen:
            lines = []
            extra = {k: v for k, v in options.items() if v is not None} \
                if protocol == "new-user" else {}
            run = every_protocol[protocol]
            for line in run(spark, data, params, dataset,
                            say=lambda m: print(m, file=sys.stderr), **extra):
                print(json.dumps(line), flush=True)
                lines.append(line)
            every.extend(lines)
            if model is not None:
                saved_to = write_results(lines, model, protocol)
                print(f"saved {saved_to}", file=sys.stderr)
    finally:
        stop_spark(spark)
    if args.plot:
        print(f"plot: {plot_comparison(every, args.plot)}", file=sys.stderr)
    return 0


def _tune(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from recommender.evaluate import load_ratings
    from recommender.ingest import dataset_label
    from recommender.tune import search, search_new_user

    data = load_ratings(settings.processed_dir)
    spark = _spark(settings, args.master)
    lines = []
    run = search_new_user if args.objective == "new-user" else search
    try:
        for record in run(spark, data, say=lambda m: print(m, file=sys.stderr)):
            record = {"dataset": dataset_label(settings), **record}
            print(json.dumps(record), flush=True)
            lines.append(record)
    finally:
        stop_spark(spark)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return 0


def _spark(settings: Settings, master: str | None):
    from recommender.spark import start_spark

    # stderr: commands such as `evaluate` keep stdout for their JSON lines.
    print(f"Starting Spark ({master or settings.spark_master}) ...", file=sys.stderr, flush=True)
    return start_spark(settings, master=master)
