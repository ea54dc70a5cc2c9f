"""Inputs of the metrics: articles, labels, lists and dates in the shapes the metrics read.

Articles come as dicts, :class:`~relatedness.articles.Article` or a pandas DataFrame
(:func:`as_records`, :func:`validated`); labels are ``id -> frozenset`` (:func:`labels_from`);
lists are ``id -> [ids]`` (:func:`as_lists`, :func:`model_lists`); :func:`subsample` draws a
seeded sample of a corpus.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..articles import Article, as_datetime, check_articles
from ..results import ArticleId

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from ..recommender import RelatedArticles


#: Related lists: ``id -> [related ids, best first]`` (items may be :class:`~relatedness.Related`).
Lists = Mapping[Any, Sequence[Any]]


def as_records(articles: Any) -> list[dict[str, Any]]:
    """Articles (dicts, :class:`Article` or a DataFrame) as plain dicts, keeping extra keys.

    Extra keys matter here: ``labels`` is dropped by :func:`check_articles` (labels are never
    for ranking), but evaluation needs it.
    """
    if hasattr(articles, "to_dict") and hasattr(articles, "columns"):
        from ..articles import FIELDS, from_dataframe

        # The library's reader turns pandas' missing markers into None; other columns
        # (labels) are copied over as they are.
        rows = from_dataframe(articles)
        raw = articles.to_dict(orient="records")
        for row, full in zip(rows, raw, strict=True):
            row.update({k: v for k, v in full.items() if k not in FIELDS})
        return rows
    out: list[dict[str, Any]] = []
    for item in articles:
        if isinstance(item, Article):
            out.append(item.to_dict())
        elif isinstance(item, Mapping):
            out.append(dict(item))
        else:
            msg = f"an article must be a dict or an Article, got a {type(item).__name__}."
            raise TypeError(msg)
    return out


def validated(records: list[dict[str, Any]]) -> list[Article]:
    """The articles as the library sees them (same checks as ``fit``: parsed dates etc.)."""
    from ..articles import FIELDS

    return check_articles({k: v for k, v in r.items() if k in FIELDS} for r in records)


def _as_label_set(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, float) and math.isnan(value):  # a missing cell of a DataFrame
        return frozenset()
    if isinstance(value, str):
        return frozenset([value]) if value.strip() else frozenset()
    if isinstance(value, Iterable):
        return frozenset(str(v) for v in value if v is not None and str(v).strip())
    return frozenset([str(value)])


def labels_from(articles: Any, label: str = "auto") -> dict[ArticleId, frozenset[str]]:
    """Return the evaluation labels of each article, ``id -> frozenset of labels``.

    Parameters
    ----------
    articles : iterable of dict or Article, or a pandas DataFrame
    label : str, default "auto"
        The key holding the labels. ``"auto"``: the article's ``labels`` (a list) when it is
        non-empty, else its ``section``. Any other name: that key. A str value is one label,
        a list/tuple/set is several; ``None``, ``""`` and a missing key mean no label.

    Returns
    -------
    dict
        Every article id, with an empty frozenset for unlabelled articles (they are not
        used as queries by :func:`evaluate_lists`).

    Examples
    --------
    >>> labels_from([{"id": 1, "section": "sport"}, {"id": 2, "labels": ["a", "b"]},
    ...              {"id": 3}]) == {1: {"sport"}, 2: {"a", "b"}, 3: set()}
    True
    """
    out: dict[ArticleId, frozenset[str]] = {}
    for record in as_records(articles):
        if label == "auto":
            found = _as_label_set(record.get("labels"))
            if not found:
                found = _as_label_set(record.get("section"))
        else:
            found = _as_label_set(record.get(label))
        out[record["id"]] = found
    return out


def as_lists(lists: Lists) -> dict[ArticleId, list[ArticleId]]:
    """Lists of ids; entries may also be :class:`~relatedness.Related` (their ``id`` is used)."""
    out: dict[ArticleId, list[ArticleId]] = {}
    for query, items in lists.items():
        out[query] = [r.id if hasattr(r, "id") else r for r in items]
    return out


def model_lists(
    model: RelatedArticles, ids: Iterable[ArticleId] | None = None, k: int | None = None
) -> dict[ArticleId, list[ArticleId]]:
    """Return a fitted model's related lists as ids, in one batched pass.

    Parameters
    ----------
    model : RelatedArticles
        Fitted.
    ids : iterable of ids, optional
        Default: every article of the model.
    k : int, optional
        Default: the model's ``k``.

    Returns
    -------
    dict
        ``id -> [related ids, best first]``.

    Examples
    --------
    >>> from relatedness import RelatedArticles, load_sample
    >>> model = RelatedArticles(k=3).fit(load_sample())
    >>> lists = model_lists(model)
    >>> len(lists) == len(model.ids_) and all(len(v) <= 3 for v in lists.values())
    True
    """
    wanted = model.ids_ if ids is None else list(ids)
    found = model.related_many(wanted, k)
    return {q: [r.id for r in items] for q, items in found.items()}


def subsample(articles: Any, n: int | None, seed: int = 0) -> list[Any]:
    """Return ``n`` articles drawn at random (seeded), in their original order.

    Corpora are often sorted by section, so the first ``n`` rows would be one section only.

    Parameters
    ----------
    articles : sequence of dict or Article
    n : int or None
        ``None`` or ``n >= len(articles)`` returns every article.
    seed : int, default 0

    Returns
    -------
    list

    Examples
    --------
    >>> subsample(list(range(10)), 3, seed=1)
    [1, 2, 4]
    """
    items = list(articles)
    if n is None or n >= len(items):
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in keep]


def as_days(value: dt.date | dt.datetime) -> float:
    """Days since 1970-01-01 (aware datetimes in UTC, naive ones as they are)."""
    stamp = as_datetime(value)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (stamp - dt.datetime(1970, 1, 1)).total_seconds() / 86400.0
