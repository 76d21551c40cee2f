"""Finding Java, installing it when missing, and failing with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.errors import JavaUnavailable
from recommender.java import SUPPORTED_MAJORS, ensure_java, find_java, java_major
from tests import datafiles

ROOT = Path(__file__).resolve().parent.parent


def fake_java(home: Path, version_line: str, *, runs: bool = True) -> Path:
    """A ``bin/java`` that answers ``-version`` like a real one and otherwise exits."""
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True, exist_ok=True)
    body = "exit 0" if runs else "exit 1"
    java.write_text(f'#!/bin/sh\nif [ "$1" = "-version" ]; then echo \'{version_line}\' >&2; '
                    f"exit 0; fi\n{body}\n")
    java.chmod(0o755)
    return java


@pytest.mark.parametrize(("line", "major"), [
    ('openjdk version "17.0.15" 2025-04-15', 17),
    ('openjdk version "21" 2023-09-19', 21),
    ('java version "1.8.0_392"', 8),
    ('openjdk version "11.0.2" 2019-01-15', 11),
])
def test_java_major_parses_real_version_lines(tmp_path, line, major):
    assert java_major(fake_java(tmp_path, line)) == major


def test_unsuitable_java_is_skipped_for_a_project_jdk(tmp_path):
    old = fake_java(tmp_path / "old", 'java version "1.8.0_392"')
    good = fake_java(tmp_path / "jdk" / "jdk-17.0.15+6-jre", 'openjdk version "17.0.15"')
    env = {"JAVA_HOME": str(old.parent.parent), "PATH": str(old.parent)}
    assert find_java(tmp_path / "jdk", env) == good


def test_missing_java_is_installed_into_the_project(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", "")  # ensure_java exports JAVA_HOME: restored afterwards

    def installer(jdk_dir: Path) -> Path:
        return fake_java(jdk_dir / "jdk-17-jre", 'openjdk version "17.0.15"')

    home = ensure_java(tmp_path / "jdk", installer=installer, env={"PATH": ""})
    assert home == (tmp_path / "jdk" / "jdk-17-jre").resolve()
    assert os.environ["JAVA_HOME"] == str(home)


def test_install_failure_gives_one_line_with_the_install_command(tmp_path):
    def offline(_jdk_dir: Path) -> Path:
        raise OSError("Name or service not known")

    with pytest.raises(JavaUnavailable) as caught:
        ensure_java(tmp_path / "jdk", installer=offline, env={"PATH": ""})
    message = str(caught.value)
    assert "\n" not in message
    assert "Install it with:" in message and "17" in message


def test_machine_java_is_supported():
    java = find_java(ROOT / ".jdk")
    assert java is not None and java_major(java) in SUPPORTED_MAJORS


@pytest.mark.spark
def test_spark_that_cannot_start_ends_with_one_clear_line(tmp_path):
    """A JVM that dies at start-up (JAVA_GATEWAY_EXITED) must not show a traceback."""
    java = fake_java(tmp_path / "broken-jdk", 'openjdk version "17.0.15"', runs=False)
    source = datafiles.csv_zip(tmp_path / "s.zip")
    env = {**os.environ, "JAVA_HOME": str(java.parent.parent), "DATA_DIR": str(tmp_path / "d"),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "recommender", "data", "ingest", "--source",
                           str(source)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Spark could not start")
    assert "JAVA_GATEWAY_EXITED" in last or "java" in last.lower()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.spark
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the JVM")
def test_jvm_killed_mid_training_ends_with_one_clear_line(tmp_path):
    import signal

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    processed = tmp_path / "data" / "processed"
    (processed / "ratings").mkdir(parents=True)
    (processed / "items").mkdir(parents=True)
    n = 300_000
    pq.write_table(pa.table({"user_id": rng.integers(1, 5000, n).astype(np.int32),
                             "item_id": rng.integers(1, 3000, n).astype(np.int32),
                             "rating": np.full(n, 4.0, dtype=np.float32)}),
                   processed / "ratings" / "part-0.parquet")
    pq.write_table(pa.table({"item_id": np.arange(1, 3000, dtype=np.int32),
                             "title": [f"Film {i}" for i in range(1, 3000)]}),
                   processed / "items" / "part-0.parquet")
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "MODELS_DIR": str(tmp_path / "m"),
           "PYTHONPATH": str(ROOT), "JDK_DIR": str(ROOT / ".jdk")}
    proc = subprocess.Popen([sys.executable, "-m", "recommender", "train", "--rank", "64",
                             "--max-iter", "50"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    for line in proc.stdout:
        if line.startswith("Training ALS"):
            break
    else:
        pytest.fail(f"training never started: {proc.communicate()[1][-2000:]}")
    jvms = _children(proc.pid)
    assert jvms, "the JVM should be a child of the training process"
    for pid in jvms:
        os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: Spark's JVM stopped unexpectedly")
    assert not (tmp_path / "m" / "current").exists()  # nothing was published
