"""Experiments on top of a fitted model: Rocchio feedback, k-fold choice, grid search, halves.

:func:`rocchio_lists` re-queries a model with pseudo-relevance feedback; :func:`kfold_ids`,
:func:`cross_validate` and :func:`grid_search` (with :func:`model_for`) choose among
candidates with k-fold numbers; :func:`split_halves` makes a label-free task ("find the other
half") for corpora without labels.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ..results import ArticleId
from .baselines import exact_topk
from .inputs import Lists, as_lists, as_records, labels_from, model_lists, validated
from .metrics import evaluate_lists
from .tables import format_value

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from ..recommender import RelatedArticles


def rocchio_lists(
    model: RelatedArticles,
    ids: Iterable[ArticleId] | None = None,
    k: int = 10,
    n_feedback: int = 5,
    alpha: float = 1.0,
    beta: float = 0.75,
) -> dict[ArticleId, list[ArticleId]]:
    """Related lists re-queried with Rocchio pseudo-relevance feedback, exact cosine.

    The query for article ``a`` is ``alpha * x_a + beta * mean(x_n for n in N_a)``, where
    ``N_a`` are ``a``'s first ``n_feedback`` neighbours by the model (under its section
    policy), re-normalised to unit length and scored by exact cosine against every row of
    the model. The article itself is excluded (by position), the model's section policy is
    applied before ranking, and ties follow the model's rule (newer first, then id).

    Parameters
    ----------
    model : RelatedArticles
        Fitted; its rows (``model.index_.matrix``) are used unchanged.
    ids : iterable of ids, optional
        Default: every article of the model.
    k : int, default 10
    n_feedback : int, default 5
        Neighbours averaged into the query (fewer when the article has fewer).
    alpha, beta : float, default 1.0 and 0.75
        Weights of the article's own row and of the feedback centroid (the classic Rocchio
        values; on BBC, ``n_feedback=3`` with ``beta`` 1.0-1.5 did best in 5-fold selection).

    Returns
    -------
    dict
        ``id -> [related ids]``, positive scores only.

    Examples
    --------
    >>> from relatedness import RelatedArticles, load_sample
    >>> model = RelatedArticles(k=5).fit(load_sample())
    >>> some = model.ids_[:3]
    >>> lists = rocchio_lists(model, some, k=5)
    >>> all(q not in v and len(v) <= 5 for q, v in lists.items())
    True
    """
    wanted = list(dict.fromkeys(model.ids_ if ids is None else ids))
    row_of = {article_id: row for row, article_id in enumerate(model.ids_)}
    rows = np.array([row_of[i] for i in wanted], dtype=np.int64)
    x = sp.csr_matrix(model.index_.matrix, dtype=np.float64)
    feedback = model.related_many(wanted, n_feedback) if len(wanted) else {}
    # Centroid of the feedback rows as one sparse product: F[i, j] = 1/|N_i| for j in N_i.
    f_rows, f_cols, f_vals = [], [], []
    for i, article_id in enumerate(wanted):
        found = feedback[article_id]
        for r in found:
            f_rows.append(i)
            f_cols.append(row_of[r.id])
            f_vals.append(1.0 / len(found))
    centroid = sp.csr_matrix((f_vals, (f_rows, f_cols)), shape=(len(wanted), x.shape[0])) @ x
    queries = sp.csr_matrix(alpha * x[rows] + beta * centroid)
    norms = np.sqrt(np.asarray(queries.multiply(queries).sum(axis=1)).ravel())
    queries = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ queries
    queries = sp.csr_matrix(queries)

    # The model's own section codes and tie rule (newer first, undated last, then id).
    codes = model.index_.section_codes
    tiebreak = model.index_.tiebreak
    x_t = x.T.tocsr()
    policy = model.section_policy

    def same_section(block: slice) -> np.ndarray:
        return codes[None, :] == codes[rows[block]][:, None]

    if policy == "any":
        found_cols = exact_topk(queries, x_t, rows, k, tiebreak)
    else:
        found_cols = exact_topk(queries, x_t, rows, k, tiebreak, mask=same_section)
        if policy == "prefer":
            others = exact_topk(
                queries, x_t, rows, k, tiebreak, mask=lambda block: ~same_section(block)
            )
            found_cols = [
                np.concatenate([own, rest[: k - len(own)]])
                for own, rest in zip(found_cols, others, strict=True)
            ]
    return {
        article_id: [model.ids_[c] for c in cols]
        for article_id, cols in zip(wanted, found_cols, strict=True)
    }


def kfold_ids(
    ids: Sequence[ArticleId], n_splits: int = 5, seed: int = 0
) -> list[list[ArticleId]]:
    """Split ids into ``n_splits`` disjoint folds of near-equal size (seeded shuffle).

    Parameters
    ----------
    ids : sequence of ids
    n_splits : int, default 5
    seed : int, default 0

    Returns
    -------
    list of list of ids

    Examples
    --------
    >>> folds = kfold_ids(list(range(10)), n_splits=3)
    >>> sorted(len(f) for f in folds), sorted(i for f in folds for i in f) == list(range(10))
    ([3, 3, 4], True)
    """
    if n_splits < 2 or n_splits > len(ids):
        msg = f"n_splits must be in [2, {len(ids)}], got {n_splits}."
        raise ValueError(msg)
    order = np.random.default_rng(seed).permutation(len(ids))
    return [[ids[i] for i in part] for part in np.array_split(order, n_splits)]


#: The relevance metrics of :func:`~relatedness.evaluate.evaluate_lists` a choice can maximise.
RELEVANCE = ("precision_at_k", "map_at_k", "ndcg_at_k")


def _mean_or_none(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def cross_validate(
    candidates: Mapping[str, Lists],
    labels: Mapping[ArticleId, Collection[str]],
    *,
    k: int = 10,
    n_splits: int = 5,
    seed: int = 0,
    metric: str = "precision_at_k",
) -> dict[str, Any]:
    """Choose among candidate list sets with k-fold numbers over the queries.

    The queries (labelled ids) are split into ``n_splits`` folds. For each fold, the
    candidate with the best ``metric`` on the other folds' queries (ties: the earlier one) is
    chosen and scored on the held-out fold; the mean of those held-out scores (``nested``) is
    an honest estimate of "tune, then deploy". Each candidate's own per-fold scores are
    reported too. Nothing is refitted: candidates are lists built without labels, so the
    folds only decide which articles' lists are scored.

    Parameters
    ----------
    candidates : mapping of name to lists
        E.g. one set of lists per grid point or per Rocchio ``beta``.
    labels : mapping of id to collection of str
    k : int, default 10
    n_splits : int, default 5
    seed : int, default 0
    metric : {"precision_at_k", "map_at_k", "ndcg_at_k"}, default "precision_at_k"
        What the choice maximises.

    Returns
    -------
    dict
        ``points``: per candidate ``name``, the three metrics on all queries, ``folds`` and
        ``train`` (metric -> list of per-fold values: held-out fold, and the other folds) and
        ``cv_mean`` (metric -> mean of ``folds``); ``best``: index of the best
        ``cv_mean[metric]``; ``nested``: ``chosen`` (index per fold), ``held_out`` (metric ->
        per-fold values of the chosen candidate) and ``mean`` (metric -> their mean);
        ``metric``, ``k``, ``n_splits``, ``n_queries``.

    Examples
    --------
    >>> labels = {"a": {"x"}, "b": {"x"}, "c": {"y"}, "d": {"y"}}
    >>> good = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}
    >>> bad = {"a": ["c"], "b": ["d"], "c": ["a"], "d": ["b"]}
    >>> out = cross_validate({"bad": bad, "good": good}, labels, k=1, n_splits=2)
    >>> out["nested"]["chosen"], out["nested"]["mean"]["precision_at_k"]
    ([1, 1], 1.0)
    """
    if metric not in RELEVANCE:
        msg = f"metric must be one of {RELEVANCE}, got {metric!r}."
        raise ValueError(msg)
    if not candidates:
        msg = "cross_validate needs at least one candidate."
        raise ValueError(msg)
    queries = [i for i, found in labels.items() if found]
    folds = kfold_ids(queries, n_splits=n_splits, seed=seed)
    points: list[dict[str, Any]] = []
    for name, raw in candidates.items():
        lists = as_lists(raw)

        def scored(ids: Iterable[ArticleId], lists: dict = lists) -> dict[str, Any]:
            return evaluate_lists({i: lists[i] for i in ids if i in lists}, labels, k)

        overall = evaluate_lists(lists, labels, k)
        held = [scored(fold) for fold in folds]
        train = [
            scored(i for j, fold in enumerate(folds) if j != f for i in fold)
            for f in range(n_splits)
        ]
        points.append({
            "name": name,
            **{m: overall[m] for m in RELEVANCE},
            "folds": {m: [r[m] for r in held] for m in RELEVANCE},
            "train": {m: [r[m] for r in train] for m in RELEVANCE},
            "cv_mean": {m: _mean_or_none(r[m] for r in held) for m in RELEVANCE},
        })

    def score(value: float | None) -> float:
        return -math.inf if value is None else value

    def choose(fold: int) -> int:
        # Best on the training folds; -index makes "the earlier of equal candidates" explicit.
        return max(
            range(len(points)), key=lambda p: (score(points[p]["train"][metric][fold]), -p)
        )

    chosen = [choose(f) for f in range(n_splits)]
    held_out = {
        m: [points[p]["folds"][m][f] for f, p in enumerate(chosen)] for m in RELEVANCE
    }
    best = max(range(len(points)), key=lambda p: (score(points[p]["cv_mean"][metric]), -p))
    return {
        "metric": metric,
        "k": k,
        "n_splits": n_splits,
        "n_queries": len(queries),
        "points": points,
        "best": best,
        "nested": {
            "chosen": chosen,
            "held_out": held_out,
            "mean": {m: _mean_or_none(v) for m, v in held_out.items()},
        },
    }


def expand_grid(
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Grid points: a dict of name -> values as its Cartesian product, a list of dicts as is."""
    if isinstance(grid, Mapping):
        names = list(grid)
        values = itertools.product(*(grid[name] for name in names))
        return [dict(zip(names, combo, strict=True)) for combo in values]
    return [dict(point) for point in grid]


def _model_params(point: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    params = {**base, **point}
    if "title_weight" in params:
        fields = dict(params.get("fields") or {"title": 0.5, "body": 1.0, "tags": 1.0})
        fields["title"] = params.pop("title_weight")
        params["fields"] = fields
    return params


def model_for(
    point: Mapping[str, Any], base_params: Mapping[str, Any] | None = None, k: int = 10
) -> RelatedArticles:
    """The (unfitted) model of one grid point, as :func:`grid_search` builds it.

    Parameters
    ----------
    point : dict
        :class:`~relatedness.RelatedArticles` parameters, plus ``"title_weight"``.
    base_params : dict, optional
        Shared settings; default ``{"section_policy": "any"}``.
    k : int, default 10

    Returns
    -------
    RelatedArticles

    Examples
    --------
    >>> model_for({"title_weight": 0.0, "min_df": 3}).get_params()["fields"]
    {'title': 0.0, 'body': 1.0, 'tags': 1.0}
    """
    from ..recommender import RelatedArticles

    base = {"section_policy": "any"} if base_params is None else base_params
    return RelatedArticles(k=k, **_model_params(point, base))


def _point_name(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in point.items()) or "(base)"


def grid_search(
    articles: Any,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    *,
    k: int = 10,
    n_splits: int = 5,
    seed: int = 0,
    label: str = "auto",
    labels: Mapping[ArticleId, Collection[str]] | None = None,
    metric: str = "precision_at_k",
    base_params: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit one model per grid point and compare them with k-fold numbers (:func:`cross_validate`).

    Labels are never used for fitting, so every model is fitted on *all* articles; the folds
    split which articles' lists are scored (tune on 4/5 of the queries, score on the other 1/5).

    Parameters
    ----------
    articles : iterable of dict or Article, or a pandas DataFrame
    grid : dict of name to list of values, or list of dicts
        A dict is expanded to its Cartesian product; a list of dicts is taken as is (e.g.
        one-factor-at-a-time points; ``{}`` is the base). Keys are
        :class:`~relatedness.RelatedArticles` parameters, plus ``"title_weight"``: shorthand
        for ``fields["title"]`` (body and tags keep weight 1).
    k : int, default 10
    n_splits : int, default 5
    seed : int, default 0
    label : str, default "auto"
    labels : mapping of id to collection of str, optional
    metric : {"precision_at_k", "map_at_k", "ndcg_at_k"}, default "precision_at_k"
    base_params : dict, optional
        Settings shared by every point; default ``{"section_policy": "any"}`` (with
        ``"same"``, label metrics would measure the section filter).
    progress : callable, optional
        Called with one line of text after each point (e.g. ``print``).

    Returns
    -------
    dict
        As :func:`cross_validate`, each point also carrying its ``params`` and
        ``fit_seconds``.

    Examples
    --------
    >>> from relatedness import load_sample
    >>> sample = load_sample()[:80]
    >>> fake = {a.id: {a.title.split()[0]} for a in sample}  # labels for the sake of it
    >>> out = grid_search(sample, {"stem": [True, False]}, k=5, n_splits=2, labels=fake)
    >>> [p["name"] for p in out["points"]], len(out["nested"]["chosen"])
    (['stem=True', 'stem=False'], 2)
    """
    records = as_records(articles)
    if labels is None:
        labels = labels_from(records, label)
    base = {"section_policy": "any"} if base_params is None else dict(base_params)
    points = expand_grid(grid)
    candidates: dict[str, dict[ArticleId, list[ArticleId]]] = {}
    seconds: list[float] = []
    for point in points:
        start = time.perf_counter()
        with warnings.catch_warnings():
            # Small corpora relax the df thresholds with a warning; every point would repeat it.
            warnings.simplefilter("ignore", UserWarning)
            model = model_for(point, base, k).fit(records)
        seconds.append(time.perf_counter() - start)
        lists = model_lists(model, k=k)
        candidates[_point_name(point)] = lists
        if progress is not None:
            r = evaluate_lists(lists, labels, k)
            progress(
                f"{_point_name(point)}: P@{k} {format_value(r['precision_at_k'])}, "
                f"MAP@{k} {format_value(r['map_at_k'])} (fit {seconds[-1]:.1f} s)"
            )
    result = cross_validate(candidates, labels, k=k, n_splits=n_splits, seed=seed, metric=metric)
    for entry, point, fitted in zip(result["points"], points, seconds, strict=True):
        entry["params"] = point
        entry["fit_seconds"] = fitted
    return result


def _split_body(body: str) -> tuple[str, str]:
    paragraphs = [p for p in body.split("\n\n") if p.strip()]
    if len(paragraphs) >= 2:
        # Cut at the paragraph boundary nearest to half the words.
        sizes = np.cumsum([len(p.split()) for p in paragraphs])
        cut = int(np.argmin(np.abs(sizes[:-1] - sizes[-1] / 2))) + 1
        return "\n\n".join(paragraphs[:cut]), "\n\n".join(paragraphs[cut:])
    words = body.split()
    return " ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])


def split_halves(
    articles: Any, min_words: int = 40
) -> tuple[list[dict[str, Any]], dict[ArticleId, frozenset[str]]]:
    """A self-supervised relevance task for a corpus without labels: find the other half.

    Each article becomes two documents: its first half (with the title) and its second half
    (without), cut at a paragraph boundary. A half's only relevant document is the other
    half, so ``map_at_k`` from :func:`evaluate_lists` is the mean reciprocal rank of the
    other half within the top ``k`` (precision@k is at most ``1/k`` here). Labels stay out
    of the ranking: they are the original ids, returned separately.

    Parameters
    ----------
    articles : iterable of dict or Article, or a pandas DataFrame
    min_words : int, default 40
        Shorter bodies are left out (their halves would be too short to mean anything).

    Returns
    -------
    rows : list of dict
        ``id`` is ``"<id>#1"`` / ``"<id>#2"``; section, date and URL are kept.
    labels : dict
        ``half id -> {str(original id)}``.

    Examples
    --------
    >>> rows, labels = split_halves([{"id": 7, "title": "T", "body": "one two\\n\\nthree four"}],
    ...                             min_words=2)
    >>> [(r["id"], r["title"], r["body"]) for r in rows], labels["7#2"]
    ([('7#1', 'T', 'one two'), ('7#2', '', 'three four')], frozenset({'7'}))
    """
    rows: list[dict[str, Any]] = []
    labels: dict[ArticleId, frozenset[str]] = {}
    for a in validated(as_records(articles)):
        if len(a.body.split()) < min_words:
            continue
        first, second = _split_body(a.body)
        common = {"section": a.section, "published": a.published, "url": a.url}
        for half, (title, body) in enumerate([(a.title, first), ("", second)], start=1):
            half_id = f"{a.id}#{half}"
            rows.append({"id": half_id, "title": title, "body": body, **common})
            labels[half_id] = frozenset([str(a.id)])
    return rows, labels
