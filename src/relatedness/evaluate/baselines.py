"""The two baselines the library is measured against, and the exact top-k they rank with.

:func:`tfidf_baseline` is what a newcomer writes (scikit-learn defaults + exact cosine);
:func:`mlt_baseline` imitates Elasticsearch's More-Like-This query. Both return lists
(``id -> [related ids]``) that every metric reads. scikit-learn is imported only when a
baseline is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..articles import Article
from ..engine import block_rows, tiebreak_ranks, topk_block
from ..results import ArticleId
from .inputs import as_records, validated

# --------------------------------------------------------------------------------------------
# Exact top-k over dense score blocks (these baselines and Rocchio)
# --------------------------------------------------------------------------------------------


#: MiB one dense block of scores may use here (results do not depend on it).
WORKING_MEMORY = 64.0


def id_ranks(ids: Sequence[ArticleId]) -> np.ndarray:
    """The library's tie rule for undated articles: by id (see ``tiebreak_ranks``)."""
    return tiebreak_ranks(ids, np.full(len(ids), np.datetime64("NaT"), "datetime64[s]"))


def exact_topk(
    queries: sp.csr_matrix,
    candidates_t: sp.csc_matrix | sp.csr_matrix,
    self_cols: np.ndarray,
    k: int,
    tiebreak: np.ndarray,
    mask: Callable[[slice], np.ndarray | None] | None = None,
) -> list[np.ndarray]:
    """Top-k columns of ``queries @ candidates_t`` per row, self excluded, in dense blocks.

    The engine's one top-k (:func:`~relatedness.engine.topk_block`): positive scores only,
    ties by ``tiebreak``; ``mask(block)`` gives the candidates each row of a block may
    return (``None``: all).
    """
    out: list[np.ndarray] = []
    candidates_t = sp.csr_matrix(candidates_t)
    step = block_rows(candidates_t.shape[1], WORKING_MEMORY)
    self_cols = np.asarray(self_cols, dtype=np.int64)
    for start in range(0, queries.shape[0], step):
        block = slice(start, min(start + step, queries.shape[0]))
        allowed = None if mask is None else mask(block)
        columns, _ = topk_block(
            queries[block], candidates_t, k, self_cols[block], tiebreak, allowed
        )
        out.extend(cols[cols >= 0] for cols in columns)
    return out


# --------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------


def _title_body(articles: list[Article]) -> list[str]:
    return [f"{a.title} {a.body}" for a in articles]


def tfidf_baseline(articles: Any, k: int = 10) -> dict[ArticleId, list[ArticleId]]:
    """Baseline (a): what a newcomer writes. ``TfidfVectorizer()`` + exact cosine top-k.

    scikit-learn defaults (lowercase, ``\\b\\w\\w+\\b`` tokens, no stop words, raw tf, smooth
    idf, L2 rows) on ``title + " " + body``, no cleaning, no sections.

    Parameters
    ----------
    articles : iterable of dict or Article, or a pandas DataFrame
    k : int, default 10

    Returns
    -------
    dict
        ``id -> [related ids]``: positive scores only, the article itself excluded, ties
        broken by score desc then id (deterministic).

    Examples
    --------
    >>> corpus = [{"id": "a", "body": "rates held by the bank"},
    ...           {"id": "b", "body": "the bank held rates"},
    ...           {"id": "c", "body": "cup final tonight"}]
    >>> tfidf_baseline(corpus, k=2)
    {'a': ['b'], 'b': ['a'], 'c': []}
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = validated(as_records(articles))
    ids = [a.id for a in docs]
    x = sp.csr_matrix(TfidfVectorizer().fit_transform(_title_body(docs)), dtype=np.float64)
    found = exact_topk(
        x, x.T.tocsr(), np.arange(len(ids)), k, id_ranks(ids)
    )
    return {ids[i]: [ids[j] for j in cols] for i, cols in enumerate(found)}


def mlt_baseline(
    articles: Any,
    k: int = 10,
    *,
    max_query_terms: int = 25,
    min_term_freq: int = 1,
    min_doc_freq: int = 2,
    minimum_should_match: float = 0.3,
    k1: float = 1.2,
    b: float = 0.75,
) -> dict[ArticleId, list[ArticleId]]:
    """Baseline (b): an imitation of Elasticsearch's ``more_like_this`` query.

    For each article: its terms with ``tf >= min_term_freq`` and ``df >= min_doc_freq`` are
    scored by ``tf * idf`` with Lucene's classic ``idf = 1 + ln(N / (df + 1))``; the top
    ``max_query_terms`` (ties by term) form a disjunction, and every other article is scored
    by BM25 (``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``, ``k1``, ``b``, lengths counted
    after stop words) over the query terms it contains. As in Elasticsearch, an article must
    match ``floor(minimum_should_match * n_terms)`` of the query terms. The analyzer is
    lowercase + scikit-learn's default token pattern + its English stop words, over
    ``title + " " + body``.

    Parameters
    ----------
    articles : iterable of dict or Article, or a pandas DataFrame
    k : int, default 10
    max_query_terms : int, default 25
    min_term_freq : int, default 1
    min_doc_freq : int, default 2
    minimum_should_match : float, default 0.3
        Elasticsearch's default ``"30%"``; 0 turns it off.
    k1, b : float, default 1.2 and 0.75

    Returns
    -------
    dict
        ``id -> [related ids]``: positive scores only, the article itself excluded, ties
        broken by score desc then id.

    Examples
    --------
    >>> corpus = [{"id": "a", "body": "bank rates held"}, {"id": "b", "body": "bank rates cut"},
    ...           {"id": "c", "body": "cup final"}, {"id": "d", "body": "cup final bank"}]
    >>> mlt_baseline(corpus, k=2)
    {'a': ['b', 'd'], 'b': ['a', 'd'], 'c': ['d'], 'd': ['c', 'a']}
    """
    from sklearn.feature_extraction.text import CountVectorizer

    docs = validated(as_records(articles))
    ids = [a.id for a in docs]
    n = len(ids)
    counter = CountVectorizer(lowercase=True, stop_words="english")
    try:
        tf = sp.csr_matrix(counter.fit_transform(_title_body(docs)), dtype=np.float64)
    except ValueError:  # empty vocabulary: nothing matches anything
        return {i: [] for i in ids}
    tf.sort_indices()
    df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
    terms = counter.get_feature_names_out()
    term_rank = np.argsort(np.argsort(terms, kind="stable"))  # tie rule: alphabetical term

    # 1. Query terms: top max_query_terms by tf * idf (Lucene classic idf), per article.
    classic_idf = 1.0 + np.log(n / (df + 1.0))
    q_indptr = [0]
    q_indices: list[np.ndarray] = []
    for row in range(n):
        lo, hi = tf.indptr[row], tf.indptr[row + 1]
        cols, freq = tf.indices[lo:hi], tf.data[lo:hi]
        keep = (freq >= min_term_freq) & (df[cols] >= min_doc_freq)
        cols, freq = cols[keep], freq[keep]
        weight = freq * classic_idf[cols]
        chosen = cols[np.lexsort((term_rank[cols], -weight))[:max_query_terms]]
        q_indices.append(np.sort(chosen))
        q_indptr.append(q_indptr[-1] + len(chosen))
    indices = np.concatenate(q_indices) if q_indices else np.empty(0, dtype=np.int64)
    query = sp.csr_matrix(
        (np.ones(len(indices)), indices, np.array(q_indptr)), shape=tf.shape
    )

    # 2. BM25 of every article for each term: one matrix, so scoring is one sparse product.
    lengths = np.asarray(tf.sum(axis=1)).ravel()
    avg = lengths.mean() if lengths.mean() > 0 else 1.0
    bm25_idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
    norm = np.repeat(k1 * (1.0 - b + b * lengths / avg), np.diff(tf.indptr))
    weights = tf.copy()
    weights.data = bm25_idf[tf.indices] * tf.data * (k1 + 1.0) / (tf.data + norm)
    presence = tf.copy()
    presence.data[:] = 1.0
    n_terms = np.diff(query.indptr)
    required = np.floor(minimum_should_match * n_terms + 1e-9)

    def enough_terms(block: slice) -> np.ndarray:
        matched = (query[block] @ presence.T).toarray()
        return matched >= np.maximum(required[block], 1)[:, None]

    found = exact_topk(
        query, weights.T.tocsr(), np.arange(n), k, id_ranks(ids), mask=enough_terms
    )
    return {ids[i]: [ids[j] for j in cols] for i, cols in enumerate(found)}
