"""Newsroom ranking policies as small pure functions over candidate arrays.

The façade turns its parameters into data with these helpers: per-query time rules
(:func:`time_rules`), tag rows (:func:`tag_rows`), and the greedy post-pass that keeps at
most one story per near-duplicate pair, a per-section quota and MMR diversity
(:func:`select`). Hard filters (section, exclusions, window, the query's own duplicates) are
applied inside the scoring engine before top-k; :func:`select` only ever chooses among an
already-ranked pool and asks for a larger pool when it runs short, so nothing is starved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "FALLBACK_STEPS",
    "days_since_epoch",
    "select",
    "time_rules",
]

#: Steps a fallback chain may name, tried in order while a list is shorter than k.
#: "same_section": the model's own section policy (a no-op as a first step, for readability);
#: "any": stories of every section; "relax_time": drop max_age and allow newer stories;
#: "latest": the newest stories of the same section, whatever their score (score 0).
FALLBACK_STEPS = ("same_section", "any", "relax_time", "latest")

_EPOCH = dt.datetime(1970, 1, 1)


def days_since_epoch(values: Sequence[dt.date | dt.datetime | None]) -> np.ndarray:
    """Publication times as float days since 1970-01-01; NaN for undated articles."""
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is None:
            continue
        if not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        out[i] = (value - _EPOCH).total_seconds() / 86400.0
    return out


def time_rules(
    sections: Sequence[str],
    max_age: float | None,
    half_life: float | None,
    overrides: Mapping[str, Mapping[str, float | None]] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query ``max_age`` and ``half_life`` in days (inf = none), with section overrides.

    Parameters
    ----------
    sections : sequence of str
        The query articles' sections.
    max_age, half_life : float or None
        The model-wide defaults, in days.
    overrides : dict, optional
        ``{section: {"max_age": days or None, "recency_half_life": days or None}}``; a key
        present with ``None`` turns the rule off for that section, an absent key keeps the
        default.

    Examples
    --------
    >>> ages, lives = time_rules(["politics", "culture"], 365, 30,
    ...                          {"culture": {"recency_half_life": 365}})
    >>> ages.tolist(), lives.tolist()
    ([365.0, 365.0], [30.0, 365.0])
    """
    inf = float("inf")
    default_age = inf if max_age is None else float(max_age)
    default_life = inf if half_life is None else float(half_life)
    ages = np.full(len(sections), default_age)
    lives = np.full(len(sections), default_life)
    for section, rule in (overrides or {}).items():
        which = np.fromiter((s == section for s in sections), bool, len(sections))
        if "max_age" in rule:
            ages[which] = inf if rule["max_age"] is None else float(rule["max_age"])
        if "recency_half_life" in rule:
            life = rule["recency_half_life"]
            lives[which] = inf if life is None else float(life)
    return ages, lives


def select(
    rows: np.ndarray,
    scores: np.ndarray,
    k: int,
    *,
    similarity: Callable[[int, np.ndarray], np.ndarray],
    duplicate_threshold: float | None,
    max_per_section: int | None,
    sections: np.ndarray,
    diversity: float,
    held: Sequence[int] = (),
) -> tuple[list[int], list[float]]:
    """Greedily choose up to ``k`` rows from a ranked pool.

    Walks the pool best first (or by maximal marginal relevance when ``diversity > 0``) and
    skips a candidate that is a near-duplicate (cosine >= ``duplicate_threshold``) of a story
    already chosen or ``held`` (pinned items), or whose section already has
    ``max_per_section`` stories in the list.

    Parameters
    ----------
    rows, scores : ndarray
        The pool, best first.
    k : int
        How many to choose.
    similarity : callable
        ``similarity(row, others)`` returns the cosines of index row ``row`` with the index
        rows ``others``. Only the pairs the walk needs are asked for: each candidate against
        the stories chosen so far (or, with diversity, each chosen story against the pool),
        not the whole pool pairwise.
    duplicate_threshold : float or None
    max_per_section : int or None
    sections : ndarray of int
        Section code of every index row.
    diversity : float in [0, 1]
        MMR trade-off: each step picks the candidate maximising
        ``(1 - diversity) * score - diversity * max cosine to the chosen``; 0 keeps the pool
        order.
    held : sequence of int
        Rows already in the list (pinned), counted for duplicates and quotas.

    Returns
    -------
    (rows, scores) : lists
        The chosen rows and their scores (the ranking scores, not the MMR values), in list
        order.
    """
    held = list(held)
    all_rows = np.concatenate([np.asarray(held, dtype=np.int64), rows]).astype(np.int64)
    offset = len(held)
    per_section: dict[int, int] = {}
    for r in held:
        per_section[int(sections[r])] = per_section.get(int(sections[r]), 0) + 1
    # With diversity, the largest cosine of every pool row to the stories chosen so far; it
    # is also what the duplicate rule asks of a pick.
    redundancy = np.full(len(all_rows), -np.inf) if diversity > 0 else None
    chosen: list[int] = []  # positions in all_rows
    chosen_pos: list[int] = []  # held and chosen positions: what a pick is compared with

    def choose(position: int) -> None:
        chosen_pos.append(position)
        if redundancy is not None:
            np.maximum(redundancy, similarity(int(all_rows[position]), all_rows), out=redundancy)

    for position in range(offset):
        choose(position)
    remaining = list(range(offset, len(all_rows)))
    while remaining and len(chosen) < k:
        if redundancy is not None and chosen_pos:
            relevance = scores[np.array(remaining) - offset]
            mmr = (1 - diversity) * relevance - diversity * redundancy[remaining]
            pick = remaining[int(np.argmax(mmr))]  # argmax keeps the first of equal values
        else:
            pick = remaining[0]
        remaining.remove(pick)
        section = int(sections[all_rows[pick]])
        if max_per_section is not None and per_section.get(section, 0) >= max_per_section:
            continue
        if duplicate_threshold is not None and chosen_pos:
            if redundancy is not None:
                nearest = redundancy[pick]
            else:
                nearest = similarity(int(all_rows[pick]), all_rows[chosen_pos]).max()
            if nearest >= duplicate_threshold:
                continue
        chosen.append(pick)
        choose(pick)
        per_section[section] = per_section.get(section, 0) + 1
    out_rows = [int(all_rows[p]) for p in chosen]
    out_scores = [float(scores[p - offset]) for p in chosen]
    return out_rows, out_scores


def pairs_to_json(mapping: Mapping[Any, Sequence[Any]] | None) -> list[list[Any]] | None:
    """``{id: [ids]}`` as ``[[id, [ids]], ...]``: JSON object keys would turn int ids to str."""
    if mapping is None:
        return None
    return [[key, list(values)] for key, values in mapping.items()]
