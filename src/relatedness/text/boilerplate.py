r"""Text cleaning for article bodies and titles.

Every step is a small, pure ``str -> str`` function so that a notebook can show
what each one does; :func:`clean_text` composes them for an article body and
:func:`clean_title` for a headline:

1. :func:`strip_html` - a real HTML parser (stdlib :mod:`html.parser`) that drops
   script/style/nav/footer/... subtrees, turns block elements into line breaks
   and decodes entities. Plain text passes through untouched.
2. :func:`normalize_unicode` - NFKC, so that NFC and NFD spellings of a word
   (``"café"`` and ``"cafe\u0301"``) become the same vocabulary term.
3. :func:`drop_controls` - every Unicode space becomes ``" "``, every line
   separator ``"\n"``; zero-width, bidi, other format and control characters,
   U+FFFD, surrogates, noncharacters and private-use characters are removed.
4. :func:`remove_boilerplate` - line rules ("Related articles" blocks,
   syndication notes, share/subscribe lines, breadcrumbs) plus one structural
   rule for a scraped "Home <section> <headline>" page header.
5. :func:`collapse_whitespace` - one space between words, one blank line
   between paragraphs.
6. :func:`truncate` - cap the length without splitting a character cluster.

Corpus-level boilerplate (a footer that recurs in many articles) is found with
:func:`find_recurring_lines` and removed with :func:`drop_lines`;
:func:`make_snippet` builds the short teaser shown in the "Related articles" box.

This module imports nothing from the rest of the package and only the standard
library, so it can be used (and tested) on its own.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from html.entities import html5 as html5_entities
from html.parser import HTMLParser
from itertools import filterfalse
from numbers import Integral, Real
from typing import Literal

__all__ = [
    "DEFAULT_BOILERPLATE_RULES",
    "BoilerplateRule",
    "clean_text",
    "clean_title",
    "collapse_whitespace",
    "drop_controls",
    "drop_lines",
    "find_recurring_lines",
    "make_snippet",
    "normalize_line",
    "normalize_unicode",
    "remove_boilerplate",
    "strip_html",
    "truncate",
]

# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

# Elements whose whole subtree is page furniture or code, never article text.
_SKIP_SUBTREE = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "iframe", "nav", "footer", "aside",
        "form", "button", "select", "head", "title", "textarea", "object", "audio", "video",
        "canvas",
    }
)  # fmt: skip

# Elements rendered as separate blocks: they become paragraph breaks ("\n\n").
_PARAGRAPH_ELEMENTS = frozenset(
    {
        "address", "article", "blockquote", "body", "caption", "center", "details", "dialog",
        "dir", "div", "dl", "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hgroup", "hr", "html", "legend", "main", "menu", "ol", "p", "pre",
        "section", "summary", "table", "ul",
    }
)  # fmt: skip

# Elements that start a new line but not a new paragraph.
_LINE_ELEMENTS = frozenset({"br", "dd", "dt", "li", "tbody", "tfoot", "thead", "tr"})

# Table cells: a space keeps neighbouring cells from gluing into one word.
_CELL_ELEMENTS = frozenset({"td", "th"})

# Known element names. "<b" is markup, "List<String>" or "x<y" is not: requiring a real
# element name (or a custom element, which must contain "-") keeps plain text untouched.
_HTML_ELEMENTS = (
    _SKIP_SUBTREE
    | _PARAGRAPH_ELEMENTS
    | _LINE_ELEMENTS
    | _CELL_ELEMENTS
    | frozenset(
        {
            "a", "abbr", "acronym", "area", "b", "base", "bdi", "bdo", "big", "blink", "cite",
            "code", "col", "colgroup", "data", "datalist", "del", "dfn", "em", "embed", "font",
            "frame", "frameset", "i", "img", "input", "ins", "kbd", "label", "link", "map",
            "mark", "marquee", "math", "meta", "meter", "nobr", "noembed", "noframes",
            "optgroup", "option", "output", "param", "picture", "progress", "q", "rp", "rt",
            "ruby", "s", "samp", "search", "slot", "small", "source", "span", "strike",
            "strong", "sub", "sup", "time", "track", "tt", "u", "var", "wbr", "xmp",
        }
    )
)  # fmt: skip

# "<p", "</div", "<br/", "<b>": "<" + a name + whitespace, "/" or ">". Comments, doctypes
# and CDATA sections count too. A lone "<" or "a < b" never matches.
_TAG_HINT = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)(?=[\s/>])|<!--|<!doctype|<!\[CDATA\[", re.I)
# "&amp;", "&#8217;", "&#x2019;"; a named reference only counts when HTML5 knows the name,
# so "AT&T;" or "R&D;" stay plain text.
_ENTITY_HINT = re.compile(r"&(?:#[0-9]{1,7};|#[xX][0-9A-Fa-f]{1,6};|([A-Za-z][A-Za-z0-9]{1,31});)")
_BLOCK_TAG_HINT = re.compile(
    r"</?(?:" + "|".join(sorted(_PARAGRAPH_ELEMENTS | _LINE_ELEMENTS)) + r")(?=[\s/>])", re.I
)
# HTML whitespace (not NBSP, which is content and handled by drop_controls).
_HTML_SPACE_RUN = re.compile(r"[ \t\n\r\f]+")
_HTML_INLINE_SPACE_RUN = re.compile(r"[ \t\r\f]{2,}|[\t\r\f]")
_SPACES_AROUND_NEWLINE = re.compile(r"[ \t\r\f\v]*\n[ \t\r\f\v]*")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _has_tags(text: str) -> bool:
    for match in _TAG_HINT.finditer(text):
        name = match.group(2)
        if name is None:  # comment, doctype or CDATA
            return True
        name = name.lower()
        if name in _HTML_ELEMENTS or "-" in name:
            return True
    return False


def _has_entities(text: str) -> bool:
    for match in _ENTITY_HINT.finditer(text):
        name = match.group(1)
        if name is None or name + ";" in html5_entities:
            return True
    return False


def _looks_like_html(text: str) -> bool:
    # Cheap pre-check: without "<" or "&" nothing can be markup.
    return ("<" in text and _has_tags(text)) or ("&" in text and _has_entities(text))


def _cut_unterminated_comment(text: str) -> str:
    # A "<!--" without a closing "-->" comments out the rest of the document in a browser;
    # html.parser would instead hand it back as text ("<!-- ..."), so cut it here.
    pos = 0
    while True:
        start = text.find("<!--", pos)
        if start < 0:
            return text
        # Searching from start + 2 accepts the empty comments "<!-->" and "<!--->".
        end = text.find("-->", start + 2)
        if end < 0:
            return text[:start]
        pos = end + 3


class _TextExtractor(HTMLParser):
    """Collect the visible text of an HTML document or fragment."""

    def __init__(self, *, collapse_newlines: bool) -> None:
        super().__init__(convert_charrefs=True)
        # When the markup has block elements, newlines in the source are formatting, not
        # paragraph breaks (one paragraph is often wrapped over several source lines). A
        # fragment with only inline tags ("<b>x</b>\n\nnext") keeps its newlines instead.
        self._collapse_newlines = collapse_newlines
        self._parts: list[str] = []
        # Open elements of a dropped subtree, innermost last. Nested elements with the
        # same name are pushed too, so "<nav><nav></nav>x</nav>" drops "x" as well.
        self._skipping: list[str] = []
        self._pre_depth = 0
        # Line breaks owed before the next text: adjacent block boundaries ("</li><li>",
        # "</p></div><p>") merge into the strongest one instead of adding up.
        self._pending_breaks = 0

    def text(self) -> str:
        out = "".join(self._parts)
        out = _SPACES_AROUND_NEWLINE.sub("\n", out)
        return _MANY_NEWLINES.sub("\n\n", out).strip()

    def _break(self, tag: str) -> None:
        if tag in _PARAGRAPH_ELEMENTS:
            self._pending_breaks = 2
        elif tag == "br":
            # "<br><br>" is how many CMSs separate paragraphs: breaks add up (to a blank line).
            self._pending_breaks = min(2, self._pending_breaks + 1)
        elif tag in _LINE_ELEMENTS:
            self._pending_breaks = max(self._pending_breaks, 1)
        elif tag in _CELL_ELEMENTS:
            self._parts.append(" ")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and "head" in self._skipping:
            # "<head>" is often left unclosed; a browser closes it when the body starts.
            del self._skipping[self._skipping.index("head") :]
        if self._skipping:
            if tag in _SKIP_SUBTREE or tag in self._skipping:
                self._skipping.append(tag)
            return
        if tag in _SKIP_SUBTREE:
            self._skipping.append(tag)
            return
        if tag == "pre":
            self._pre_depth += 1
        self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # "<br/>", "<p/>": a break; "<iframe/>", "<svg/>": an empty dropped subtree.
        if not self._skipping and tag not in _SKIP_SUBTREE:
            self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._skipping:
            # Close the innermost open element with this name and anything left open in it.
            idx = len(self._skipping) - 1 - self._skipping[::-1].index(tag)
            del self._skipping[idx:]
            return
        if self._skipping:
            return
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        # A stray end tag ("</x>") is simply ignored; "</p>" ends a paragraph.
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if self._skipping or not data:
            return
        if not self._pre_depth and self._collapse_newlines:
            if "\n" in data:
                data = _HTML_SPACE_RUN.sub(_html_space, data)
            else:
                data = _HTML_INLINE_SPACE_RUN.sub(" ", data)
        if self._pending_breaks:
            if data.isspace() and not self._pre_depth:
                return  # source formatting between two blocks
            if self._parts:  # no breaks before the first text
                self._parts.append("\n" * self._pending_breaks)
            self._pending_breaks = 0
        self._parts.append(data)


def _html_space(match: re.Match[str]) -> str:
    # A blank line inside a text node still reads as a paragraph break; any other run of
    # HTML whitespace is one space, as a browser renders it.
    return "\n\n" if match.group().count("\n") >= 2 else " "


_FALLBACK_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)
_FALLBACK_TAG = re.compile(r"<[^<>]*>")


def strip_html(text: str) -> str:
    r"""Return the visible text of an HTML document or fragment.

    The text is parsed with the standard library's :class:`html.parser.HTMLParser`
    (a tolerant tokenizer, not a regular expression) only when it looks like HTML:
    it contains a known tag (``<p``, ``</div``, ``<br/``), a comment (``<!--``) or a
    character reference (``&amp;``, ``&#8217;``, ``&nbsp;``). Anything else, including
    plain text with a lone ``"<"`` or ``"a < b"``, is returned unchanged.

    When parsing:

    - The whole subtree of ``script``, ``style``, ``noscript``, ``template``, ``svg``,
      ``iframe``, ``nav``, ``footer``, ``aside``, ``form``, ``button``, ``select``,
      ``head``, ``title``, ``textarea``, ``object``, ``audio``, ``video`` and ``canvas`` is
      dropped, as are comments, doctypes and processing instructions.
    - Block elements (``p``, ``div``, ``h1``-``h6``, ``section``, ``article``,
      ``blockquote``, ``ul``/``ol``, ``table``, ``figure``, ...) become paragraph breaks
      (``"\n\n"``); ``br``, ``li``, ``tr``, ``dt`` and ``dd`` become line breaks, so
      the line-based boilerplate rules still see lines.
    - If the markup has block elements, other source whitespace is collapsed as a
      browser would (one space); ``pre`` content keeps its line breaks.
    - Character references are decoded once (``&amp;lt;`` becomes ``&lt;``; see
      :func:`clean_text`, which repeats the cleaning while markup remains).

    Malformed markup never raises: unclosed elements run to the end of the document,
    stray end tags are ignored, an unterminated comment comments out the rest, and if
    the parser fails anyway a crude tag-stripping fallback is used.

    Parameters
    ----------
    text : str
        Raw text, HTML or not.

    Returns
    -------
    str
        The text content, with paragraphs separated by ``"\n\n"`` and no leading
        or trailing whitespace (when parsed), or ``text`` itself (when not HTML).

    See Also
    --------
    clean_text : The whole cleaning pipeline.

    Examples
    --------
    >>> strip_html("<p>Tom &amp; Jerry</p><script>var tracking=1;</script>")
    'Tom & Jerry'
    >>> strip_html("<nav>Home</nav><h1>Title</h1><p>First.<br>Second.</p>")
    'Title\n\nFirst.\nSecond.'
    >>> strip_html("if a < b and c > d")
    'if a < b and c > d'
    """
    has_tags = "<" in text and _has_tags(text)
    if not has_tags:
        # Entities without tags: decode them but keep the text's own line structure.
        if "&" in text and _has_entities(text):
            return html.unescape(text)
        return text
    source = _cut_unterminated_comment(text)
    parser = _TextExtractor(collapse_newlines=_BLOCK_TAG_HINT.search(source) is not None)
    try:
        parser.feed(source)
        parser.close()
    except Exception:
        # html.parser has raised on odd input in some Python versions (AssertionError on
        # "<![if"); never let that escape, fall back to removing anything tag-shaped.
        fallback = _FALLBACK_TAG.sub(" ", _FALLBACK_DROP.sub(" ", source))
        return html.unescape(fallback).strip()
    return parser.text()


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
        if cat == "Zs":
            spaces.add(ord(ch))
        elif cat in ("Cc", "Cf", "Cs", "Co") and ch not in _KEEP_CONTROLS:
            drop.add(ord(ch))
    ranges = [(0xFDD0, 0xFDEF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD)]
    ranges += [(plane << 16 | 0xFFFE, plane << 16 | 0xFFFF) for plane in range(17)]
    _CONTROL_PATTERNS["drop"] = re.compile(f"[{_char_class(drop, ranges)}]+")
    _CONTROL_PATTERNS["space"] = re.compile(f"[{_char_class(spaces)}]")
    return _CONTROL_PATTERNS["drop"], _CONTROL_PATTERNS["space"]


def drop_controls(text: str) -> str:
    r"""Remove invisible characters and unify spaces and line breaks.

    - Every space separator (category Zs: NBSP U+00A0, U+2009, U+3000, ...) and
      ``"\t"`` becomes ``" "``.
    - ``"\r\n"``, ``"\r"``, U+2028, U+2029, U+0085, ``"\x0b"`` and ``"\x0c"`` become
      ``"\n"``.
    - Every other control character (Cc), every format character (Cf: zero-width
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
    if _is_collapsed(text):
        # Cleaned text is usually collapsed already (clean_text collapses it, then the
        # vectorizer and drop_lines call this again); a few substring scans are ~10x cheaper
        # than splitting every line into words and joining them back.
        return text
    text = "\n".join([" ".join(line.split()) for line in text.split("\n")])
    return _MANY_NEWLINES.sub("\n\n", text).strip()


# Whitespace other than " " and "\n" (str.isspace() and re's \s agree on the set).
_OTHER_SPACE = re.compile(r"[^\S \n]")


def _is_collapsed(text: str) -> bool:
    """Return whether :func:`collapse_whitespace` would return ``text`` unchanged.

    That is: no whitespace but ``" "`` and ``"\n"``, no ``"  "``, no space next to a line
    break, no three line breaks in a row, and no whitespace at either end.
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


def _cluster_start(text: str, pos: int) -> int:
    """Return the largest cut position <= ``pos`` that does not split a character cluster."""
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
    out = text[: _cluster_start(text, cut)].rstrip()
    # Stripping can expose another unfinished cluster ("x\u200d y" cut at the space).
    while out and (safe := _cluster_start(text, len(out))) != len(out):
        out = text[:safe].rstrip()
    return out


# --------------------------------------------------------------------------------------------
# Boilerplate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoilerplateRule:
    r"""A line rule for :func:`remove_boilerplate`.

    The pattern is matched with :meth:`re.Pattern.search` against one line at a
    time, after the line has been stripped and its whitespace runs collapsed to
    single spaces. Anchor it (``^...$``) to match whole lines only.

    Parameters
    ----------
    name : str
        A short identifier, used in reports and tests.
    pattern : re.Pattern[str]
        A compiled pattern, usually case-insensitive.
    action : {"drop_line", "cut_rest"}, default="drop_line"
        ``"drop_line"`` removes the matching line; ``"cut_rest"`` removes it and
        everything after it (a "Related articles" block at the end of a page).
    max_line_chars : int or None, default=None
        Lines longer than this (after whitespace collapsing) are not tested at all.
        A pre-filter for speed: most article lines are long paragraphs that a
        boilerplate pattern could never match. It should agree with the pattern.

    Raises
    ------
    TypeError
        If ``pattern`` is not a compiled ``str`` pattern.
    ValueError
        If ``action`` is not one of the two actions or ``max_line_chars`` is not
        ``None`` or a positive int.

    Examples
    --------
    >>> rule = BoilerplateRule("byline", re.compile(r"^by [\w .]{1,40}$", re.I))
    >>> remove_boilerplate("By Jane Doe\nThe story.", rules=[rule])
    'The story.'
    """

    name: str
    pattern: re.Pattern[str]
    action: Literal["drop_line", "cut_rest"] = "drop_line"
    max_line_chars: int | None = None

    def __post_init__(self) -> None:
        """Validate the fields (a frozen dataclass cannot be fixed up later)."""
        if not isinstance(self.pattern, re.Pattern) or not isinstance(self.pattern.pattern, str):
            msg = (
                f"BoilerplateRule {self.name!r}: pattern must be a compiled str pattern, "
                f"got {type(self.pattern).__name__}; use re.compile(...)."
            )
            raise TypeError(msg)
        if self.action not in ("drop_line", "cut_rest"):
            msg = (
                f"BoilerplateRule {self.name!r}: action must be 'drop_line' or 'cut_rest', "
                f"got {self.action!r}."
            )
            raise ValueError(msg)
        if self.max_line_chars is not None and (
            isinstance(self.max_line_chars, bool)
            or not isinstance(self.max_line_chars, int)
            or self.max_line_chars < 1
        ):
            msg = (
                f"BoilerplateRule {self.name!r}: max_line_chars must be None or an int >= 1, "
                f"got {self.max_line_chars!r}."
            )
            raise ValueError(msg)

    def matches(self, line: str) -> bool:
        """Return whether this rule matches ``line`` (already stripped and collapsed).

        Parameters
        ----------
        line : str
            One line, stripped, with whitespace runs collapsed to single spaces.

        Returns
        -------
        bool
            True if the line is within ``max_line_chars`` and the pattern matches.

        Examples
        --------
        >>> rule = BoilerplateRule("ad", re.compile(r"^advertisement$", re.I), max_line_chars=20)
        >>> rule.matches("ADVERTISEMENT"), rule.matches("Advertisement revenue fell.")
        (True, False)
        """
        if self.max_line_chars is not None and len(line) > self.max_line_chars:
            return False
        return self.pattern.search(line) is not None


def _rule(
    name: str, pattern: str, action: Literal["drop_line", "cut_rest"], max_line_chars: int
) -> BoilerplateRule:
    return BoilerplateRule(name, re.compile(pattern, re.IGNORECASE), action, max_line_chars)


# A heading that introduces a block of links to other stories. Whole short lines only, so
# "Police said related articles were removed." is kept.
_RELATED_BLOCK = (
    r"^(?:related(?:\s+(?:articles?|stories|story|coverage|content|news|posts?|reading|links"
    r"|topics|videos?))?"
    r"|more\s+on\s+this\s+(?:story|topic)"
    r"|read\s+(?:more|next|also)"
    r"|also\s+read"
    r"|see\s+also"
    r"|you\s+(?:may|might)\s+also\s+(?:like|enjoy|be\s+interested\s+in)"
    r"|recommended(?:\s+(?:for\s+you|stories|articles|reading))?"
    r"|more\s+(?:stories|articles)"
    r"|more\s+from\s+[^.!?:]{1,40}?"
    r")\s*[:\u00bb\u203a>\u2192]?$"
)
# Inline promos for other stories ("Read more: <headline>").
_PROMO = r"^(?=.{1,200}$)(?:read\s+(?:more|also|next)|also\s+read|related|see\s+also)\s*:\s*\S.*$"
# Syndication notes. They start the line; a sentence that only mentions publication
# ("The novel, first published in 1851, ...") does not.
_SYNDICATION = (
    r"^(?=.{1,200}$)(?:"
    r"(?:a\s+version\s+of\s+)?this\s+(?:article|story|post|piece|report|content|interview"
    r"|column)\s+(?:(?:is|was|has\s+been|had\s+been)\s+)?(?:(?:originally|first)\s+)?"
    r"(?:published|posted|appeared|republished|reprinted)\b"
    r"|(?:originally|first)\s+(?:published|posted|appeared)\s+(?:on|at|in|by)\b"
    r"|(?:republished|reprinted)\s+(?:with|by|from|under)\b"
    r").*$"
)
# Share/subscribe/follow/newsletter/cookie/advert/caption lines.
_SHARE = (
    r"^(?:"
    # Captions and cookie notices can be a little longer than a button label.
    r"(?=.{1,200}$)(?:image|photo|picture|video)\s+(?:caption|source|copyright|credit)s?\b.*"
    r"|(?=.{1,200}$)(?:we|this\s+(?:site|website))\s+uses?\s+cookies\b.*"
    r"|(?=.{1,120}$)(?:"
    r"share(?:\s+(?:this|the))?(?:\s+(?:article|story|post|page|video))?"
    r"(?:\s+(?:on|via|with)\s+[\w .+&-]{1,40})?"
    r"|(?:click\s+here\s+to\s+)?subscribe\b.*"
    r"|sign\s+up\b.*\bnewsletters?\b.*"
    r"|(?:get|join)\s+(?:our|the)\b.*\bnewsletters?\b.*"
    r"|follow\s+us\b.*"
    r"|advertisement|advertising|sponsored(?:\s+content)?"
    r"|(?:story\s+)?continues\s+below(?:\s+(?:this\s+)?advertisement)?"
    r"|skip\s+to\s+(?:main\s+)?content"
    r"|(?:accept|manage|reject)(?:\s+all)?\s+cookies|cookie\s+(?:policy|settings|preferences)"
    r"|(?:photo(?:graph)?|image|picture|credit)s?\s*:.*"
    r"|[^.!?]*\bgetty\s+images\b[^.!?]*"
    r"))\s*:?$"
)
# "Home > Politics > Europe", "News » World", "Home | Business": 2 to 8 crumbs of 1 to 4
# words joined by a separator, no sentence-final punctuation. ASCII separators (> / |) need
# spaces around them so "24/7" or "and/or" are not separators.
# Separators: > / | and the typographic U+203A, U+00BB, U+2022 and U+00B7.
_CRUMB_WORD = r"[^\s>\u203a\u00bb/|\u2022\u00b7]+"
_CRUMB = rf"{_CRUMB_WORD}(?:\s{_CRUMB_WORD}){{0,3}}"
_CRUMB_SEP = r"(?:\s*[\u203a\u00bb\u2022\u00b7]\s*|\s+[>/|]\s+)"
_BREADCRUMB = (
    rf"^(?=.{{1,120}}$)(?!.*[.!?]$){_CRUMB}(?:{_CRUMB_SEP}{_CRUMB}){{1,7}}"
    r"(?:\s*[>\u203a\u00bb/|\u2022\u00b7])?$"  # a trailing separator is allowed
)

DEFAULT_BOILERPLATE_RULES: tuple[BoilerplateRule, ...] = (
    _rule("related_block", _RELATED_BLOCK, "cut_rest", 80),
    _rule("promo", _PROMO, "drop_line", 200),
    _rule("syndication", _SYNDICATION, "drop_line", 200),
    _rule("share", _SHARE, "drop_line", 200),
    _rule("breadcrumb", _BREADCRUMB, "drop_line", 120),
)
"""The default line rules of :func:`remove_boilerplate`, in the order they are tried.

``related_block`` (cut_rest) matches a line that is only a heading such as
"Related Articles", "More on this story", "Read more", "You may also like",
"Recommended for you", "More from <short name>", "Also read" or "See also".
``promo`` drops "Read more: <headline>" lines. ``syndication`` drops "This article
is originally published on ...", "Originally published on ...", "This story was first
published by ...", "This article first appeared on ...", "Republished with permission
from ...". ``share`` drops share/subscribe/follow/newsletter/cookie/advertisement/
"Skip to content"/image-caption/"Getty Images" lines. ``breadcrumb`` drops
"Home > Politics > Europe" style lines. All of them match short whole lines only.
"""


def _coerce_rules(
    extra_patterns: Sequence[str | re.Pattern[str] | BoilerplateRule],
) -> tuple[BoilerplateRule, ...]:
    if isinstance(extra_patterns, (str, re.Pattern, BoilerplateRule)):
        # A single pattern where a sequence is expected would be iterated character by
        # character; accept it as a one-element sequence instead.
        extra_patterns = (extra_patterns,)
    rules: list[BoilerplateRule] = []
    for i, item in enumerate(extra_patterns):
        if isinstance(item, BoilerplateRule):
            rules.append(item)
        elif isinstance(item, re.Pattern):
            rules.append(BoilerplateRule(f"extra_{i}", item, "drop_line"))
        elif isinstance(item, str):
            rules.append(BoilerplateRule(f"extra_{i}", re.compile(item, re.IGNORECASE)))
        else:
            msg = (
                f"extra_patterns[{i}] must be a str, a compiled pattern or a BoilerplateRule, "
                f"got {type(item).__name__}."
            )
            raise TypeError(msg)
    return tuple(rules)


_SENTENCE_END = (".", "!", "?", "…")
_HOME_START = re.compile(r"\s*home\s+\S", re.IGNORECASE)
_HEADER_WINDOW = 10
_MAX_BREADCRUMB_MIDDLE_WORDS = 8
_MIN_HEADLINE_WORDS = 2
_MAX_SECTION_LINE_WORDS = 6


def _is_blank(line: str) -> bool:
    return not line or line.isspace()


def _drop_page_header(lines: list[str]) -> list[str]:
    """Drop a scraped "Home <section> <headline>" first line and its section-name lines."""
    dropped: set[int] = set()
    pos = 0
    # Repeat until the rule no longer fires, so that the result is stable under a second
    # pass (clean_text must be idempotent). Each round drops the current first line and
    # looks at a bounded window, so the whole loop is linear in the number of lines.
    while True:
        first = next(
            (i for i in range(pos, len(lines)) if not _is_blank(lines[i]) and i not in dropped),
            -1,
        )
        if first < 0 or not _HOME_START.match(lines[first]):
            break
        words = normalize_line(lines[first]).split(" ")
        # A headline is not a sentence: "Home Secretary X said the plan would go ahead."
        # followed later by "The plan would go ahead." is prose, not a breadcrumb.
        if words[-1].endswith("."):
            break
        # The headline and the section name sit right below the breadcrumb: only the next
        # few non-blank lines are candidates.
        window: list[tuple[int, str]] = []
        for i in range(first + 1, len(lines)):
            if len(window) == _HEADER_WINDOW:
                break
            if not _is_blank(lines[i]) and i not in dropped:
                window.append((i, normalize_line(lines[i])))
        # Candidate tails have at least 2 words (a one-word line that happens to equal the
        # last word of a sentence is a coincidence) and follow a middle part of at most 8
        # words (a section path such as "Politics Monitor" or "News World Europe").
        last_start = min(len(words) - _MIN_HEADLINE_WORDS, _MAX_BREADCRUMB_MIDDLE_WORDS + 1)
        tails = {" ".join(words[start:]): start for start in range(1, last_start + 1)}
        headline = next((k for k, (_, norm) in enumerate(window) if norm in tails), -1)
        if headline < 0:
            break
        dropped.add(first)
        padded_middle = f" {' '.join(words[1 : tails[window[headline][1]]])} "
        for i, norm in window[:headline]:
            if (
                len(norm.split(" ")) <= _MAX_SECTION_LINE_WORDS
                and not norm.endswith(_SENTENCE_END)
                and f" {norm} " in padded_middle
            ):
                dropped.add(i)
        pos = first + 1
    if not dropped:
        return lines
    return [line for i, line in enumerate(lines) if i not in dropped]


def remove_boilerplate(
    text: str,
    rules: Sequence[BoilerplateRule] = DEFAULT_BOILERPLATE_RULES,
    extra_patterns: Sequence[str | re.Pattern[str] | BoilerplateRule] = (),
) -> str:
    r"""Remove boilerplate lines from an article body.

    Each line (stripped, whitespace collapsed) is tested against ``rules`` and then
    ``extra_patterns`` in order; the first rule that matches decides: ``"drop_line"``
    removes the line, ``"cut_rest"`` removes it and everything after it.

    Then one structural rule removes the header of a scraped page: when the first
    non-blank line starts with ``"Home "`` and ends with the text of one of the next 10
    non-blank lines (the headline: at least 2 words, not ending with ``"."``, after a
    middle part of at most 8 words), that first line is a breadcrumb ("Home Politics
    Monitor <headline>"). It is dropped together with the short lines before the
    headline (at most 6 words, no sentence-final punctuation) whose text appears in the
    breadcrumb's middle part (the section name, "Politics Monitor"). The headline line
    itself is kept. A normal first sentence such as "Home Secretary Priti Patel said on
    Monday ..." does not end with another line of the document and is kept.
    Comparisons are case-insensitive. The rule is repeated while it applies, so the
    result is stable.

    Kept lines are returned verbatim; blank-line runs left behind are for
    :func:`collapse_whitespace`.

    Parameters
    ----------
    text : str
        Article body with lines separated by ``"\n"``.
    rules : sequence of BoilerplateRule, default=DEFAULT_BOILERPLATE_RULES
        Line rules to apply.
    extra_patterns : sequence of str, re.Pattern or BoilerplateRule, default=()
        Additional rules, tried after ``rules``. A string is compiled
        case-insensitively and, like a compiled pattern, becomes a ``"drop_line"``
        rule; anchor it (``^...$``) to match whole lines.

    Returns
    -------
    str
        The text without boilerplate lines.

    Raises
    ------
    TypeError
        If an item of ``extra_patterns`` has an unsupported type.
    re.error
        If a string in ``extra_patterns`` is not a valid regular expression.

    See Also
    --------
    DEFAULT_BOILERPLATE_RULES : The default line rules.
    find_recurring_lines : Corpus-level boilerplate (lines shared by many articles).

    Examples
    --------
    >>> body = "The minister spoke.\nShare this article\nShe left.\nRelated Articles\nOther"
    >>> remove_boilerplate(body)
    'The minister spoke.\nShe left.'
    >>> remove_boilerplate("Body.\nDownload our app", extra_patterns=[r"^download our app$"])
    'Body.'
    """
    return _remove_boilerplate(text, (*rules, *_coerce_rules(extra_patterns)), collapsed=False)


def _remove_boilerplate(text: str, all_rules: Sequence[BoilerplateRule], *, collapsed: bool) -> str:
    """The body of :func:`remove_boilerplate`; ``collapsed``: every line is already collapsed.

    A collapsed line (see :func:`collapse_whitespace`) is its own rule key, so the
    per-line split and join can be skipped.
    """
    # Unpacked once: this loop runs for every line of every article.
    checks = [(r.max_line_chars or len(text), r.pattern.search, r.action) for r in all_rules]
    # A line longer than every rule's limit cannot match: keep it without trying the rules
    # (most lines of an article are paragraphs far longer than a boilerplate line).
    longest = max((limit for limit, _, _ in checks), default=-1)
    kept: list[str] = []
    for line in text.split("\n"):
        key = line if collapsed else " ".join(line.split())
        n = len(key)
        if n > longest:
            kept.append(line)
            continue
        action: str | None = None
        if key:
            action = next((a for limit, search, a in checks if n <= limit and search(key)), None)
        if action == "cut_rest":
            break
        if action is None:
            kept.append(line)
    return "\n".join(_drop_page_header(kept))


# --------------------------------------------------------------------------------------------
# Composed pipelines
# --------------------------------------------------------------------------------------------

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
        if out == previous or not _looks_like_html(out):
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
    extra = _coerce_rules(extra_patterns) if boilerplate else ()
    out = collapse_whitespace(_plain_text(text))
    if boilerplate:
        # The line rules cost a few microseconds per line; on a hostile 50 MB input with
        # millions of short lines that adds up to minutes. Collapsing first (the rules
        # ignore whitespace differences) and keeping a generous multiple of max_chars
        # bounds the work; the text dropped here could only reach the output if three
        # quarters of the text before it were boilerplate.
        out = truncate(out, _BOILERPLATE_WINDOW_FACTOR * max_chars)
        out = _remove_boilerplate(out, (*DEFAULT_BOILERPLATE_RULES, *extra), collapsed=True)
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
    hard = flat[: _cluster_start(flat, max_chars)] or flat[:max_chars]
    head = flat[:space] if space > 0 else hard
    head = head.rstrip(_SNIPPET_TRAILING) or head
    return head + _ELLIPSIS


# --------------------------------------------------------------------------------------------
# Corpus-level boilerplate
# --------------------------------------------------------------------------------------------


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
        if collapsed or _is_collapsed(text):
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
    if _is_collapsed(text):
        # As in find_recurring_lines: a collapsed line's key is its casefold.
        pairs = zip(text.split("\n"), text.casefold().split("\n"), strict=True)
        kept = [line for line, norm in pairs if norm not in lines]
    else:
        kept = [line for line in text.split("\n") if normalize_line(line) not in lines]
    return collapse_whitespace("\n".join(kept))
