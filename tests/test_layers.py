"""The layers: which package may import which, checked on the source (lazy imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "jobs", "recommender", "storage")
# Who may import whom: storage knows nothing of the others; the recommender works on
# arrays and files; jobs read storage and run the recommender; the bot uses them all.
ALLOWED = {
    "storage": set(),
    "recommender": set(),
    "jobs": {"recommender", "storage"},
    "bot": {"recommender", "storage", "jobs"},
}


def imported_packages(path: Path) -> set[str]:
    """Our top-level packages that a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(PACKAGES)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_layers_below_it(package):
    crossing = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        wrong = imported_packages(path) - ALLOWED[package] - {package}
        if wrong:
            crossing[str(path.relative_to(ROOT))] = sorted(wrong)
    assert crossing == {}


def test_the_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from storage import Storage\n    import bot.core\n")
    assert imported_packages(module) == {"storage", "bot"}
