"""The rules of a query, as one type: what may be ranked and how a cosine becomes a score.

:class:`Rules` holds every rule of a batch of queries, per query where it varies: the time
window (``max_age``, ``allow_newer``), recency decay, the tag bonus, the duplicate threshold and
per-query exclusions. Section policy and the ``allowed`` mask are the candidate set and are
given beside it. Both engine backends apply a :class:`Rules` through the same two functions,
:func:`outside_window` (which pairs the window drops) and :meth:`Rules.score` (a block of
cosines to ranking scores), so the reference and the compiled path rank by the same
arithmetic.

Times are float days (any epoch), ``NaN`` for undated articles; an undated query or candidate
is exempt from the window, ``allow_newer`` and decay.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["Rules", "days_since_epoch", "outside_window", "time_rules"]

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


def outside_window(
    gap: np.ndarray, max_age: np.ndarray | float | None, allow_newer: bool
) -> np.ndarray:
    """Which age gaps (query time minus candidate time, days; NaN = undated) the window drops.

    The one definition of the hard time rules, used on dense blocks, on ranked pools and by
    the "latest" fallback.
    """
    dated = ~np.isnan(gap)
    drop = np.zeros(gap.shape, dtype=bool)
    if max_age is not None:
        # "further apart in time" both ways: an old story and a far-later one alike.
        drop |= dated & (np.abs(gap) > max_age)
    if not allow_newer:
        drop |= dated & (gap < 0)
    return drop


def _is_every(which: np.ndarray, size: int) -> bool:
    """Whether an index array is ``0, 1, ..., size - 1``."""
    if len(which) != size:
        return False
    if size == 0:
        return True
    return int(which[0]) == 0 and int(which[-1]) == size - 1 and (
        size < 3 or bool(np.all(np.diff(which) == 1))
    )


@dataclass(frozen=True)
class Rules:
    """Every rule of one batch of ``m`` queries (per-query arrays have length ``m``).

    Attributes
    ----------
    times : ndarray of shape (m,), optional
        Query publication times in days (NaN undated); ``None``: no time rule at all.
    max_age : ndarray of shape (m,), optional
        Window in days (inf: none).
    half_life : ndarray of shape (m,), optional
        Recency decay half-life in days (inf: none): the score is multiplied by
        ``2 ** (-|gap| / half_life)``.
    allow_newer : bool
        Whether a candidate published after the query may be returned.
    tags : csr_matrix of shape (m, n_tags), optional
        L2-normalised tag rows of the queries, for the tag bonus.
    tag_weight : float
        The bonus is ``tag_weight * cosine(tag sets)``, added to a candidate the other rules
        kept (tags never make a story related on their own).
    duplicate_threshold : float, optional
        A candidate whose cosine is at least this is a copy of the query: dropped.
    exclude_rows : sequence of ndarray, optional
        Per query, index rows never to return (blocked pairs, stories already chosen).
    """

    times: np.ndarray | None = None
    max_age: np.ndarray | None = None
    half_life: np.ndarray | None = None
    allow_newer: bool = True
    tags: sp.csr_matrix | None = None
    tag_weight: float = 0.0
    duplicate_threshold: float | None = None
    exclude_rows: Sequence[np.ndarray] | None = None

    def take(self, which: Any) -> Rules:
        """The rules of the queries ``which`` (an index array or a slice)."""
        if isinstance(which, np.ndarray) and _is_every(which, self.size):
            return self  # a single query's batch passes through several steps unchanged

        def cut(a: Any) -> Any:
            return None if a is None else a[which]

        excluded = None
        if self.exclude_rows is not None:
            picked = range(len(self.exclude_rows))[which] if isinstance(which, slice) else which
            excluded = [self.exclude_rows[i] for i in picked]
        return Rules(
            cut(self.times),
            cut(self.max_age),
            cut(self.half_life),
            self.allow_newer,
            cut(self.tags),
            self.tag_weight,
            self.duplicate_threshold,
            excluded,
        )

    # ------------------------------------------------------------------ what the rules do

    @property
    def windowed(self) -> bool:
        """A time window (``max_age`` or no newer stories) restricts the candidates."""
        return self.times is not None and (
            (self.max_age is not None and bool(np.isfinite(self.max_age).any()))
            or not self.allow_newer
        )

    @property
    def removes(self) -> bool:
        """Some rule removes candidates (copies, exclusions, a window)."""
        return (
            self.duplicate_threshold is not None
            or self.exclude_rows is not None
            or (self.times is not None and (self.max_age is not None or not self.allow_newer))
        )

    @property
    def decays(self) -> bool:
        """Recency decay changes scores."""
        return (
            self.times is not None
            and self.half_life is not None
            and bool(np.isfinite(self.half_life).any())
        )

    @property
    def adds_tags(self) -> bool:
        """The tag bonus changes scores."""
        return bool(self.tag_weight) and self.tags is not None

    @property
    def rescores(self) -> bool:
        """Some rule changes scores, so the cosine order is not the ranking order."""
        return self.decays or self.adds_tags

    def bonus_bound(self) -> np.ndarray:
        """Per query, the largest tag bonus any candidate can get (0 without tags)."""
        if not self.adds_tags or self.tags is None:
            return np.zeros(self.size)
        has_tags = np.diff(sp.csr_matrix(self.tags).indptr) > 0
        return np.where(has_tags, float(self.tag_weight), 0.0)

    @functools.cached_property
    def size(self) -> int:
        """Number of queries the per-query arrays describe."""
        for array in (self.times, self.max_age, self.half_life):
            if array is not None:
                return len(array)
        if self.tags is not None:
            return int(self.tags.shape[0])
        return 0 if self.exclude_rows is None else len(self.exclude_rows)

    # ------------------------------------------------------------------ the arithmetic

    def score(
        self,
        block: np.ndarray,
        candidate_times: np.ndarray | None,
        shared_tags: np.ndarray | None,
    ) -> np.ndarray:
        """Turn a block of cosines into ranking scores, in place (0 = not a candidate).

        Row ``i`` of ``block`` belongs to query ``i`` of these rules. ``candidate_times``
        (days, NaN undated) and ``shared_tags`` (the tag cosines) broadcast against
        ``block``: shape ``(n,)`` for a block over one candidate set, ``(m, p)`` for ranked
        pools gathered per query. Applied in this order, whatever the block's shape, so the
        same pair gets the same bits on every path: copies of the query dropped (on the
        cosine), the window, decay, then the tag bonus on what the other rules kept.
        A cosine is at most 1: the rounding of float32 rows (1.00000004 for two identical
        articles) is clipped first, so a copy scores exactly 1.0.
        """
        np.minimum(block, 1.0, out=block)
        if self.duplicate_threshold is not None:
            block[block >= self.duplicate_threshold] = 0.0
        if self.times is not None and candidate_times is not None:
            # gap > 0: the candidate is older than the query.
            gap = self.times[:, None] - candidate_times
            dated = ~np.isnan(gap)
            max_age = None if self.max_age is None else self.max_age[:, None]
            block[outside_window(gap, max_age, self.allow_newer)] = 0.0
            if self.half_life is not None and np.isfinite(self.half_life).any():
                decay = np.exp2(-np.abs(np.where(dated, gap, 0.0)) / self.half_life[:, None])
                block *= decay
        if self.tag_weight and shared_tags is not None:
            # The bonus joins only candidates the rules above kept: tags never revive an
            # excluded or out-of-window story, and never make a story related on tags alone.
            block += np.where(block > 0.0, self.tag_weight * shared_tags, 0.0)
        return block
