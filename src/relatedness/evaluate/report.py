"""One call per model or corpus, for the command line and notebooks.

:func:`evaluate_model` (every metric of a model), :func:`evaluate_systems` and :func:`compare`
(several systems side by side), :func:`corpus_profile`, :func:`grid_table` (a grid search as a
table) and :func:`render_box` (one article's box, as text or the site's HTML).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..articles import as_datetime
from ..render import render_html
from ..results import ArticleId
from .experiments import RELEVANCE
from .inputs import as_lists, as_records, labels_from, model_lists, validated
from .metrics import (
    appearance_counts,
    coverage,
    empty_share,
    evaluate_lists,
    freshness,
    gini,
    intra_list_similarity,
    latency,
    section_purity,
    twin_groups,
    twin_recall,
)

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    import pandas as pd

    from ..recommender import RelatedArticles


System = Any  # a fitted RelatedArticles, a callable (articles, k=...) -> lists, or lists


def _list_metrics(
    lists: dict[ArticleId, list[ArticleId]],
    *,
    k: int,
    all_ids: Sequence[ArticleId],
    labels: Mapping[ArticleId, Collection[str]],
    articles: Sequence[Mapping[str, Any]],
    sections: Mapping[ArticleId, str],
    published: Mapping[ArticleId, Any],
    matrix: Any = None,
    row_of: Mapping[ArticleId, int] | None = None,
) -> dict[str, Any]:
    relevance = evaluate_lists(lists, labels, k)
    counts = appearance_counts(lists, all_ids)
    fresh = freshness(lists, published)
    twins = {i for group in twin_groups(articles) for i in group}
    return {
        "k": k,
        "n_articles": len(all_ids),
        "n_queries": relevance["n_queries"],
        "precision_at_k": relevance["precision_at_k"],
        "map_at_k": relevance["map_at_k"],
        "ndcg_at_k": relevance["ndcg_at_k"],
        "n_twins": len(twins & lists.keys()),
        "twin_recall": twin_recall(lists, articles),
        "coverage": coverage(lists, all_ids) if counts else None,
        "gini": gini(counts.values()) if counts else None,
        "empty_share": empty_share(lists),
        "intra_list_similarity": (
            None if matrix is None or row_of is None
            else intra_list_similarity(lists, matrix, row_of)
        ),
        "section_purity": section_purity(lists, sections),
        "median_age_gap_days": fresh["median_age_gap_days"],
        "mean_age_gap_days": fresh["mean_age_gap_days"],
    }


def _is_model(system: Any) -> bool:
    return hasattr(system, "related_many") and hasattr(system, "index_")


def _warn_if_trivial(model: Any, label: str, labels_given: bool) -> None:
    # With labels taken from sections, section_policy="same" guarantees relevant results:
    # precision would measure the policy, not the ranking.
    if (
        not labels_given
        and label in ("auto", "section")
        and getattr(model, "section_policy", None) == "same"
        and len([s for s in model.section_names_ if s]) >= 2
    ):
        warnings.warn(
            "the model uses section_policy='same' and the labels fall back to sections, so "
            "label metrics are trivially high; refit with section_policy='any' to measure the "
            "ranking.",
            UserWarning,
            stacklevel=3,
        )


def evaluate_model(
    model: RelatedArticles,
    articles: Any,
    k: int = 10,
    label: str = "auto",
    *,
    labels: Mapping[ArticleId, Collection[str]] | None = None,
    latency_n: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate a fitted model on its corpus: every metric of this module in one flat dict.

    Parameters
    ----------
    model : RelatedArticles
        Fitted on ``articles``. Measure the ranking with ``section_policy="any"`` when the
        labels are the sections (``"same"`` makes label metrics trivially high and warns).
    articles : iterable of dict or Article, or a pandas DataFrame
        The corpus (for labels and twin bodies); articles the model does not hold are ignored.
    k : int, default 10
    label : str, default "auto"
        Where labels come from (see :func:`labels_from`); ignored when ``labels`` is given.
    labels : mapping of id to collection of str, optional
    latency_n : int, default 200
        Single ``related()`` calls timed; 0 skips latency (``None`` in the result).
    seed : int, default 0

    Returns
    -------
    dict
        Keys of :data:`METRIC_LABELS`: ``k``, ``section_policy``, ``n_articles``,
        ``n_queries``, ``precision_at_k``, ``map_at_k``, ``ndcg_at_k``, ``n_twins``,
        ``twin_recall``, ``coverage``, ``gini``, ``empty_share``, ``intra_list_similarity``,
        ``section_purity``, ``median_age_gap_days``, ``mean_age_gap_days``,
        ``latency_p50_ms``, ``latency_p99_ms``. Undefined values are ``None``: label metrics
        when no article has a label (e.g. the bundled sample, which has no sections),
        freshness without dates, twin recall without identical bodies.

    Notes
    -----
    The lists are the model's own, with every policy it is configured with. A duplicate
    policy (``duplicate_threshold``, when the library has it) removes identical copies from
    the lists on purpose, so twin recall is then 0 by design; fit with
    ``duplicate_threshold=None`` to measure the ranking itself.

    Examples
    --------
    >>> from relatedness import RelatedArticles, load_sample
    >>> sample = load_sample()
    >>> result = evaluate_model(RelatedArticles(k=5).fit(sample), sample, k=5, latency_n=0)
    >>> result["precision_at_k"] is None, 0 < result["coverage"] <= 1
    (True, True)
    """
    _warn_if_trivial(model, label, labels is not None)
    records = as_records(articles)
    held = set(model.ids_)
    records = [r for r in records if r.get("id") in held]
    if labels is None:
        labels = labels_from(records, label)
    lists = model_lists(model, k=k)
    row_of = {article_id: row for row, article_id in enumerate(model.ids_)}
    result: dict[str, Any] = {"k": k, "section_policy": model.section_policy}
    result.update(
        _list_metrics(
            lists,
            k=k,
            all_ids=model.ids_,
            labels=labels,
            articles=records,
            sections=dict(zip(model.ids_, model.sections_, strict=True)),
            published=dict(zip(model.ids_, model.published_, strict=True)),
            matrix=model.index_.matrix,
            row_of=row_of,
        )
    )
    timing = latency(model, k=k, n=latency_n, seed=seed) if latency_n else {}
    result["latency_p50_ms"] = timing.get("latency_p50_ms")
    result["latency_p99_ms"] = timing.get("latency_p99_ms")
    return result


def evaluate_systems(
    systems: Mapping[str, System],
    articles: Any,
    k: int = 10,
    label: str = "auto",
    *,
    labels: Mapping[ArticleId, Collection[str]] | None = None,
    reference: RelatedArticles | None = None,
    latency_n: int = 0,
) -> dict[str, dict[str, Any]]:
    """Score several systems on one corpus with the same code: ``{name: metrics}``.

    Parameters
    ----------
    systems : mapping of name to system
        A system is a fitted :class:`~relatedness.RelatedArticles`, a callable
        ``f(articles, k=k) -> lists`` (e.g. :func:`tfidf_baseline`, :func:`mlt_baseline`),
        or precomputed lists (cut to ``k``).
    articles : iterable of dict or Article, or a pandas DataFrame
        The corpus all systems were built on.
    k : int, default 10
    label : str, default "auto"
    labels : mapping of id to collection of str, optional
    reference : RelatedArticles, optional
        Whose rows measure intra-list similarity for every system (one space, so the numbers
        compare); default: the first model in ``systems``; ``None`` in the result without one.
    latency_n : int, default 0
        Single calls timed for each model (latency is ``None`` for other systems).

    Returns
    -------
    dict
        ``name -> dict`` with the keys of :func:`evaluate_model`.

    Examples
    --------
    >>> from relatedness.evaluate import tfidf_baseline
    >>> corpus = [{"id": "a", "body": "bank rates", "section": "x"},
    ...           {"id": "b", "body": "bank rates held", "section": "x"},
    ...           {"id": "c", "body": "cup final", "section": "y"},
    ...           {"id": "d", "body": "cup final win", "section": "y"}]
    >>> out = evaluate_systems({"tfidf": tfidf_baseline}, corpus, k=1)
    >>> out["tfidf"]["precision_at_k"]
    1.0
    """
    records = as_records(articles)
    docs = validated(records)
    all_ids = [a.id for a in docs]
    labels_given = labels is not None
    if labels is None:
        labels = labels_from(records, label)
    if reference is None:
        reference = next((s for s in systems.values() if _is_model(s)), None)
    matrix = row_of = None
    if reference is not None:
        matrix = reference.index_.matrix
        row_of = {article_id: row for row, article_id in enumerate(reference.ids_)}
    sections = {a.id: a.section for a in docs}
    published = {a.id: a.published for a in docs}
    out: dict[str, dict[str, Any]] = {}
    for name, system in systems.items():
        policy = None
        if _is_model(system):
            _warn_if_trivial(system, label, labels_given)
            lists = model_lists(system, k=k)
            policy = system.section_policy
        elif callable(system):
            lists = as_lists(system(docs, k=k))
        else:
            # Precomputed lists may be longer (e.g. built once for a P@k curve): every metric
            # is taken at k.
            lists = {q: items[:k] for q, items in as_lists(system).items()}
        result: dict[str, Any] = {"k": k, "section_policy": policy}
        result.update(
            _list_metrics(
                lists,
                k=k,
                all_ids=all_ids,
                labels=labels,
                articles=records,
                sections=sections,
                published=published,
                matrix=matrix,
                row_of=row_of,
            )
        )
        timing = (
            latency(system, k=k, n=latency_n) if latency_n and _is_model(system) else {}
        )
        result["latency_p50_ms"] = timing.get("latency_p50_ms")
        result["latency_p99_ms"] = timing.get("latency_p99_ms")
        out[name] = result
    return out


def compare(
    systems: Mapping[str, System],
    articles: Any,
    k: int = 10,
    label: str = "auto",
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`evaluate_systems` as a pandas DataFrame: one row per system.

    Parameters
    ----------
    systems, articles, k, label, **kwargs
        As :func:`evaluate_systems`.

    Returns
    -------
    pandas.DataFrame
        Index: system names; columns: metric keys; ``None`` becomes NaN.

    Examples
    --------
    >>> from relatedness.evaluate import tfidf_baseline
    >>> corpus = [{"id": "a", "body": "bank rates"}, {"id": "b", "body": "bank rates held"}]
    >>> compare({"tfidf": tfidf_baseline}, corpus, k=1)["coverage"].tolist()
    [1.0]
    """
    import pandas as pd

    results = evaluate_systems(systems, articles, k, label, **kwargs)
    frame = pd.DataFrame.from_dict(results, orient="index")
    frame.index.name = "system"
    return frame


def corpus_profile(articles: Any, label: str = "auto") -> dict[str, Any]:
    """Describe a corpus: size, sections, labels, dates, lengths, twins.

    Parameters
    ----------
    articles : iterable of dict or Article, or a pandas DataFrame
    label : str, default "auto"

    Returns
    -------
    dict
        ``n_articles``, ``sections`` (name -> count, ``""`` = none), ``labels`` (label ->
        count), ``dated_share``, ``first_date``, ``last_date`` (ISO or ``None``),
        ``body_words_median``, ``body_words_p10``, ``body_words_p90``,
        ``title_words_median``, ``empty_bodies``, ``twin_groups``, ``articles_with_twin``.

    Examples
    --------
    >>> p = corpus_profile([{"id": 1, "body": "a b c", "section": "x"}, {"id": 2, "body": ""}])
    >>> p["n_articles"], p["sections"], p["empty_bodies"]
    (2, {'': 1, 'x': 1}, 1)
    """
    records = as_records(articles)
    docs = validated(records)
    sections: dict[str, int] = defaultdict(int)
    for a in docs:
        sections[a.section] += 1
    label_counts: dict[str, int] = defaultdict(int)
    for found in labels_from(records, label).values():
        for lab in found:
            label_counts[lab] += 1
    dates = sorted(as_datetime(a.published) for a in docs if a.published is not None)
    body_words = np.array([len(a.body.split()) for a in docs], dtype=np.float64)
    title_words = np.array([len(a.title.split()) for a in docs], dtype=np.float64)
    groups = twin_groups(records)
    has = len(docs) > 0
    return {
        "n_articles": len(docs),
        "sections": dict(sorted(sections.items(), key=lambda kv: (-kv[1], kv[0]))),
        "labels": dict(sorted(label_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "dated_share": len(dates) / len(docs) if has else None,
        "first_date": dates[0].date().isoformat() if dates else None,
        "last_date": dates[-1].date().isoformat() if dates else None,
        "body_words_median": float(np.median(body_words)) if has else None,
        "body_words_p10": float(np.percentile(body_words, 10)) if has else None,
        "body_words_p90": float(np.percentile(body_words, 90)) if has else None,
        "title_words_median": float(np.median(title_words)) if has else None,
        "empty_bodies": int(sum(not a.body.strip() for a in docs)),
        "twin_groups": len(groups),
        "articles_with_twin": sum(len(g) for g in groups),
    }


def render_box(
    model: RelatedArticles, article_id: ArticleId, k: int = 5, *, html_output: bool = False
) -> str:
    """Render the "Related articles" box of one article, as a site would show it.

    Parameters
    ----------
    model : RelatedArticles
        Fitted.
    article_id : str or int
    k : int, default 5
    html_output : bool, default False
        ``True``: the site's HTML box, made by :func:`relatedness.render.render_html` with its
        default templates and the heading ``"Related to: <title>"`` (every field HTML-escaped,
        links that are not http(s) or relative, such as ``javascript:``, replaced by ``#``).
        ``False``: plain text with scores, sections and dates.

    Returns
    -------
    str
        With ``html_output=True`` and nothing related, ``""`` (as the site, which hides an
        empty box); the text says ``(nothing related)``.

    Examples
    --------
    >>> from relatedness import RelatedArticles, load_sample
    >>> model = RelatedArticles(k=3).fit(load_sample())
    >>> render_box(model, model.ids_[0], k=2).splitlines()[0].startswith("Related to:")
    True
    >>> render_box(model, model.ids_[0], k=2, html_output=True).startswith("<section")
    True
    """
    row = model.ids_.index(article_id)
    title = model.titles_[row]
    items = model.related(article_id, k)
    if html_output:
        return render_html(items, heading=f"Related to: {title}")
    lines = [f"Related to: {title} [{model.sections_[row] or '-'}]"]
    for r in items:
        date = r.published.isoformat()[:10] if r.published else "undated"
        lines.append(f"  {r.score:.3f}  {r.title}  [{r.section or '-'}, {date}]")
        lines.append(f"         {r.snippet}")
    if not items:
        lines.append("  (nothing related)")
    return "\n".join(lines)


def grid_table(result: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`cross_validate` / :func:`grid_search` points as a DataFrame, best first.

    Parameters
    ----------
    result : dict
        As returned by :func:`cross_validate` or :func:`grid_search`.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``name``, the metrics on all queries, the k-fold mean and
        standard deviation of the tuned metric, the k-fold mean of the other two,
        ``fit_seconds`` (grid points only) and ``chosen_in_folds``; sorted by the k-fold mean
        of the tuned metric (stable, so the earlier of equal points stays first).

    Examples
    --------
    >>> from relatedness.evaluate import cross_validate
    >>> labels = {"a": {"x"}, "b": {"x"}, "c": {"y"}, "d": {"y"}}
    >>> good = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}
    >>> out = cross_validate({"good": good}, labels, k=1, n_splits=2)
    >>> grid_table(out)[["name", "cv_mean_precision_at_k"]].values.tolist()
    [['good', 1.0]]
    """
    import pandas as pd

    metric = result["metric"]
    chosen = result["nested"]["chosen"]
    rows = []
    for index, point in enumerate(result["points"]):
        folds = [v for v in point["folds"][metric] if v is not None]
        row = {"name": point["name"]}
        row.update({m: point[m] for m in RELEVANCE})
        row[f"cv_mean_{metric}"] = point["cv_mean"][metric]
        row[f"cv_std_{metric}"] = float(np.std(folds)) if folds else None
        row.update({f"cv_mean_{m}": point["cv_mean"][m] for m in RELEVANCE if m != metric})
        if "fit_seconds" in point:
            row["fit_seconds"] = point["fit_seconds"]
        row["chosen_in_folds"] = chosen.count(index)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values(f"cv_mean_{metric}", ascending=False, kind="stable").reset_index(
        drop=True
    )
