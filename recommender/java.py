"""Find a Java runtime Spark 4 can use (17 or 21), or install one into the project.

Order: ``JAVA_HOME``, then ``java`` on ``PATH``, then a JDK previously installed into
``settings.jdk_dir``. If none is suitable, the ``install-jdk`` package downloads a
Temurin JRE there (no root needed). If that fails too, :class:`JavaUnavailable` says
how to install Java on this platform, in one line.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from recommender.errors import JavaUnavailable

SUPPORTED_MAJORS = (17, 21)
INSTALL_VERSION = "17"

_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')


def java_major(java: Path) -> int | None:
    """The major version ``java -version`` reports, or None if it does not run."""
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION_RE.search(out.stderr + out.stdout)
    if out.returncode != 0 or not match:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_392".
    return int(match.group(2) or 0) if major == 1 else major


def _candidates(jdk_dir: Path, env: dict[str, str]) -> list[Path]:
    found: list[Path] = []
    if env.get("JAVA_HOME"):
        found.append(Path(env["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java", path=env.get("PATH"))
    if on_path:
        found.append(Path(on_path))
    if jdk_dir.is_dir():
        found.extend(sorted(jdk_dir.glob("*/bin/java")))
        found.extend(sorted(jdk_dir.glob("*/Contents/Home/bin/java")))  # macOS layout
    return found


def java_home_of(java: Path) -> Path:
    """JAVA_HOME for a ``.../bin/java`` executable, following symlinks."""
    return java.resolve().parent.parent


def find_java(jdk_dir: Path, env: dict[str, str] | None = None) -> Path | None:
    """The first Java executable whose major version Spark supports."""
    env = dict(os.environ) if env is None else env
    for java in _candidates(jdk_dir, env):
        if java.exists() and java_major(java) in SUPPORTED_MAJORS:
            return java
    return None


def install_hint() -> str:
    """The command that installs Java 17 on this platform."""
    system = platform.system()
    if system == "Darwin":
        return "brew install openjdk@17"
    if system == "Windows":
        return "winget install EclipseAdoptium.Temurin.17.JRE"
    if shutil.which("apt-get"):
        return "sudo apt-get install -y openjdk-17-jre-headless"
    if shutil.which("dnf"):
        return "sudo dnf install -y java-17-openjdk-headless"
    if shutil.which("pacman"):
        return "sudo pacman -S jre17-openjdk-headless"
    return "install a Java 17 or 21 runtime from https://adoptium.net"


def _install_temurin(jdk_dir: Path) -> Path:
    import jdk  # install-jdk; imported lazily because only this path needs it

    jdk_dir.mkdir(parents=True, exist_ok=True)
    home = Path(jdk.install(INSTALL_VERSION, operating_system=jdk.OS, arch=jdk.ARCH, jre=True,
                            path=str(jdk_dir)))
    return home / "bin" / "java"


def ensure_java(
    jdk_dir: Path,
    *,
    install: bool = True,
    installer: Callable[[Path], Path] = _install_temurin,
    env: dict[str, str] | None = None,
) -> Path:
    """Return JAVA_HOME of a suitable runtime, installing Temurin if allowed.

    Also exports ``JAVA_HOME`` so the pyspark launcher starts that runtime.
    """
    java = find_java(jdk_dir, env)
    if java is None and install:
        print(f"No Java 17/21 found; downloading Temurin {INSTALL_VERSION} into {jdk_dir}/ ...",
              flush=True)
        try:
            java = installer(jdk_dir)
        except Exception as exc:  # any network or archive failure ends the same way
            raise JavaUnavailable(
                f"Spark needs Java 17 or 21 and none was found; downloading one failed "
                f"({type(exc).__name__}). Install it with: {install_hint()}"
            ) from None
        if java_major(java) not in SUPPORTED_MAJORS:
            raise JavaUnavailable(
                f"The downloaded Java at {java} does not run. Install it with: {install_hint()}"
            )
    if java is None:
        raise JavaUnavailable(
            f"Spark needs Java 17 or 21 and none was found. Install it with: {install_hint()}"
        )
    home = java_home_of(java)
    os.environ["JAVA_HOME"] = str(home)
    return home
