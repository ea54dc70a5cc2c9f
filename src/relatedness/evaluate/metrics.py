"""List metrics: each scores related lists against labels, the corpus, dates or a model.

Label-proxy relevance (:func:`evaluate_lists`, :func:`precision_curve`), twins
(:func:`twin_groups`, :func:`twin_recall`), coverage and concentration
(:func:`appearance_counts`, :func:`coverage`, :func:`gini`, :func:`empty_share`),
intra-list similarity, freshness (:func:`age_gaps`, :func:`freshness`), section purity,
stability (:func:`overlap_at_k`) and latency of single ``related()`` calls (:func:`latency`).
Undefined values are ``None``, never NaN.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ..results import ArticleId
from .inputs import Lists, as_days, as_lists, as_records

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from ..recommender import RelatedArticles


# --------------------------------------------------------------------------------------------
# Label-proxy relevance
# --------------------------------------------------------------------------------------------


def _relevant_counts(labels: Mapping[ArticleId, Collection[str]]) -> dict[ArticleId, int]:
    """For each labelled id, how many *other* ids share at least one of its labels."""
    members: dict[str, set[ArticleId]] = defaultdict(set)
    for article_id, found in labels.items():
        for lab in found:
            members[lab].add(article_id)
    cache: dict[frozenset[str], int] = {}
    out: dict[ArticleId, int] = {}
    for article_id, found in labels.items():
        key = frozenset(found)
        if not key:
            continue
        if key not in cache:
            # Single-label corpora: the label's size; multi-label: the union of its labels.
            cache[key] = len(set().union(*(members[lab] for lab in key)))
        out[article_id] = cache[key] - 1
    return out


def evaluate_lists(
    lists: Lists, labels: Mapping[ArticleId, Collection[str]], k: int
) -> dict[str, Any]:
    """Label-proxy relevance of related lists: precision@k, MAP@k and nDCG@k.

    A related article is relevant to a query article when they share at least one label.
    Queries are the ids of ``lists`` that have a label and at least one other article sharing
    it (the denominator of MAP/nDCG would be 0 otherwise); the others are skipped.

    Parameters
    ----------
    lists : mapping of id to sequence of ids
        Related ids, best first; only the first ``k`` count. Items may be
        :class:`~relatedness.Related` records.
    labels : mapping of id to collection of str
        Every article of the corpus (not only the queries): it also gives the number ``R`` of
        relevant articles a query has, which MAP and nDCG need.
    k : int

    Returns
    -------
    dict
        ``k``; ``n_queries``; ``precision_at_k`` = mean of (relevant in top k) / k (a list
        shorter than ``k`` is penalised: the box has empty slots); ``map_at_k`` = mean of
        ``sum_i P@i * rel_i / min(k, R)``; ``ndcg_at_k`` = mean of DCG / ideal DCG with binary
        gains and ``log2(rank + 1)`` discounts. The three are ``None`` when there are no
        queries.

    Examples
    --------
    >>> labels = {"a": {"x"}, "b": {"x"}, "c": {"y"}, "d": {"x"}}
    >>> r = evaluate_lists({"a": ["c", "b"]}, labels, k=2)
    >>> r["precision_at_k"], r["map_at_k"]
    (0.5, 0.25)
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        msg = f"k must be an int >= 1, got {k!r}."
        raise ValueError(msg)
    lists = as_lists(lists)
    relevant_total = _relevant_counts(labels)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precisions: list[float] = []
    aps: list[float] = []
    ndcgs: list[float] = []
    for query, items in lists.items():
        total = relevant_total.get(query, 0)
        if total == 0:
            continue
        own = frozenset(labels[query])
        rel = np.array(
            [not own.isdisjoint(labels.get(item, ())) for item in items[:k]], dtype=np.float64
        )
        hits = np.cumsum(rel)
        ranks = np.arange(1, len(rel) + 1)
        ideal = min(k, total)
        precisions.append(float(hits[-1]) / k if len(rel) else 0.0)
        aps.append(float(np.sum(rel * hits / ranks)) / ideal)
        ndcgs.append(float(np.sum(rel * discounts[: len(rel)])) / float(discounts[:ideal].sum()))
    n = len(precisions)
    return {
        "k": k,
        "n_queries": n,
        "precision_at_k": float(np.mean(precisions)) if n else None,
        "map_at_k": float(np.mean(aps)) if n else None,
        "ndcg_at_k": float(np.mean(ndcgs)) if n else None,
    }


def precision_curve(
    lists: Lists, labels: Mapping[ArticleId, Collection[str]], ks: Iterable[int]
) -> dict[int, float | None]:
    """Return precision@k for several k from one set of lists (each list cut at k).

    Parameters
    ----------
    lists : mapping of id to sequence of ids
        Computed for the largest k.
    labels : mapping of id to collection of str
    ks : iterable of int

    Returns
    -------
    dict
        ``k -> precision@k`` (``None`` without labelled queries).

    Examples
    --------
    >>> labels = {"a": {"x"}, "b": {"x"}, "c": {"y"}}
    >>> precision_curve({"a": ["b", "c"]}, labels, [1, 2])
    {1: 1.0, 2: 0.5}
    """
    return {k: evaluate_lists(lists, labels, k)["precision_at_k"] for k in ks}


# --------------------------------------------------------------------------------------------
# Twins, coverage, concentration, empty lists
# --------------------------------------------------------------------------------------------


def twin_groups(articles: Any) -> list[list[ArticleId]]:
    """Return the groups (size >= 2) of articles whose bodies are identical.

    Bodies are compared exactly after stripping outer whitespace; empty bodies are not twins.

    Parameters
    ----------
    articles : iterable of dict or Article, or a pandas DataFrame

    Returns
    -------
    list of list of ids
        In first-seen order.

    Examples
    --------
    >>> twin_groups([{"id": 1, "body": "Same."}, {"id": 2, "body": "Other."},
    ...              {"id": 3, "body": " Same. "}])
    [[1, 3]]
    """
    by_body: dict[str, list[ArticleId]] = defaultdict(list)
    for record in as_records(articles):
        body = record.get("body")
        if isinstance(body, str) and body.strip():
            by_body[body.strip()].append(record["id"])
    return [group for group in by_body.values() if len(group) >= 2]


def twin_recall(lists: Lists, articles: Any) -> float | None:
    """Share of articles with an identical-body twin whose list ranks a twin first.

    Parameters
    ----------
    lists : mapping of id to sequence of ids
    articles : iterable of dict or Article, or a pandas DataFrame
        The corpus, for the bodies (see :func:`twin_groups`).

    Returns
    -------
    float or None
        Over the articles of ``lists`` that have a twin; ``None`` when none has.

    Examples
    --------
    >>> corpus = [{"id": "a", "body": "x y"}, {"id": "b", "body": "x y"},
    ...           {"id": "c", "body": "z"}]
    >>> twin_recall({"a": ["b", "c"], "b": ["c", "a"], "c": []}, corpus)
    0.5
    """
    lists = as_lists(lists)
    hits = total = 0
    for group in twin_groups(articles):
        members = set(group)
        for article_id in group:
            if article_id not in lists:
                continue
            total += 1
            items = lists[article_id]
            hits += bool(items) and items[0] in members and items[0] != article_id
    return hits / total if total else None


def appearance_counts(lists: Lists, all_ids: Iterable[ArticleId]) -> dict[ArticleId, int]:
    """How many lists each article appears in (0 for articles shown nowhere).

    Parameters
    ----------
    lists : mapping of id to sequence of ids
    all_ids : iterable of ids
        The corpus; ids of ``lists`` outside it are ignored.

    Returns
    -------
    dict
        ``id -> count``, in ``all_ids`` order.

    Examples
    --------
    >>> appearance_counts({"a": ["b", "c"], "b": ["a"], "c": []}, ["a", "b", "c", "d"])
    {'a': 1, 'b': 1, 'c': 1, 'd': 0}
    """
    counts = dict.fromkeys(all_ids, 0)
    for items in as_lists(lists).values():
        for item in items:
            if item in counts:
                counts[item] += 1
    return counts


def coverage(lists: Lists, all_ids: Iterable[ArticleId]) -> float:
    """Share of the corpus that appears in at least one list.

    Parameters
    ----------
    lists : mapping of id to sequence of ids
    all_ids : iterable of ids
        The corpus (non-empty).

    Returns
    -------
    float

    Examples
    --------
    >>> coverage({"a": ["b"], "b": ["a"], "c": []}, ["a", "b", "c", "d"])
    0.5
    """
    counts = appearance_counts(lists, all_ids)
    if not counts:
        msg = "coverage needs a non-empty corpus (all_ids is empty)."
        raise ValueError(msg)
    return sum(c > 0 for c in counts.values()) / len(counts)


def gini(counts: Iterable[float]) -> float:
    """Gini coefficient of non-negative counts: 0 when all equal, (n-1)/n when one has all.

    Used on :func:`appearance_counts`: a high Gini means a few articles fill most boxes.

    Parameters
    ----------
    counts : iterable of numbers >= 0
        Non-empty. All zero counts as "all equal" (0.0).

    Returns
    -------
    float

    Examples
    --------
    >>> gini([3, 3, 3])
    0.0
    >>> gini([0, 0, 0, 5])
    0.75
    """
    x = np.sort(np.asarray(list(counts), dtype=np.float64))
    if x.size == 0:
        msg = "gini needs at least one count."
        raise ValueError(msg)
    if np.any(x < 0) or not np.all(np.isfinite(x)):
        msg = "gini needs finite counts >= 0."
        raise ValueError(msg)
    total = x.sum()
    if total == 0:
        return 0.0
    n = x.size
    ranks = np.arange(1, n + 1)
    # The sorted form of sum_ij |x_i - x_j| / (2 n^2 mean): O(n log n), not O(n^2).
    return float(2.0 * np.sum(ranks * x) / (n * total) - (n + 1) / n)


def empty_share(lists: Lists) -> float | None:
    """Share of lists that are empty (``None`` when there are no lists).

    Examples
    --------
    >>> empty_share({"a": ["b"], "b": [], "c": [], "d": ["a"]})
    0.5
    """
    if not lists:
        return None
    return sum(not items for items in lists.values()) / len(lists)


# --------------------------------------------------------------------------------------------
# Similarity within lists, freshness, sections, stability, latency
# --------------------------------------------------------------------------------------------


def intra_list_similarity(
    lists: Lists, matrix: sp.spmatrix | np.ndarray, row_of: Mapping[ArticleId, int]
) -> float | None:
    """Mean pairwise cosine between the items of a list, averaged over lists.

    Parameters
    ----------
    lists : mapping of id to sequence of ids
    matrix : sparse matrix or ndarray of shape (n, n_terms)
        L2-normalised rows (``model.index_.matrix``), so dot products are cosines.
    row_of : mapping of id to int
        Row of each id in ``matrix``; items without a row are left out.

    Returns
    -------
    float or None
        Over lists with at least two items; ``None`` when no list has two.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> intra_list_similarity({"q": [0, 1], "r": [0, 2]}, m, {0: 0, 1: 1, 2: 2})
    0.5
    """
    x = sp.csr_matrix(matrix, dtype=np.float64)
    rows_per_list = [
        [row_of[i] for i in items if i in row_of] for items in as_lists(lists).values()
    ]
    rows_per_list = [r for r in rows_per_list if len(r) >= 2]
    if not rows_per_list:
        return None
    # sum_{i != j} x_i . x_j = ||sum_i x_i||^2 - sum_i ||x_i||^2: one sparse product for all
    # lists instead of a k x k product per list.
    indptr = np.cumsum([0, *map(len, rows_per_list)])
    indices = np.concatenate(rows_per_list)
    member = sp.csr_matrix(
        (np.ones(len(indices)), indices, indptr), shape=(len(rows_per_list), x.shape[0])
    )
    sums = member @ x
    sq_norm_of_sum = np.asarray(sums.multiply(sums).sum(axis=1)).ravel()
    row_sq = np.asarray(x.multiply(x).sum(axis=1)).ravel()
    sum_sq = member @ row_sq
    m = np.diff(indptr).astype(np.float64)
    return float(np.mean((sq_norm_of_sum - sum_sq) / (m * (m - 1))))


def age_gaps(
    lists: Lists, published: Mapping[ArticleId, dt.date | dt.datetime | None]
) -> np.ndarray:
    """Signed age gaps in days, related minus article, over every dated (article, related) pair.

    Parameters
    ----------
    lists : mapping of id to sequence of ids
    published : mapping of id to date, datetime or None

    Returns
    -------
    ndarray of float
        Negative: the related story is older than the article.

    Examples
    --------
    >>> import datetime as dt
    >>> pub = {"a": dt.date(2024, 1, 10), "b": dt.date(2024, 1, 3), "c": None}
    >>> age_gaps({"a": ["b", "c"], "b": ["a"]}, pub).tolist()
    [-7.0, 7.0]
    """
    days = {i: as_days(p) for i, p in published.items() if p is not None}
    gaps = [
        days[item] - days[query]
        for query, items in as_lists(lists).items()
        if query in days
        for item in items
        if item in days
    ]
    return np.asarray(gaps, dtype=np.float64)


def freshness(
    lists: Lists, published: Mapping[ArticleId, dt.date | dt.datetime | None]
) -> dict[str, Any]:
    """Age gap between articles and their related ones (absolute days).

    Parameters
    ----------
    lists : mapping of id to sequence of ids
    published : mapping of id to date, datetime or None

    Returns
    -------
    dict
        ``median_age_gap_days``, ``mean_age_gap_days`` (``None`` without dated pairs),
        ``share_older`` (share of related stories older than their article) and
        ``n_dated_pairs``.

    Examples
    --------
    >>> import datetime as dt
    >>> pub = {"a": dt.date(2024, 1, 10), "b": dt.date(2024, 1, 3), "c": dt.date(2024, 1, 4)}
    >>> freshness({"a": ["b", "c"]}, pub)["median_age_gap_days"]
    6.5
    """
    gaps = age_gaps(lists, published)
    if gaps.size == 0:
        return {
            "median_age_gap_days": None,
            "mean_age_gap_days": None,
            "share_older": None,
            "n_dated_pairs": 0,
        }
    return {
        "median_age_gap_days": float(np.median(np.abs(gaps))),
        "mean_age_gap_days": float(np.mean(np.abs(gaps))),
        "share_older": float(np.mean(gaps < 0)),
        "n_dated_pairs": int(gaps.size),
    }


def section_purity(lists: Lists, sections: Mapping[ArticleId, str]) -> float | None:
    """Mean share of a list's items that are in the article's own section.

    Parameters
    ----------
    lists : mapping of id to sequence of ids
    sections : mapping of id to str
        ``""`` means no section; such queries are skipped.

    Returns
    -------
    float or None
        Over non-empty lists of sectioned articles; ``None`` when the corpus has fewer than
        two sections (purity would be trivially 1) or no such list exists.

    Examples
    --------
    >>> sections = {"a": "x", "b": "x", "c": "y"}
    >>> section_purity({"a": ["b", "c"], "b": ["a"], "c": []}, sections)
    0.75
    """
    if len({s for s in sections.values() if s}) < 2:
        return None
    shares = [
        sum(sections.get(item) == sections[query] for item in items) / len(items)
        for query, items in as_lists(lists).items()
        if items and sections.get(query)
    ]
    return float(np.mean(shares)) if shares else None


def overlap_at_k(lists_a: Lists, lists_b: Lists, k: int) -> float | None:
    """Stability: mean share of the top ``k`` two systems have in common, per article.

    Parameters
    ----------
    lists_a, lists_b : mapping of id to sequence of ids
    k : int

    Returns
    -------
    float or None
        Mean over ids in both of ``|A_k & B_k| / max(|A_k|, |B_k|)`` (two empty lists agree:
        1.0), so identical lists score 1 even when shorter than ``k``. ``None`` when the two
        share no id.

    Examples
    --------
    >>> overlap_at_k({"a": ["b", "c"], "b": ["a"]}, {"a": ["c", "d"], "b": ["a"]}, k=2)
    0.75
    """
    a, b = as_lists(lists_a), as_lists(lists_b)
    shares = []
    for query in a.keys() & b.keys():
        top_a, top_b = set(a[query][:k]), set(b[query][:k])
        size = max(len(top_a), len(top_b))
        shares.append(len(top_a & top_b) / size if size else 1.0)
    return float(np.mean(shares)) if shares else None


def latency(
    model: RelatedArticles,
    ids: Sequence[ArticleId] | None = None,
    k: int | None = None,
    n: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Wall-clock latency of single :meth:`~relatedness.RelatedArticles.related` calls.

    Parameters
    ----------
    model : RelatedArticles
        Fitted.
    ids : sequence of ids, optional
        Ids to sample from (default: all of the model's).
    k : int, optional
    n : int, default 200
        Calls timed (a seeded sample, with replacement when ``n`` exceeds the ids).
    seed : int, default 0

    Returns
    -------
    dict
        ``latency_p50_ms``, ``latency_p99_ms``, ``latency_mean_ms``, ``n_calls``.

    Examples
    --------
    >>> from relatedness import RelatedArticles, load_sample
    >>> model = RelatedArticles().fit(load_sample())
    >>> latency(model, n=5)["n_calls"]
    5
    """
    pool = list(model.ids_ if ids is None else ids)
    if not pool or n < 1:
        msg = "latency needs at least one id and n >= 1."
        raise ValueError(msg)
    rng = random.Random(seed)
    sample = rng.sample(pool, n) if n <= len(pool) else rng.choices(pool, k=n)
    model.related(sample[0], k)  # warm-up: the first call builds cached transposes
    times = np.empty(n)
    for i, article_id in enumerate(sample):
        start = time.perf_counter()
        model.related(article_id, k)
        times[i] = time.perf_counter() - start
    ms = times * 1000.0
    return {
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p99_ms": float(np.percentile(ms, 99)),
        "latency_mean_ms": float(ms.mean()),
        "n_calls": n,
    }
