"""A vocabulary that grows after the fit: how terms first seen in added articles start to count.

A fitted vocabulary and its idf are the archive's statistics; the rows of the fitted articles
are built from them and stay valid only while they hold. So, until a refit:

- **fitted terms keep their idf.** Adding articles never re-weighs a fitted article's row.
- **every term of an added article is counted**, per field, as a fit counts (words, and word
  pairs with ``ngram_range=(1, 2)``); the counts are kept (:class:`Growth`).
- a term outside the vocabulary is **pending** until its document frequency among the added
  articles, ``df_added``, reaches the fit's ``min_df`` (a share: of every article counted,
  fitted and added) while staying within its ``max_df`` (a share: of the added articles). It
  then **enters the vocabulary** as a new column after the existing ones (terms entering
  together in sorted order), with the smooth idf of the fit,
  ``idf = ln((1 + n) / (1 + df_added)) + 1``, ``n`` the fitted plus the added articles at
  that moment, fixed from then on like a fitted term's.
- the fitted articles are **not recounted**: the model keeps no text, so a term that enters
  is counted over the added articles only and no fitted row ever holds it (a fitted article
  could hold it at most ``min_df - 1`` times, or the fit would have kept it).
- an added article's row is always its counts over the vocabulary *as it stands*, weighed
  with its idf and L2-normalised (what :meth:`FieldTfidfVectorizer.transform` gives it):
  when a term it holds enters, its row is **re-weighed** and reported, so the lists that
  change can be found.

So every row is exactly the row a recompute under the same statistics gives: fitted rows
with the fitted vocabulary, added rows with the grown one. A refit recounts everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .counting import document_frequencies, relabel_columns
from .tfidf import FieldTfidfVectorizer

__all__ = ["Growth", "Grown", "grow"]


@dataclass(frozen=True)
class Growth:
    """The term counts of the articles added since the fit (the last ``n_added`` rows).

    Attributes
    ----------
    terms : list of str
        Every term seen in an added article, in the order first seen (sorted within a batch);
        column ``j`` of the counts is ``terms[j]``. In the vocabulary or pending.
    counts : dict of str to csr_matrix
        Per field, ``(n_added, len(terms))`` whole-number counts (float64).
    n_fitted_terms : int
        Size of the vocabulary at fit: columns from here on entered after it.
    """

    terms: list[str]
    counts: dict[str, sp.csr_matrix]
    n_fitted_terms: int

    @classmethod
    def start(cls, vectorizer: FieldTfidfVectorizer) -> Growth:
        """No article added yet."""
        fields = vectorizer.field_weights()
        empty = {f: sp.csr_matrix((0, 0), dtype=np.float64) for f in fields}
        return cls([], empty, len(vectorizer.vocabulary_))

    @property
    def n_added(self) -> int:
        """Articles counted since the fit."""
        return next(iter(self.counts.values())).shape[0] if self.counts else 0

    @property
    def empty(self) -> bool:
        """Nothing added since the fit (a model then saves no growth files)."""
        return self.n_added == 0 and not self.terms

    def to_arrays(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """``(fields, data, indices, indptr)``: the counts as one CSR matrix whose column
        ``f * len(terms) + j`` is term ``j`` in field ``fields[f]`` (int32 counts)."""
        fields = list(self.counts)
        width = len(self.terms)
        shifted = [
            sp.csr_matrix(
                (m.data, m.indices.astype(np.int64) + f * width, m.indptr),
                shape=(self.n_added, width * len(fields)),
            )
            for f, m in enumerate(self.counts.values())
        ]
        whole = sp.csr_matrix(sum(shifted, sp.csr_matrix((self.n_added, width * len(fields)))))
        whole.sort_indices()
        return (
            fields,
            whole.data.astype(np.int32),
            whole.indices.astype(np.int64),
            whole.indptr.astype(np.int64),
        )

    @classmethod
    def from_arrays(
        cls,
        fields: Sequence[str],
        terms: list[str],
        n_fitted_terms: int,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
    ) -> Growth:
        """The inverse of :meth:`to_arrays` (the caller has checked ranges and lengths)."""
        width = len(terms)
        n_rows = len(indptr) - 1
        whole = sp.csr_matrix(
            (np.asarray(data, dtype=np.float64), np.asarray(indices), np.asarray(indptr)),
            shape=(n_rows, width * len(fields)),
        )
        counts = {
            name: sp.csr_matrix(whole[:, f * width : (f + 1) * width], dtype=np.float64)
            for f, name in enumerate(fields)
        }
        return cls(list(terms), counts, n_fitted_terms)


@dataclass(frozen=True)
class Grown:
    """One :func:`grow` step: the new statistics and the rows they give.

    Attributes
    ----------
    vectorizer : FieldTfidfVectorizer
        The fitted vectorizer with the terms that entered appended (a new object).
    growth : Growth
        The counts with the new articles'.
    rows, norms
        The new articles' rows and their norms before normalisation.
    reweighed : ndarray of int
        Earlier added articles (index among the added ones) whose rows changed: they hold a
        term that entered.
    reweighed_rows, reweighed_norms
        Their new rows and norms.
    new_terms : list of str
        The terms that entered the vocabulary.
    oov_rate : float
        Share of the new articles' word occurrences (word pairs left out) still outside the
        vocabulary.
    idf_drift : float
        Mean absolute difference, over the vocabulary, between the idf in use and the idf
        every article counted so far (fitted and added) would give.
    """

    vectorizer: FieldTfidfVectorizer
    growth: Growth
    rows: sp.csr_matrix
    norms: np.ndarray
    reweighed: np.ndarray
    reweighed_rows: sp.csr_matrix
    reweighed_norms: np.ndarray
    new_terms: list[str]
    oov_rate: float
    idf_drift: float


def _admission_bounds(vec: FieldTfidfVectorizer, n_total: int, n_added: int) -> tuple[float, float]:
    """``(min_count, max_count)`` for ``df_added``: the fit's effective min_df and max_df."""
    min_df, max_df = vec.effective_min_df_, vec.effective_max_df_
    low = min_df if isinstance(min_df, int) else min_df * n_total
    high = max_df if isinstance(max_df, int) else max_df * n_added
    return low, high


def _stack(old: sp.csr_matrix, new: sp.csr_matrix, width: int) -> sp.csr_matrix:
    old = sp.csr_matrix((old.data, old.indices, old.indptr), shape=(old.shape[0], width))
    return sp.csr_matrix(sp.vstack([old, new], format="csr"))


def grow(
    vectorizer: FieldTfidfVectorizer, growth: Growth, cleaned: Sequence[Mapping[str, str]]
) -> Grown:
    """Count new articles (``cleaned`` by the vectorizer), let pending terms enter, weigh.

    See the module docstring for the definitions. Deterministic whatever the order of
    ``cleaned`` within the batch.
    """
    local_counts, local_vocab = vectorizer.count(cleaned, None)
    local_terms = sorted(local_vocab, key=local_vocab.__getitem__)
    index = {t: j for j, t in enumerate(growth.terms)}
    unseen = sorted(t for t in local_terms if t not in index)
    for term in unseen:
        index[term] = len(index)
    terms = [*growth.terms, *unseen]
    to_terms = np.array([index[t] for t in local_terms], dtype=np.int64)
    fresh = {}
    for name, matrix in local_counts.items():
        moved = relabel_columns(matrix, to_terms, len(terms))  # one-to-one: no repeats
        moved.sort_indices()
        fresh[name] = moved
    counts = {
        name: _stack(growth.counts[name], fresh[name], len(terms)) for name in growth.counts
    }
    n_before = growth.n_added
    n_added = n_before + len(cleaned)
    n_total = int(vectorizer.n_documents_) + n_added
    df = document_frequencies(counts.values(), n_added, len(terms))

    vocab = vectorizer.vocabulary_
    n_vocab = len(vocab)
    column = np.array([vocab.get(t, -1) for t in terms], dtype=np.int64)
    low, high = _admission_bounds(vectorizer, n_total, n_added)
    entering = np.flatnonzero((column < 0) & (df >= low) & (df <= high))
    new_terms = sorted(terms[j] for j in entering.tolist())
    entering = np.array([index[t] for t in new_terms], dtype=np.int64)
    column[entering] = n_vocab + np.arange(len(entering))
    new_idf = np.log((1.0 + n_total) / (1.0 + df[entering])) + 1.0
    if len(new_terms):
        params, old_terms, idf, lines = vectorizer.to_state()
        vectorizer = FieldTfidfVectorizer.from_state(
            params, [*old_terms, *new_terms], np.concatenate([idf, new_idf]), lines
        )
    n_columns = n_vocab + len(new_terms)

    # Earlier added articles holding a term that entered are weighed again.
    holds = np.zeros(n_before, dtype=bool)
    if len(entering) and n_before:
        is_new = np.zeros(len(terms), dtype=bool)
        is_new[entering] = True
        for matrix in counts.values():
            early = matrix[:n_before]
            rows = np.repeat(np.arange(n_before), np.diff(early.indptr))
            holds[rows[is_new[early.indices]]] = True
    reweighed = np.flatnonzero(holds)
    chosen = np.concatenate([reweighed, np.arange(n_before, n_added)])
    parts = {name: relabel_columns(m[chosen], column, n_columns) for name, m in counts.items()}
    norms: list[np.ndarray] = []
    weighed = vectorizer.weigh(parts, vectorizer.idf_, norms_out=norms, in_place=True)
    k = len(reweighed)

    # Occurrences of the new articles' words outside the grown vocabulary. Word pairs are
    # left out: most occur once and are pruned at fit as well (39% of the BBC fit's own
    # word and pair occurrences are outside its vocabulary, 5% of its words), so counting
    # them would call for a refit after every add.
    is_word = np.array([" " not in t for t in terms], dtype=bool)
    total = known = 0.0
    for matrix in fresh.values():
        words = is_word[matrix.indices]
        total += float(matrix.data[words].sum())
        known += float(matrix.data[words & (column[matrix.indices] >= 0)].sum())
    oov_rate = 0.0 if total == 0 else 1.0 - known / total

    # idf = ln((1 + n) / (1 + df)) + 1 gives back the fitted df of the fitted terms; the
    # terms that entered later have no fitted df.
    idf_in_use = vectorizer.idf_
    n_fit = int(vectorizer.n_documents_)
    df_fit = np.rint((1.0 + n_fit) / np.exp(idf_in_use - 1.0) - 1.0)
    df_fit[growth.n_fitted_terms :] = 0.0
    df_all = df_fit + np.bincount(column[column >= 0], weights=df[column >= 0], minlength=n_columns)
    idf_all = np.log((1.0 + n_total) / (1.0 + df_all)) + 1.0
    drift = float(np.mean(np.abs(idf_all - idf_in_use))) if n_columns else 0.0

    return Grown(
        vectorizer=vectorizer,
        growth=Growth(terms, counts, growth.n_fitted_terms),
        rows=sp.csr_matrix(weighed[k:]),
        norms=norms[0][k:],
        reweighed=reweighed,
        reweighed_rows=sp.csr_matrix(weighed[:k]),
        reweighed_norms=norms[0][:k],
        new_terms=new_terms,
        oov_rate=oov_rate,
        idf_drift=drift,
    )
