"""Counting terms: the fit's sparse count matrices, built and pruned without extra copies.

Every function here works on plain CSR arrays and is exact on whole-number counts: a chunk's
raw token counts (:func:`count_raw_chunk`), stacked in place (:func:`stack_chunks`), the
document frequency of every column (:func:`document_frequencies`) and columns renamed or
dropped in place (:func:`keep_columns`). The vectorizer composes them
(:mod:`relatedness.features.tfidf`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from .analysis import MAX_TOKEN_CHARS, MIN_TOKEN_CHARS, raw_tokens
from .parallel import trim_heap

__all__ = [
    "VOCAB_SEPARATOR",
    "count_raw_chunk",
    "document_frequencies",
    "keep_columns",
    "relabel_columns",
    "stack_chunks",
]

#: Texts shorter than this have fewer tokens, so their counts (and the sums of the counts of
#: tokens that share a stem) are whole numbers that float32 holds exactly. A chunk with a
#: longer text (only with a raised ``max_chars``) is counted in float64.
FLOAT32_COUNT_CHARS = 2**24


#: Joins a chunk's vocabulary into one string; tokens never contain it (they are runs of
#: letters and digits).
VOCAB_SEPARATOR = "\n"


def count_raw_chunk(
    texts: Mapping[str, Sequence[str]], stop: frozenset[str], in_text_order: bool = True
) -> tuple[str, dict[str, sp.csr_matrix]]:
    """Count raw (unstemmed) tokens per field for one chunk of documents.

    Returns the chunk's own vocabulary, joined by :data:`VOCAB_SEPARATOR` into one string,
    and, per field, a float32 CSR count matrix over it with int32 indices (float64 past
    :data:`FLOAT32_COUNT_CHARS`). With ``in_text_order`` each row lists its tokens in text
    order, repeats included, as 1s (word pairs are read from it); otherwise each distinct
    token once, with its count (about half the entries: the fit's largest arrays). Stemming
    happens later, once per distinct token of the corpus.

    One string, not a list: the fit holds every chunk's result until it merges them in
    order, and ~22,000 token objects a chunk (1.5 MB) were 1.5 GB at 1M articles, against
    ~0.2 GB joined (which also pickles faster from the forked child).
    """
    # Raw token -> local column, or -1 for a token that is never a term (a stop word, too
    # short or too long): each distinct token is judged once, and a document's tokens are
    # then mapped by C-level map() instead of a Python loop per token.
    ids: dict[str, int] = {}
    vocab: list[str] = []
    raw: dict[str, tuple[list[int], list[int]]] = {}
    for name, docs in texts.items():
        tokenized = [raw_tokens(text) for text in docs]
        # One set of the whole chunk's new tokens; sorted() so that the local column order
        # does not depend on string hashing.
        for token in sorted(set().union(*tokenized).difference(ids)):
            if token in stop or not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
                ids[token] = -1
            else:
                ids[token] = len(vocab)
                vocab.append(token)
        lengths = [len(tokens) for tokens in tokenized]
        indices: list[int] = []
        for tokens in tokenized:
            indices.extend(map(ids.__getitem__, tokens))
        raw[name] = (lengths, indices)
    longest = max((len(text) for docs in texts.values() for text in docs), default=0)
    dtype = np.float32 if longest < FLOAT32_COUNT_CHARS else np.float64
    counts: dict[str, sp.csr_matrix] = {}
    for name, (lengths, indices) in raw.items():
        columns = np.array(indices, dtype=np.int32)
        rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        keep = columns >= 0
        indptr = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows[keep], minlength=len(lengths)), out=indptr[1:])
        columns = columns[keep]
        matrix = sp.csr_matrix(
            (np.ones(len(columns), dtype=dtype), columns, indptr),
            shape=(len(lengths), len(vocab)),
        )
        if not in_text_order:
            matrix.sum_duplicates()  # else the stem-merging product sums the repeats
        counts[name] = matrix
    return VOCAB_SEPARATOR.join(vocab), counts


#: Chunks copied between two returns of freed heap memory to the OS while stacking.
TRIM_EVERY_CHUNKS = 64

def stack_chunks(parts: list[tuple[sp.csr_matrix, np.ndarray]], n_columns: int) -> sp.csr_matrix:
    """Stack the chunks' count matrices, each relabelled by its ``remap``, into one CSR.

    Equal to ``vstack`` of the relabelled chunks, but filled in place while ``parts`` is
    emptied, so the corpus' raw counts are held about once instead of three times (chunks,
    relabelled copies, stacked copy). int32 indices while they fit.
    """
    n_rows = sum(m.shape[0] for m, _ in parts)
    nnz = sum(m.nnz for m, _ in parts)
    index_dtype = np.int32 if max(nnz, n_columns) < 2**31 else np.int64
    dtype = np.result_type(np.float32, *(m.dtype for m, _ in parts))
    data = np.empty(nnz, dtype=dtype)
    indices = np.empty(nnz, dtype=index_dtype)
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    row = at = 0
    parts.reverse()  # pop() from the end: the first chunk first, each freed once copied
    copied = 0
    while parts:
        matrix, remap = parts.pop()
        size, rows = matrix.nnz, matrix.shape[0]
        data[at : at + size] = matrix.data
        indices[at : at + size] = remap[matrix.indices]
        indptr[row + 1 : row + rows + 1] = matrix.indptr[1:].astype(index_dtype) + at
        row, at = row + rows, at + size
        del matrix, remap
        copied += 1
        if copied % TRIM_EVERY_CHUNKS == 0:
            trim_heap()
    trim_heap()
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_columns), copy=False)


#: Rows per block when document frequencies are counted: bounds the temporary keys.
DF_BLOCK_ROWS = 65_536

#: Entries per step when document frequencies are counted or columns pruned in place.
PRUNE_BLOCK_ENTRIES = 1 << 22


def _row_keys(matrix: sp.csr_matrix, start: int, stop: int, n_columns: int) -> np.ndarray:
    """``(row - start) * n_columns + column`` of the entries of rows ``start:stop``, in order."""
    lengths = np.diff(matrix.indptr[start : stop + 1])
    rows = np.repeat(np.arange(stop - start, dtype=np.int64), lengths)
    entries = matrix.indices[matrix.indptr[start] : matrix.indptr[stop]]
    return rows * n_columns + entries


def document_frequencies(
    matrices: Iterable[sp.csr_matrix], n_rows: int, n_columns: int
) -> np.ndarray:
    """Rows in which each column is stored in at least one of ``matrices`` (same shape).

    The largest matrix (the body) counts its own columns; the others add only the
    ``(row, column)`` entries it lacks, found block by block of rows with a binary search.
    The temporary memory is a block's keys, not a boolean union of the whole corpus (~1.4
    GiB at 1M articles: one byte and one int32 per entry, twice).
    """
    present = [m for m in matrices if m.nnz]
    if not present:
        return np.zeros(n_columns, dtype=np.int64)
    present.sort(key=lambda m: m.nnz, reverse=True)
    base, others = present[0], present[1:]
    if not base.has_canonical_format:  # a row must list a column once (counts are summed)
        base = base.copy()
        base.sum_duplicates()
    df = np.zeros(n_columns, dtype=np.int64)
    for start in range(0, base.nnz, PRUNE_BLOCK_ENTRIES):
        # In blocks: bincount turns int32 indices into an int64 copy (1.1 GiB at 1M).
        df += np.bincount(base.indices[start : start + PRUNE_BLOCK_ENTRIES], minlength=n_columns)
    if not others:
        return df
    for start in range(0, n_rows, DF_BLOCK_ROWS):
        stop = min(start + DF_BLOCK_ROWS, n_rows)
        # Sorted (canonical rows give ascending keys) for the binary search.
        base_keys = _row_keys(base, start, stop, n_columns)
        extra = np.unique(np.concatenate([_row_keys(m, start, stop, n_columns) for m in others]))
        at = np.minimum(np.searchsorted(base_keys, extra), max(len(base_keys) - 1, 0))
        missing = extra if not len(base_keys) else extra[base_keys[at] != extra]
        df += np.bincount(missing % n_columns, minlength=n_columns)
    return df


def keep_columns(matrix: sp.csr_matrix, new_column: np.ndarray, n_columns: int) -> sp.csr_matrix:
    """``matrix`` with column ``c`` renamed ``new_column[c]``, or dropped where it is -1.

    The entries of ``matrix[:, kept]``, each row's in its own order, moved down within
    ``matrix``'s own arrays block by block (``matrix`` is consumed). Column selection would
    copy the corpus' largest matrix (1.6 GiB at 1M articles) while it is still held. The
    arrays keep their length: the tail past the last kept entry is unused (the pruned
    entries, a few percent).
    """
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    renamed = new_column.astype(indices.dtype)  # mapped blocks are int32 like the indices
    nnz = int(indptr[-1])
    new_indptr = np.empty_like(indptr)
    write = first_row = 0
    for start in range(0, nnz, PRUNE_BLOCK_ENTRIES):
        stop = min(start + PRUNE_BLOCK_ENTRIES, nnz)
        mapped = renamed[indices[start:stop]]
        kept = mapped >= 0
        before = np.zeros(stop - start + 1, dtype=np.int64)
        np.cumsum(kept, out=before[1:])
        # Rows starting in this block start after the kept entries before them.
        end_row = int(np.searchsorted(indptr, stop, side="left"))
        new_indptr[first_row:end_row] = write + before[indptr[first_row:end_row] - start]
        count = int(before[-1])
        # Reads of this block are copied out before the writes, which never pass them.
        data[write : write + count] = data[start:stop][kept]
        indices[write : write + count] = mapped[kept]
        write += count
        first_row = end_row
    new_indptr[first_row:] = write
    return sp.csr_matrix(
        (data[:write], indices[:write], new_indptr), shape=(matrix.shape[0], n_columns), copy=False
    )


def relabel_columns(counts: sp.csr_matrix, columns: np.ndarray, n_columns: int) -> sp.csr_matrix:
    """``counts`` with column ``c`` moved to ``columns[c]`` (dropped where -1), unsummed;
    ``counts`` itself is left as it is (:func:`keep_columns` on a copy)."""
    return keep_columns(counts.copy(), columns, n_columns)


