"""Which MovieLens release a first ``make run`` uses, and why, in one line.

With no ``DATASET`` (or ``--dataset``), the newest release this machine can train on
wins: ml-32m (films through 2023) when GroupLens answers and the memory suffices,
ml-latest-small (current, small) when the memory does not, and MovieLens 100K, which
has an offline copy, when GroupLens cannot be reached. A release fetched earlier is
used without asking the network again; an offline machine that later comes online
moves up to the newer release on its next ``make run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from recommender.datasets import MOVIELENS, OFFLINE_DATASET
from recommender.fetch import is_complete
from recommender.settings import GIB, Settings

# Best first. Memory is the machine's (or container's) total: ml-32m's first run peaks
# at about 10 GiB of JVM (README, "At ML-32M scale"), plus the OS and the bot.
PREFERENCE: tuple[tuple[str, int], ...] = (
    ("ml-32m", 14 * GIB),
    ("ml-latest-small", 2 * GIB),
    (OFFLINE_DATASET, 0),
)

# url -> None when it answers, else why not ("connection refused", "HTTP 404").
Probe = Callable[[str], str | None]


@dataclass(frozen=True)
class Choice:
    dataset: str
    why: str

    def line(self) -> str:
        return f"Data set: {self.dataset} ({self.why})."


def choose_dataset(settings: Settings, probe: Probe, memory: int,
                   asked: str | None = None) -> Choice:
    """The release to use: ``asked`` (or ``DATASET``) if given, else the best that fits."""
    wanted = asked or settings.dataset
    if wanted:
        source = "--dataset" if asked else "DATASET"
        return Choice(wanted, f"chosen with {source}")
    base = settings.movielens_base_url.rstrip("/")
    notes: list[str] = []
    unreachable: str | None = None

    def chosen(name: str, last: str) -> Choice:
        lead = [f"GroupLens is unreachable: {unreachable}"] if unreachable else []
        return Choice(name, _joined([*lead, *notes, last]))

    for name, needs in PREFERENCE:
        if memory < needs:
            notes.append(f"{name} needs {needs / GIB:.0f} GiB of memory, this machine has "
                         f"{memory / GIB:.1f}")
        elif is_complete(settings.raw_dir / name):
            return chosen(name, "already fetched")
        elif name == OFFLINE_DATASET:
            return chosen(name, "it works offline")
        elif unreachable is None:  # one failed connection says enough about the host
            why = probe(f"{base}/{MOVIELENS[name].zip_name}")
            if why is None:
                return chosen(name, f"the newest MovieLens this machine can train on "
                                    f"({memory / GIB:.0f} GiB of memory)")
            if why.startswith("HTTP"):  # the server answers, only not with this file
                notes.append(f"{name}: {why}")
            else:
                unreachable = why
    raise AssertionError("PREFERENCE ends with the offline data set")


def _joined(parts: list[str]) -> str:
    return "; ".join(parts)
