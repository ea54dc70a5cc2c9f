"""The architecture holds: imports go down the layers, nobody reaches into private names.

docs/architecture.md draws the layers; pyproject.toml's ``[tool.importlinter]`` states them as
import-linter contracts, which this test runs (a new module must be given a layer: the
contracts are exhaustive).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "relatedness"

#: The modules kept at an old import path for users; nothing inside the package imports them.
SHIMS = {"index", "vectorize", "analysis", "precompute", "writers"}


def test_the_import_layers_hold():
    pytest.importorskip("importlinter")
    done = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=ROOT / "src", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found.append((name.removesuffix(".__init__"), ast.parse(path.read_text(), str(path))))
    return found


def _target(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The absolute module an ``from ... import`` names."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for module, tree in _modules():
        is_package = (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _target(module, node, is_package)
                if not target.startswith("relatedness"):
                    continue
                names = [a.name for a in node.names]
                private = [n for n in names if n.startswith("_") and not n.endswith("__")]
                if private or any(part.startswith("_") for part in target.split(".")):
                    offenders.append(f"{module}: from {target} import {private or '...'}")
    assert offenders == []


def test_nothing_inside_the_package_imports_a_public_shim():
    offenders = []
    for module, tree in _modules():
        is_package = (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _target(module, node, is_package)
                names = {a.name for a in node.names}
                if target in {f"relatedness.{s}" for s in SHIMS} or (
                    target == "relatedness" and names & SHIMS
                ):
                    offenders.append(f"{module} imports {target}")
    assert offenders == []


def test_the_facade_stays_a_facade():
    """docs/architecture.md: the façade stores parameters, validates and delegates."""
    lines = (PACKAGE / "recommender.py").read_text().count("\n")
    assert lines <= 800, f"recommender.py has {lines} lines; move the logic to its layer"


def test_the_architecture_picture_is_current():
    """docs/architecture.svg is what docs/draw_layers.py draws from today's contract and code."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "draw_layers.py")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    committed = (ROOT / "docs" / "architecture.svg").read_text(encoding="utf-8")
    assert done.stdout == committed, "run: python docs/draw_layers.py > docs/architecture.svg"
