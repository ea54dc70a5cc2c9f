r"""Character-level normalisation: Unicode forms, invisible characters, whitespace, length.

:func:`normalize_unicode` (NFKC), :func:`drop_controls` (invisible characters, one
kind of space and of line break), :func:`collapse_whitespace` (with
:func:`is_collapsed`, the check that it would change nothing), :func:`normalize_line`
(the case- and whitespace-blind key of a line) and :func:`truncate` (with
:func:`cluster_start`, which keeps a cut out of a character cluster). This module
imports nothing of the package.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from itertools import filterfalse

__all__ = [
    "cluster_start",
    "collapse_whitespace",
    "drop_controls",
    "is_collapsed",
    "normalize_line",
    "normalize_unicode",
    "truncate",
]

# --------------------------------------------------------------------------------------------
# Unicode
# --------------------------------------------------------------------------------------------


def normalize_unicode(text: str) -> str:
    r"""Return the NFKC normal form of ``text``.

    NFKC makes the precomposed and decomposed spellings of a letter identical
    (``"é"`` vs ``"e"`` + U+0301) and folds compatibility characters (full-width
    letters, ligatures, superscripts, most Unicode spaces) to their plain forms, so
    the vectorizer sees one term instead of several.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        ``text`` in Normalization Form KC.

    Examples
    --------
    >>> normalize_unicode("cafe\u0301") == "café"
    True
    >>> normalize_unicode("\ufb01nal \uff21\uff22\uff23")  # ligature, full-width letters
    'final ABC'
    """
    return unicodedata.normalize("NFKC", text)


# Line and paragraph separators. NEL (U+0085) is a C1 control but also a line break in
# Unicode and in str.splitlines(), so it becomes "\n" rather than disappearing.
_LINE_BREAKS = re.compile("[\r\x0b\x0c\x85\u2028\u2029]")
_KEEP_CONTROLS = frozenset("\n\t\r\x0b\x0c\x85")
# Built on first use (scanning the code space takes ~0.1 s), not on import.
_CONTROL_PATTERNS: dict[str, re.Pattern[str]] = {}


def _char_class(codepoints: Iterable[int], extra: Iterable[tuple[int, int]] = ()) -> str:
    """Return a regex character class body for code points and inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for lo, hi in sorted([*((cp, cp) for cp in codepoints), *extra]):
        if ranges and lo <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(hi, ranges[-1][1]))
        else:
            ranges.append((lo, hi))
    return "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)


def _control_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    if _CONTROL_PATTERNS:
        return _CONTROL_PATTERNS["drop"], _CONTROL_PATTERNS["space"]
    drop: set[int] = {0xFFFD}  # REPLACEMENT CHARACTER: what is left of undecodable bytes
    spaces: set[int] = {ord("\t")}
    # Controls (Cc) live in the BMP, format characters (Cf) in the BMP, plane 1 and the
    # tag block of plane 14, surrogates (Cs) and private use (Co) in the BMP. Scanning only
    # these keeps the one-off cost low; the supplementary private-use planes and the
    # noncharacters are added as ranges below.
    scanned = "".join(map(chr, range(0x20000))) + "".join(map(chr, range(0xE0000, 0xE1000)))
    # isprintable() is False exactly for categories C* and Z* (except " "): filter in C
    # before the slower per-character category lookup.
    hidden = "".join(filterfalse(str.isprintable, scanned))
    for ch in hidden:
        cat = unicodedata.category(ch)
        if cat == "Zs" or (cat == "Cc" and ch not in _KEEP_CONTROLS):
            # A control character (NUL, ESC, C1) stands where a separator was lost, e.g. a
            # NUL-padded export field: "economy\x00market" is two words, not one.
            spaces.add(ord(ch))
        elif cat in ("Cf", "Cs", "Co") and ch not in _KEEP_CONTROLS:
            drop.add(ord(ch))
    ranges = [(0xFDD0, 0xFDEF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD)]
    ranges += [(plane << 16 | 0xFFFE, plane << 16 | 0xFFFF) for plane in range(17)]
    _CONTROL_PATTERNS["drop"] = re.compile(f"[{_char_class(drop, ranges)}]+")
    _CONTROL_PATTERNS["space"] = re.compile(f"[{_char_class(spaces)}]")
    return _CONTROL_PATTERNS["drop"], _CONTROL_PATTERNS["space"]


def drop_controls(text: str) -> str:
    r"""Remove invisible characters and unify spaces and line breaks.

    - Every space separator (category Zs: NBSP U+00A0, U+2009, U+3000, ...), ``"\t"``
      and every other control character (Cc: NUL, ESC, DEL, the C1 controls) becomes
      ``" "``: a control between two words separates them (``"economy\x00market"`` is
      two words).
    - ``"\r\n"``, ``"\r"``, U+2028, U+2029, U+0085, ``"\x0b"`` and ``"\x0c"`` become
      ``"\n"``.
    - Every format character (Cf: zero-width
      space and joiners, BOM, soft hyphen, bidi controls U+202A-U+202E and
      U+2066-U+2069, U+200E/U+200F, tag characters), U+FFFD, lone surrogates,
      noncharacters and private-use characters (icon-font glyphs) are removed.

    Removal happens before the mapping, so ``"\r\u200b\n"`` is one line break and
    ``"ca\u200bfe"`` is the word ``"cafe"`` (a zero-width space would otherwise split
    it into two tokens).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        Text whose only whitespace characters are ``" "`` and ``"\n"``.

    Examples
    --------
    >>> drop_controls("ca\u200bfe\u00a0au \u202elait\r\nnext")
    'cafe au lait\nnext'
    """
    lines = text.split("\n")
    drop, space = _control_patterns()
    for i, line in enumerate(lines):
        # Fast path: isprintable() is False for every character this function changes
        # (categories C* and Z* other than " ") except U+FFFD (category So), and it runs
        # ~10x faster than the regexes.
        if line.isprintable() and "\ufffd" not in line:
            continue
        kept = drop.sub("", line)
        if kept.endswith("\r") and i + 1 < len(lines):
            kept = kept[:-1]  # the "\r" of a "\r\n" pair
        lines[i] = space.sub(" ", _LINE_BREAKS.sub("\n", kept))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Whitespace and length
# --------------------------------------------------------------------------------------------

# Three or more line breaks: a run of blank lines, merged into one paragraph break.
_MANY_NEWLINES = re.compile(r"\n{3,}")


def collapse_whitespace(text: str) -> str:
    r"""Collapse spaces within lines and blank lines between paragraphs.

    Each line is stripped and its runs of whitespace become one space. Runs of blank
    lines become a single blank line (``"\n\n"``, a paragraph break), and leading and
    trailing blank lines are removed. Single line breaks are kept.

    Parameters
    ----------
    text : str
        Any text; lines are separated by ``"\n"``.

    Returns
    -------
    str
        The tidied text.

    Examples
    --------
    >>> collapse_whitespace("  One   two \n\n\n\n three\nfour  \n\n")
    'One two\n\nthree\nfour'
    """
    if is_collapsed(text):
        # Cleaned text is usually collapsed already (clean_text collapses it, then the
        # vectorizer and drop_lines call this again); a few substring scans are ~10x cheaper
        # than splitting every line into words and joining them back.
        return text
    text = "\n".join([" ".join(line.split()) for line in text.split("\n")])
    return _MANY_NEWLINES.sub("\n\n", text).strip()


# Whitespace other than " " and "\n" (str.isspace() and re's \s agree on the set).
_OTHER_SPACE = re.compile(r"[^\S \n]")


def is_collapsed(text: str) -> bool:
    r"""Return whether :func:`collapse_whitespace` would return ``text`` unchanged.

    That is: no whitespace but ``" "`` and ``"\n"``, no ``"  "``, no space next to a line
    break, no three line breaks in a row, and no whitespace at either end.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    bool
        True if ``collapse_whitespace(text) == text``; a few substring scans, much
        cheaper than collapsing.

    Examples
    --------
    >>> is_collapsed("One two\n\nthree"), is_collapsed("One  two"), is_collapsed("x\n")
    (True, False, False)
    """
    if not text:
        return True
    if text[0].isspace() or text[-1].isspace():
        return False
    if "  " in text or " \n" in text or "\n " in text or "\n\n\n" in text:
        return False
    if text.isascii():
        # The other ASCII whitespace characters (\t \r \x0b \x0c \x1c-\x1f) are all
        # unprintable; isprintable() is a table lookup per character, faster than a regex.
        return text.replace("\n", " ").isprintable() or _OTHER_SPACE.search(text) is None
    return _OTHER_SPACE.search(text) is None


def normalize_line(line: str) -> str:
    r"""Return the comparison key of a line: casefolded, whitespace collapsed, stripped.

    Parameters
    ----------
    line : str
        One line of text.

    Returns
    -------
    str
        The key used by :func:`find_recurring_lines` and :func:`drop_lines`.

    Examples
    --------
    >>> normalize_line("  Follow   US on\tTwitter ")
    'follow us on twitter'
    """
    return " ".join(line.casefold().split())


_ZWJ = "\u200d"


def _is_extender(ch: str) -> bool:
    # Characters that attach to the previous one: combining marks (M*, including variation
    # selectors), joiners and emoji skin-tone modifiers (category Sk, U+1F3FB-U+1F3FF).
    return (
        unicodedata.category(ch)[0] == "M"
        or ch in "\u200c\u200d"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
        or "\U000e0020" <= ch <= "\U000e007f"
    )


def _is_regional_indicator(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def cluster_start(text: str, pos: int) -> int:
    r"""Return the largest cut position <= ``pos`` that does not split a character cluster.

    Parameters
    ----------
    text : str
        Any text.
    pos : int
        A cut position: ``text[:pos]`` is the part kept.

    Returns
    -------
    int
        ``pos``, or less when cutting there would leave a dangling combining mark or
        joiner, half of a surrogate pair or half of a flag.

    Examples
    --------
    >>> cluster_start("cafe\u0301s", 4)  # "e" + U+0301 cannot be split
    3
    >>> cluster_start("cafe\u0301s", 5)
    5
    """
    # Approximates the Unicode grapheme-cluster rules that matter for a cut: never cut
    # before a combining mark or after a joiner (back off to before the base character),
    # never between the two halves of a surrogate pair, never inside a flag (a pair of
    # regional indicators).
    while 0 < pos < len(text) and (
        _is_extender(text[pos])
        or text[pos - 1] == _ZWJ
        or ("\ud800" <= text[pos - 1] <= "\udbff" and "\udc00" <= text[pos] <= "\udfff")
    ):
        pos -= 1
    if 0 < pos < len(text) and _is_regional_indicator(text[pos]):
        run = 0
        while run < pos and _is_regional_indicator(text[pos - 1 - run]):
            run += 1
        if run % 2:
            pos -= 1
    return pos


def truncate(text: str, max_chars: int) -> str:
    r"""Cut ``text`` to at most ``max_chars`` characters without breaking a character.

    Text that fits is returned unchanged. Otherwise the cut prefers the last
    whitespace in the final 10 % of the window (so a word is not chopped in half when
    a boundary is close); failing that it is a hard cut. Either way the cut never
    leaves a dangling combining mark, half of a surrogate pair, half of a flag, or an
    unfinished emoji ZWJ sequence at the end: it backs off to before the cluster's
    base character. Trailing whitespace is removed.

    Parameters
    ----------
    text : str
        Any text.
    max_chars : int
        Maximum length of the result. It is not validated here (callers validate);
        ``max_chars <= 0`` gives ``""``.

    Returns
    -------
    str
        A prefix of ``text`` (without trailing whitespace when cut) of at most
        ``max_chars`` characters.

    Examples
    --------
    >>> truncate("The quick brown fox jumps", 21)  # the space at 19 is in the last 10 %
    'The quick brown fox'
    >>> truncate("The quick brown fox jumps", 14)  # no space in the last 10 %: hard cut
    'The quick brow'
    >>> truncate("cafe\u0301s", 4)  # "e" + U+0301 cannot be split
    'caf'
    >>> truncate("short", 100)
    'short'
    """
    if len(text) <= max_chars:
        return text
    if max_chars <= 0:
        return ""
    cut = max_chars
    if not text[cut].isspace():
        floor = max_chars - max(1, max_chars // 10)
        for i in range(max_chars - 1, floor - 1, -1):
            if text[i].isspace():
                cut = i
                break
    out = text[: cluster_start(text, cut)].rstrip()
    # Stripping can expose another unfinished cluster ("x\u200d y" cut at the space).
    while out and (safe := cluster_start(text, len(out))) != len(out):
        out = text[:safe].rstrip()
    return out
