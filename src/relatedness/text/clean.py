r"""The composed cleaners: an article body, a headline, a teaser.

:func:`clean_text` and :func:`clean_title` check their arguments and chain the steps
of :mod:`~relatedness.text.html`, :mod:`~relatedness.text.unicode` and
:mod:`~relatedness.text.boilerplate`; :func:`make_snippet` cuts a cleaned body down
to the teaser of the "Related articles" box.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from numbers import Integral

from .boilerplate import (
    DEFAULT_BOILERPLATE_RULES,
    BoilerplateRule,
    apply_rules,
    coerce_rules,
    remove_boilerplate,
)
from .html import looks_like_html, strip_html
from .unicode import cluster_start, collapse_whitespace, drop_controls, normalize_unicode, truncate

__all__ = ["clean_text", "clean_title", "make_snippet"]

# --------------------------------------------------------------------------------------------
# Composed pipelines
# --------------------------------------------------------------------------------------------

# Three or more line breaks: a run of blank lines left where lines were dropped.
_MANY_NEWLINES = re.compile(r"\n{3,}")

# HTML escaped twice ("&amp;lt;p&amp;gt;") is common in scraped feeds; each pass decodes one
# level. Four passes cover any realistic nesting while bounding the work on hostile input.
_MAX_MARKUP_PASSES = 4


_BOILERPLATE_WINDOW_FACTOR = 4


def _plain_text(text: str) -> str:
    """strip_html -> NFKC -> drop_controls, repeated while the result still looks like HTML."""
    if (
        text.isascii()
        and "<" not in text
        and "&" not in text
        and text.replace("\n", " ").isprintable()
    ):
        # Plain printable ASCII (most of a news corpus) is a fixed point of every step:
        # strip_html needs "<" or "&", NFKC leaves ASCII alone and drop_controls only
        # changes unprintable characters. Skipping the passes is pinned by the tests.
        return text
    out = text
    for _ in range(_MAX_MARKUP_PASSES):
        previous = out
        # NFKC runs again after drop_controls because removing a character can bring a base
        # letter and a combining mark together ("e\u200b\u0301" -> "e\u0301" -> "é"). NFKC
        # itself never produces a character that drop_controls would change.
        out = normalize_unicode(drop_controls(normalize_unicode(strip_html(out))))
        # Decoding can reveal markup ("&lt;p&gt;" -> "<p>") and so can NFKC (full-width
        # "\uff1c\uff50\uff1e") or dropping a zero-width space ("<\u200bp>"); a second clean_text
        # would strip it, so strip it now and keep clean_text idempotent.
        if out == previous or not looks_like_html(out):
            break
    return out


def _check_text(text: object, func: str) -> None:
    if isinstance(text, str):
        return
    msg = f"{func}() expects a str, got {type(text).__name__}."
    if isinstance(text, (bytes, bytearray)):
        msg += " Decode it first, e.g. b.decode('utf-8', 'replace')."
    raise TypeError(msg)


def _check_max_chars(max_chars: object) -> int:
    # numbers.Integral also admits numpy integers (a cap read from a config array).
    if isinstance(max_chars, bool) or not isinstance(max_chars, Integral):
        msg = f"max_chars must be an int >= 1, got {type(max_chars).__name__} {max_chars!r}."
        raise TypeError(msg)
    if max_chars < 1:
        msg = f"max_chars must be an int >= 1, got {max_chars!r}."
        raise ValueError(msg)
    return int(max_chars)


def clean_title(text: str, max_chars: int = 500) -> str:
    r"""Clean a headline: one line of plain, normalized text.

    Applies :func:`strip_html`, :func:`normalize_unicode` and :func:`drop_controls`
    (bidi overrides such as U+202E, which could visually reverse a title on the page,
    are removed), puts everything on one line with single spaces and truncates to
    ``max_chars``.

    Parameters
    ----------
    text : str
        Raw title.
    max_chars : int, default=500
        Maximum length of the result.

    Returns
    -------
    str
        The cleaned title; ``""`` if nothing visible remains.

    Raises
    ------
    TypeError
        If ``text`` is not a ``str`` or ``max_chars`` is not an ``int``.
    ValueError
        If ``max_chars < 1``.

    Examples
    --------
    >>> clean_title("<h1>EU &amp; Japan\n sign\u00a0pact</h1>")
    'EU & Japan sign pact'
    >>> clean_title("Breaking: \u202eelbat eht no")
    'Breaking: elbat eht no'
    """
    _check_text(text, "clean_title")
    max_chars = _check_max_chars(max_chars)
    return truncate(" ".join(_plain_text(text).split()), max_chars)


def clean_text(
    text: str,
    *,
    max_chars: int = 200_000,
    boilerplate: bool = True,
    extra_patterns: Sequence[str | re.Pattern[str] | BoilerplateRule] = (),
) -> str:
    r"""Clean an article body for indexing and display.

    The pipeline is :func:`strip_html`, :func:`normalize_unicode`,
    :func:`drop_controls`, :func:`remove_boilerplate` (when ``boilerplate`` is true),
    :func:`collapse_whitespace` and :func:`truncate`. Paragraphs are separated by one
    blank line.

    The function is total and idempotent: it never raises for a ``str``, and
    ``clean_text(clean_text(s)) == clean_text(s)``. To keep it idempotent, markup that
    only appears after decoding (``"&lt;p&gt;"``) is stripped as well (up to four
    levels of escaping), and when truncation turns the new last line into boilerplate
    (``"... Share"``) the line rules are applied once more.

    Parameters
    ----------
    text : str
        Raw article body: HTML, plain text or a scraped page.
    max_chars : int, default=200_000
        Maximum length of the result. Truncation happens after HTML stripping, so a
        large page with a short article is not cut before its text is found.
    boilerplate : bool, default=True
        Whether to apply :func:`remove_boilerplate`.
    extra_patterns : sequence of str, re.Pattern or BoilerplateRule, default=()
        Extra boilerplate rules (see :func:`remove_boilerplate`); ignored when
        ``boilerplate`` is false.

    Returns
    -------
    str
        The cleaned text; ``""`` when nothing indexable remains.

    Raises
    ------
    TypeError
        If ``text`` is not a ``str`` (for example ``bytes``: decode first),
        ``max_chars`` is not an ``int`` or an extra pattern has an unsupported type.
    ValueError
        If ``max_chars < 1``.

    See Also
    --------
    clean_title : The same cleaning for a one-line headline.
    find_recurring_lines : Boilerplate shared by many articles of a corpus.

    Examples
    --------
    >>> raw = "<p>Tom &amp; Jerry\u200b are back.</p><p>Share this article</p><p>Next.</p>"
    >>> clean_text(raw)
    'Tom & Jerry are back.\n\nNext.'
    >>> clean_text(" \u00a0\u3000\u200b\ufeff ")
    ''
    """
    _check_text(text, "clean_text")
    max_chars = _check_max_chars(max_chars)
    extra = coerce_rules(extra_patterns) if boilerplate else ()
    out = collapse_whitespace(_plain_text(text))
    if boilerplate:
        # The line rules cost a few microseconds per line; on a hostile 50 MB input with
        # millions of short lines that adds up to minutes. Collapsing first (the rules
        # ignore whitespace differences) and keeping a generous multiple of max_chars
        # bounds the work; the text dropped here could only reach the output if three
        # quarters of the text before it were boilerplate.
        out = truncate(out, _BOILERPLATE_WINDOW_FACTOR * max_chars)
        out = apply_rules(out, (*DEFAULT_BOILERPLATE_RULES, *extra), collapsed=True)
        # The kept lines are still collapsed (truncate only cuts and strips the end), so
        # collapse_whitespace reduces to merging the blank-line runs left by dropped lines.
        if "\n\n\n" in out:
            out = _MANY_NEWLINES.sub("\n\n", out)
        out = out.strip()
    cut = truncate(out, max_chars)
    if boilerplate and cut != out:
        # The cut can end on a line that is now boilerplate ("Share" from "Share prices
        # rose ..."), or on the tail of a "Home ..." breadcrumb; a second clean_text
        # would remove it, so remove it now.
        cut = collapse_whitespace(remove_boilerplate(cut, extra_patterns=extra))
    return cut


# --------------------------------------------------------------------------------------------
# Snippets
# --------------------------------------------------------------------------------------------

_ELLIPSIS = "\u2026"
# Punctuation that reads badly right before an ellipsis ("London, …").
_SNIPPET_TRAILING = " ,;:-\u2013\u2014/|&("


def make_snippet(text: str, max_chars: int = 160) -> str:
    r"""Return the opening of an article body for the "Related articles" box.

    Paragraphs are joined by one space. Text of at most ``max_chars`` characters is
    returned whole; longer text is cut at the last word boundary at or before
    ``max_chars``, trailing punctuation such as ``","``, ``";"``, ``":"`` or ``"-"`` is
    dropped and ``"…"`` (U+2026) is appended, so the result has at most
    ``max_chars + 1`` characters. A first word longer than ``max_chars`` is hard-cut
    (never inside a character cluster).

    Parameters
    ----------
    text : str
        An already cleaned body (see :func:`clean_text`).
    max_chars : int, default=160
        Maximum length before the ellipsis.

    Returns
    -------
    str
        The snippet; ``""`` for empty text.

    Raises
    ------
    TypeError
        If ``text`` is not a ``str`` or ``max_chars`` is not an ``int``.
    ValueError
        If ``max_chars < 1``.

    Examples
    --------
    >>> make_snippet("The EU and Japan signed a pact.\n\nIt covers defence, trade.", 40)
    'The EU and Japan signed a pact. It…'
    >>> make_snippet("Short text.", 40)
    'Short text.'
    """
    _check_text(text, "make_snippet")
    max_chars = _check_max_chars(max_chars)
    flat = " ".join(text.split())
    if len(flat) <= max_chars:
        return flat
    space = flat.rfind(" ", 0, max_chars + 1)
    # A first word longer than max_chars has no boundary to cut at: hard-cut it.
    hard = flat[: cluster_start(flat, max_chars)] or flat[:max_chars]
    head = flat[:space] if space > 0 else hard
    head = head.rstrip(_SNIPPET_TRAILING) or head
    return head + _ELLIPSIS
