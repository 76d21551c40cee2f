"""The console chat, as a user runs it: `python -m bot` with piped input, no token."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.console import run
from bot.core import Conversation
from storage import Storage
from tests.bot_model import bot_env, small_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path):
    return bot_env(tmp_path)


def chat(env, lines: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "bot"], input=lines, capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_piped_session_and_restart(env, tmp_path):
    out = chat(env, "/like star wars\n/recommend 2\n1\n", tmp_path)
    assert "Liked Star Wars (1977)" in out
    # The default rule: Jedi's 507 ratings put it just ahead of Empire's 367.
    assert "1. Return of the Jedi (1983)" in out
    assert "[1] 1 👍" in out  # buttons become numbered choices
    assert "Liked Return of the Jedi (1983)" in out  # typed "1" pressed it
    assert out.rstrip().endswith("Bye!")
    again = chat(env, "/likes\n", tmp_path)  # a new process: the likes survived
    assert "❤ liked: Return of the Jedi (1983)" in again
    assert "❤ liked: Star Wars (1977)" in again


def test_numbers_choose_among_ambiguous_titles(tmp_path):
    storage = Storage(tmp_path / "bot.sqlite3")
    out = io.StringIO()
    run(Conversation(small_model(), storage), io.StringIO("/like dune\n2\n9\n"), out)
    text = out.getvalue()
    assert "Several titles match" in text and "[2] Dune" in text
    assert "Liked Dune" in text
    assert "Choose a number from 1 to" in text


def test_without_a_model_the_bot_says_what_to_run(tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "MODELS_DIR": str(tmp_path / "none"),
                   "DATA_DIR": str(tmp_path / "data")}
    environment.pop("TELEGRAM_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "bot"], input="", capture_output=True,
                          text=True, env=environment, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: No model in")
