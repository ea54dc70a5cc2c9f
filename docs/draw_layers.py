"""Draw docs/architecture.svg: the layers of pyproject.toml's contract and the imports between.

Usage (from the project root)::

    python docs/draw_layers.py > docs/architecture.svg

Each band is one layer of the ``[tool.importlinter]`` "layers" contract, top to bottom; each box
is one of its modules or packages; each line is an import the code makes from a box to a box of
a lower band (read from the source with ``ast``, nothing is run). tests/test_layers.py checks
that the committed picture is the one this draws, so it cannot drift from the code.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "relatedness"

#: What each box holds, in a few words (shown under its name).
ROLES = {
    "cli": "the command line",
    "index": "shim",
    "vectorize": "shim",
    "analysis": "shim",
    "precompute": "shim",
    "writers": "shim",
    "batch": "precompute: runs, shards, executors, writers",
    "evaluate": "metrics, baselines, experiments, reports",
    "recommender": "RelatedArticles: the facade",
    "datasets": "the bundled sample",
    "ranking": "the query planner",
    "store": "model files",
    "archive": "fitted rows and fields",
    "engine": "exact top-k behind one door",
    "features": "analysis, TF-IDF",
    "articles": "records, readers, checks",
    "text": "cleaning",
    "render": "the HTML box",
    "params": "the parameter table",
    "validation": "checks",
    "atomic": "atomic files",
    "results": "Related, ArticleId",
    "exceptions": "errors",
}

BAND = 64
WIDTH = 1100
MARGIN = 16


def layers() -> list[list[str]]:
    """The top-level contract's layers, top first, each a list of module names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def imports() -> set[tuple[str, str]]:
    """(importer, imported) pairs of top-level units of the package (ast, no import)."""
    pairs: set[tuple[str, str]] = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue
        unit = parts[0]
        package = ["relatedness", *parts[:-1]]  # what a relative import is relative to
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [target[1]] if len(target) > 1 else [a.name for a in node.names]
                pairs.update((unit, name) for name in names if name != unit)
    return pairs


def draw() -> str:
    bands = layers()
    where: dict[str, tuple[float, float, float]] = {}
    height = MARGIN * 2 + BAND * len(bands) * 1.5
    rows = []
    for level, names in enumerate(bands):
        y = MARGIN + level * BAND * 1.5
        rows.append(
            f'<rect x="{MARGIN / 2}" y="{y - 6}" width="{WIDTH - MARGIN}" height="{BAND + 12}" '
            f'rx="6" fill="{"#f4f6fa" if level % 2 else "#eaeef5"}"/>'
        )
        box = (WIDTH - 2 * MARGIN - 10 * (len(names) - 1)) / len(names)
        for i, name in enumerate(names):
            x = MARGIN + i * (box + 10)
            where[name] = (x + box / 2, y, y + BAND)
            shim = ROLES.get(name) == "shim"
            rows.append(
                f'<rect x="{x:.1f}" y="{y}" width="{box:.1f}" height="{BAND}" rx="4" '
                f'fill="{"#ffffff" if not shim else "#f9f9f9"}" stroke="#5b6b8c" '
                f'stroke-dasharray="{"4 3" if shim else "none"}"/>'
            )
            rows.append(
                f'<text x="{x + box / 2:.1f}" y="{y + 26}" text-anchor="middle" '
                f'font-size="15" font-weight="bold">{escape(name)}</text>'
            )
            rows.append(
                f'<text x="{x + box / 2:.1f}" y="{y + 46}" text-anchor="middle" '
                f'font-size="11" fill="#444">{escape(ROLES.get(name, ""))}</text>'
            )
    lines = []
    for importer, imported in sorted(imports()):
        if importer in where and imported in where:
            x1, _, bottom = where[importer]
            x2, top, _ = where[imported]
            lines.append(
                f'<line x1="{x1:.1f}" y1="{bottom}" x2="{x2:.1f}" y2="{top}" '
                'stroke="#8a9bbd" stroke-opacity="0.45" marker-end="url(#arrow)"/>'
            )
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="sans-serif">',
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
            'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" fill="#8a9bbd"/></marker></defs>',
            '<rect width="100%" height="100%" fill="white"/>',
            *rows,
            *lines,
            "</svg>",
            "",
        ]
    )


if __name__ == "__main__":
    sys.stdout.write(draw())
