r"""Corpus-level boilerplate: lines that recur in many articles (a site-wide footer).

:func:`find_recurring_lines` finds them in one pass over a corpus and
:func:`drop_lines` removes them from an article; lines are compared by their
:func:`~relatedness.text.unicode.normalize_line` key.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from numbers import Integral, Real

from .unicode import collapse_whitespace, is_collapsed, normalize_line

__all__ = ["drop_lines", "find_recurring_lines"]


def find_recurring_lines(
    texts: Iterable[str], *, min_share: float = 0.05, min_count: int = 3, collapsed: bool = False
) -> frozenset[str]:
    r"""Find lines that recur in many articles of a corpus (site-wide boilerplate).

    For every normalized line (:func:`normalize_line`), count the number of distinct
    texts that contain it. Identical texts (syndicated copies of one story) count
    once, so five copies of a story do not turn the story into boilerplate. A line is
    boilerplate when its count is at least ``min_count`` and greater than
    ``min_share`` times the number of distinct texts.

    One pass over ``texts`` (which may be a generator), linear in the total number of
    characters. Only hashes are kept for lines seen once; the text of a line is kept
    once it has been seen in two texts, so memory stays small for large corpora.
    (Python's 64-bit string hash is used; a collision, which would merge two lines or
    two texts, is vanishingly unlikely at news-corpus sizes.)

    Parameters
    ----------
    texts : iterable of str
        Cleaned article bodies (see :func:`clean_text`).
    min_share : float, default=0.05
        Share of distinct texts a line must exceed, in ``[0, 1]``.
    min_count : int, default=3
        Minimum number of distinct texts containing the line, ``>= 1``.
    collapsed : bool, default=False
        True promises every text is already collapsed, e.g. :func:`clean_text` output
        (:func:`collapse_whitespace` returns it unchanged); skips that check. A line of a
        text that is not collapsed is then compared casefolded but with its whitespace
        as it is.

    Returns
    -------
    frozenset of str
        The normalized boilerplate lines; pass them to :func:`drop_lines`.

    Raises
    ------
    TypeError
        If an item of ``texts`` is not a ``str``, or a parameter has the wrong type.
    ValueError
        If ``min_share`` is outside ``[0, 1]`` or ``min_count < 1``.

    Examples
    --------
    >>> bodies = [f"Story {i}.\nFollow us on Twitter" for i in range(4)]
    >>> sorted(find_recurring_lines(bodies, min_share=0.5, min_count=2))
    ['follow us on twitter']
    """
    if isinstance(min_share, bool) or not isinstance(min_share, Real):
        msg = f"min_share must be a float in [0, 1], got {type(min_share).__name__}."
        raise TypeError(msg)
    if not 0.0 <= min_share <= 1.0:
        msg = f"min_share must be in [0, 1], got {min_share!r}."
        raise ValueError(msg)
    if isinstance(min_count, bool) or not isinstance(min_count, Integral):
        msg = f"min_count must be an int >= 1, got {type(min_count).__name__}."
        raise TypeError(msg)
    if min_count < 1:
        msg = f"min_count must be an int >= 1, got {min_count!r}."
        raise ValueError(msg)
    return _find_recurring_lines(
        texts, min_share=min_share, min_count=int(min_count), collapsed=collapsed
    )


def _find_recurring_lines(
    texts: Iterable[str], *, min_share: float, min_count: int, collapsed: bool = False
) -> frozenset[str]:
    """The body of :func:`find_recurring_lines`, parameters already checked.

    ``collapsed=True`` promises that every text is collapsed (:func:`collapse_whitespace`
    returns it unchanged, as for :func:`clean_text` output), which skips checking it.
    """
    # Keep a line's text from the count at which it could first qualify.
    keep_at = min(min_count, 2)
    seen_texts: set[int] = set()
    counts: dict[int, int] = {}
    line_text: dict[int, str] = {}
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            msg = f"texts[{i}] must be a str, got {type(text).__name__}."
            raise TypeError(msg)
        text_hash = hash(text)
        if text_hash in seen_texts:
            continue
        seen_texts.add(text_hash)
        # A line repeated inside one text still counts once for that text.
        if collapsed or is_collapsed(text):
            # Cleaned text is collapsed, and case folding keeps a line collapsed (it never
            # maps a character to whitespace or to nothing, nor whitespace to anything
            # else; checked over all code points in the tests): one casefold of the whole
            # text gives every line's normalize_line.
            norms: Iterable[str] = text.casefold().split("\n")
        else:
            norms = map(normalize_line, text.split("\n"))
        lines = {hash(norm): norm for norm in norms if norm}
        for line_hash, norm in lines.items():
            count = counts.get(line_hash, 0) + 1
            counts[line_hash] = count
            if count == keep_at:
                line_text[line_hash] = norm
    threshold = min_share * len(seen_texts)
    return frozenset(
        line_text[h] for h, count in counts.items() if count >= min_count and count > threshold
    )


def drop_lines(text: str, lines: AbstractSet[str]) -> str:
    r"""Remove the lines of ``text`` whose normalized form is in ``lines``.

    Parameters
    ----------
    text : str
        A cleaned article body.
    lines : set of str
        Normalized lines (:func:`normalize_line`), typically from
        :func:`find_recurring_lines`.

    Returns
    -------
    str
        The text without those lines, whitespace collapsed
        (:func:`collapse_whitespace`).

    Examples
    --------
    >>> drop_lines("Story.\n\nFollow us on Twitter", {"follow us on twitter"})
    'Story.'
    """
    if not lines:
        return collapse_whitespace(text)
    if is_collapsed(text):
        # As in find_recurring_lines: a collapsed line's key is its casefold.
        pairs = zip(text.split("\n"), text.casefold().split("\n"), strict=True)
        kept = [line for line, norm in pairs if norm not in lines]
    else:
        kept = [line for line in text.split("\n") if normalize_line(line) not in lines]
    return collapse_whitespace("\n".join(kept))
