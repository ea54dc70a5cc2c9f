"""Results as plain text: the display names of the metric keys and the text table.

:func:`format_table` prints what :func:`~relatedness.evaluate.evaluate_model` and
:func:`~relatedness.evaluate.evaluate_systems` return; :func:`format_value` is its rule for
one cell, shared with the progress lines of :func:`~relatedness.evaluate.grid_search`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Display names of the result keys; ``{k}`` is filled in by :func:`format_table`.
METRIC_LABELS: dict[str, str] = {
    "k": "k",
    "section_policy": "section policy",
    "n_articles": "articles",
    "n_queries": "labelled queries",
    "precision_at_k": "P@{k}",
    "map_at_k": "MAP@{k}",
    "ndcg_at_k": "nDCG@{k}",
    "n_twins": "articles with a twin",
    "twin_recall": "twin recall",
    "coverage": "coverage",
    "gini": "Gini of appearances",
    "empty_share": "empty-list share",
    "intra_list_similarity": "intra-list similarity",
    "section_purity": "section purity",
    "median_age_gap_days": "median age gap (days)",
    "mean_age_gap_days": "mean age gap (days)",
    "latency_p50_ms": "related() p50 (ms)",
    "latency_p99_ms": "related() p99 (ms)",
}


def format_value(value: Any) -> str:
    """One metric value as table text: ``-`` for None/NaN, ints with separators, 3 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.3f}" if abs(value) < 100 else f"{float(value):,.1f}"
    return str(value)


def format_table(results: Mapping[str, Any]) -> str:
    """Render evaluation results as a plain-text table.

    Parameters
    ----------
    results : dict
        One system's flat dict (:func:`evaluate_model`): two columns, metric and value. Or
        ``{name: dict}`` (:func:`evaluate_systems`): one column per system.

    Returns
    -------
    str
        Metric names use :data:`METRIC_LABELS` with ``k`` filled in; ``None`` prints as
        ``-``; floats with 3 decimals.

    Examples
    --------
    >>> print(format_table({"k": 10, "precision_at_k": 0.9213, "twin_recall": None}))
    metric       value
    k               10
    P@10         0.921
    twin recall      -
    """
    many = bool(results) and all(isinstance(v, Mapping) for v in results.values())
    columns: dict[str, Mapping[str, Any]] = (
        {str(name): r for name, r in results.items()} if many else {"value": results}
    )
    keys = list(dict.fromkeys(key for r in columns.values() for key in r))
    k = next((r["k"] for r in columns.values() if "k" in r), "k")

    def name_of(key: str) -> str:
        return METRIC_LABELS.get(key, key).format(k=k)

    header = ["metric", *columns]
    body = [[name_of(key), *(format_value(r.get(key)) for r in columns.values())] for key in keys]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = []
    for row in [header, *body]:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
