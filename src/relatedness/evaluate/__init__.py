"""Offline evaluation of related-article lists: quality proxies, baselines and experiments.

Everything here scores *lists*: a mapping from an article id to the ids of its related
articles, best first (``{"a": ["b", "c"], "b": ["a"], "c": []}``). A fitted
:class:`~relatedness.RelatedArticles`, the two baselines (:func:`tfidf_baseline`,
:func:`mlt_baseline`) and the Rocchio experiment (:func:`rocchio_lists`) all produce that
shape, so one set of metric functions scores them all.

Metrics
-------
- **Label-proxy relevance** (:func:`evaluate_lists`): precision@k, MAP@k and nDCG@k where a
  related article is relevant when it shares at least one label with the query article.
  Labels are a separate mapping ``id -> set of labels`` (by default each article's ``labels``
  key, else its ``section``: see :func:`labels_from`). They are *never* an input to the ranking
  being evaluated.
- **Twin recall** (:func:`twin_recall`): articles with an identical body (syndicated copies)
  should list their twin first.
- **Coverage**, **concentration** (:func:`coverage`, :func:`gini`) and the **empty-list share**:
  does every story get shown somewhere, or do a few stories fill every box?
- **Intra-list similarity** (:func:`intra_list_similarity`): mean pairwise cosine within a list
  (high means a box of near-duplicates).
- **Freshness** (:func:`freshness`): age gap between an article and its related ones.
- **Section purity** (:func:`section_purity`), **stability** between two models
  (:func:`overlap_at_k`) and **latency** of :meth:`~relatedness.RelatedArticles.related`
  (:func:`latency`).

Baselines and experiments
-------------------------
:func:`tfidf_baseline` (scikit-learn defaults + exact cosine), :func:`mlt_baseline` (an
Elasticsearch More-Like-This imitation) and :func:`rocchio_lists` (pseudo-relevance feedback on
a fitted model) return lists; :func:`evaluate_systems` / :func:`compare` score several systems
with the same code. :func:`grid_search` and :func:`cross_validate` give k-fold numbers (tune on
4/5 of the queries, score on the held-out 1/5); :func:`split_halves` makes a label-free task
("find the other half") for corpora without labels.

:func:`evaluate_model` is the one call the command line needs; :func:`format_table` prints its
result; :func:`render_box` shows one article's box, as text or as the site's HTML
(:func:`relatedness.render.render_html`). Functions return plain dicts (no pandas needed);
:func:`compare` and :func:`grid_table` return pandas DataFrames and import pandas only when
called.

Undefined metrics are ``None`` (never NaN) in the dicts, so results serialise to JSON: label
metrics on a corpus without labels or sections (such as the bundled sample), freshness without
dates, twin recall without twins, section purity with fewer than two sections.

Layout
------
Every public name is importable from here (``relatedness.evaluate.grid_search``); each file
of the package has one job:

- ``inputs.py``: articles, labels, lists and dates in the shapes the metrics read
  (:func:`labels_from`, :func:`model_lists`, :func:`subsample`);
- ``metrics.py``: the list metrics above (:func:`evaluate_lists` ... :func:`latency`);
- ``baselines.py``: :func:`tfidf_baseline`, :func:`mlt_baseline` and the exact top-k they
  rank with;
- ``experiments.py``: :func:`rocchio_lists`, :func:`kfold_ids`, :func:`cross_validate`,
  :func:`grid_search`, :func:`model_for`, :func:`split_halves`;
- ``report.py``: one call per model or corpus: :func:`evaluate_model`,
  :func:`evaluate_systems`, :func:`compare`, :func:`corpus_profile`, :func:`grid_table`,
  :func:`render_box`;
- ``tables.py``: results as text: :func:`format_table`, :data:`METRIC_LABELS`.

Imports only go down: report -> experiments -> baselines -> metrics -> inputs, and
experiments -> tables. scikit-learn and pandas are imported inside the functions that need
them, so importing this package stays light.
"""

from __future__ import annotations

from .baselines import mlt_baseline, tfidf_baseline
from .experiments import (
    cross_validate,
    grid_search,
    kfold_ids,
    model_for,
    rocchio_lists,
    split_halves,
)
from .inputs import labels_from, model_lists, subsample
from .metrics import (
    age_gaps,
    appearance_counts,
    coverage,
    empty_share,
    evaluate_lists,
    freshness,
    gini,
    intra_list_similarity,
    latency,
    overlap_at_k,
    precision_curve,
    section_purity,
    twin_groups,
    twin_recall,
)
from .report import (
    compare,
    corpus_profile,
    evaluate_model,
    evaluate_systems,
    grid_table,
    render_box,
)
from .tables import METRIC_LABELS, format_table

__all__ = [
    "METRIC_LABELS",
    "age_gaps",
    "appearance_counts",
    "compare",
    "corpus_profile",
    "coverage",
    "cross_validate",
    "empty_share",
    "evaluate_lists",
    "evaluate_model",
    "evaluate_systems",
    "format_table",
    "freshness",
    "gini",
    "grid_search",
    "grid_table",
    "intra_list_similarity",
    "kfold_ids",
    "labels_from",
    "latency",
    "mlt_baseline",
    "model_for",
    "model_lists",
    "overlap_at_k",
    "precision_curve",
    "render_box",
    "rocchio_lists",
    "section_purity",
    "split_halves",
    "subsample",
    "tfidf_baseline",
    "twin_groups",
    "twin_recall",
]
