"""Tags as rows: each article's tag set as an L2-normalised indicator row (for the tag bonus)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["tag_rows"]


def tag_rows(
    tags: Sequence[Sequence[str]], vocabulary: Mapping[str, int] | None = None
) -> tuple[sp.csr_matrix, dict[str, int]]:
    """L2-normalised tag indicator rows, so ``rows @ rows.T`` is the cosine of tag sets.

    Tags compare case-insensitively. With ``vocabulary`` given, unknown tags are ignored.
    """
    vocab: dict[str, int] = {} if vocabulary is None else dict(vocabulary)
    growing = vocabulary is None
    indptr = [0]
    indices: list[int] = []
    for article_tags in tags:
        cols = set()
        for tag in article_tags:
            key = tag.strip().casefold()
            if not key:
                continue
            if growing:
                cols.add(vocab.setdefault(key, len(vocab)))
            elif key in vocab:
                cols.add(vocab[key])
        indices.extend(sorted(cols))
        indptr.append(len(indices))
    counts = np.diff(indptr)
    data = np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts)
    matrix = sp.csr_matrix(
        (data, np.array(indices, dtype=np.int64), np.array(indptr)), shape=(len(tags), len(vocab))
    )
    return matrix, vocab
