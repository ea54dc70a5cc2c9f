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

from .analysis import CODES, UNSEGMENTED, char_grams, is_term, raw_tokens
from .parallel import trim_heap
from .scripts import strip_arabic_marks

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


#: Codes of the languages cut into character n-grams.
UNSEGMENTED_CODES = frozenset(CODES[language] for language in UNSEGMENTED)

#: Joins a chunk's vocabulary into one string; tokens never contain it (they are runs of
#: letters and digits).
VOCAB_SEPARATOR = "\n"


def count_raw_chunk(
    texts: Mapping[str, Sequence[str]],
    stop: frozenset[str] | Mapping[str, frozenset[str]],
    in_text_order: bool = True,
    tokenizer: str = "standard",
    languages: Sequence[str] | None = None,
    grams: int | None = None,
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

    With ``languages`` (one language code per document, ``language="auto"``) the tokens
    are keys ``"<code>:<token>"`` and ``stop`` maps each code to its stop words. With
    ``grams`` (the longest character n-gram), the documents of an unsegmented language (all
    of them when ``languages`` is None) are cut into character n-grams instead of words.
    """
    # Raw token -> local column, or -1 for a token that is never a term (a stop word, too
    # short or too long): each distinct token is judged once, and a document's tokens are
    # then mapped by C-level map() instead of a Python loop per token.
    ids: dict[str, int] = {}
    vocab: list[str] = []
    raw: dict[str, tuple[list[int], list[int]]] = {}
    for name, docs in texts.items():
        codes = [""] * len(docs) if languages is None else list(languages)
        cut = [
            grams is not None and (languages is None or code in UNSEGMENTED_CODES)
            for code in codes
        ]
        tokenized: list[list[str]] = [
            [] if cut[i] else raw_tokens(text, tokenizer) for i, text in enumerate(docs)
        ]
        if languages is not None:
            tokenized = [
                [f"{c}:{t}" for t in tokens] for c, tokens in zip(codes, tokenized, strict=True)
            ]
        # One set of the whole chunk's new tokens; sorted() so that the local column order
        # does not depend on string hashing.
        for key in sorted(set().union(*tokenized).difference(ids)):
            if languages is None:
                token, stops = key, stop
            else:
                code, _, token = key.partition(":")
                stops = stop[code]  # type: ignore[index]
            if token in stops or not is_term(token, tokenizer):
                ids[key] = -1
            else:
                ids[key] = len(vocab)
                vocab.append(key)
        gram_columns = _gram_columns(docs, codes, cut, grams, ids, vocab) if any(cut) else {}
        lengths: list[int] = []
        indices: list[int] = []
        for i, tokens in enumerate(tokenized):
            if cut[i]:
                doc_columns = gram_columns[i]
                lengths.append(len(doc_columns))
                indices.extend(doc_columns)
            else:
                lengths.append(len(tokens))
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


#: Bits of one code point in a character n-gram key (Unicode needs 21).
_CP_BITS = 21
_CP_MASK = (1 << _CP_BITS) - 1
#: Marks a bigram's key (trigram keys use the bits below it).
_BIGRAM = np.int64(1 << 62)


def gram_keys(text: str, longest: int) -> np.ndarray:
    """The character n-grams of :func:`~relatedness.features.analysis.char_grams` as int64
    keys, in the same order (bigrams, then trigrams), for ``longest`` 2 or 3.

    A key packs the code points (21 bits each); bigram keys carry a flag bit. Counting
    keys with numpy instead of building a string per n-gram (a Japanese article has
    thousands) is what makes character n-grams affordable.
    """
    folded = " ".join(strip_arabic_marks(text.lower()).split())
    points = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    parts = [np.empty(0, dtype=np.int64)]
    if len(points) >= 2:
        parts.append(_BIGRAM | (points[:-1] << _CP_BITS) | points[1:])
    if longest >= 3 and len(points) >= 3:
        parts.append((points[:-2] << 2 * _CP_BITS) | (points[1:-1] << _CP_BITS) | points[2:])
    return np.concatenate(parts)


def gram_text(key: int) -> str:
    """The n-gram a :func:`gram_keys` key stands for."""
    if key & _BIGRAM:
        return chr((key >> _CP_BITS) & _CP_MASK) + chr(key & _CP_MASK)
    return chr(key >> 2 * _CP_BITS) + chr((key >> _CP_BITS) & _CP_MASK) + chr(key & _CP_MASK)


def _gram_columns(
    docs: Sequence[str],
    codes: Sequence[str],
    cut: Sequence[bool],
    grams: int | None,
    ids: dict[str, int],
    vocab: list[str],
) -> dict[int, list[int]]:
    """Local columns of the character n-grams of the documents ``cut`` (grows ``ids``)."""
    assert grams is not None
    out: dict[int, list[int]] = {}
    if grams > 3:  # keys hold at most three code points: the strings, one by one
        for i in (i for i, c in enumerate(cut) if c):
            columns = []
            for gram in char_grams(docs[i], grams):
                key = f"{codes[i]}:{gram}" if codes[i] else gram
                if key not in ids:
                    ids[key] = len(vocab)
                    vocab.append(key)
                columns.append(ids[key])
            out[i] = columns
        return out
    for code in sorted({codes[i] for i, c in enumerate(cut) if c}):
        which = [i for i, c in enumerate(cut) if c and codes[i] == code]
        keys = [gram_keys(docs[i], grams) for i in which]
        distinct, inverse = np.unique(
            np.concatenate([*keys, np.empty(0, dtype=np.int64)]), return_inverse=True
        )
        prefix = f"{code}:" if code else ""
        column_of = np.empty(len(distinct), dtype=np.int64)
        for j, key in enumerate(distinct.tolist()):
            term = prefix + gram_text(key)
            column = ids.get(term)
            if column is None:
                column = ids[term] = len(vocab)
                vocab.append(term)
            column_of[j] = column
        in_order = column_of[inverse]
        start = 0
        for i, doc_keys in zip(which, keys, strict=True):
            out[i] = in_order[start : start + len(doc_keys)].tolist()
            start += len(doc_keys)
    return out


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
