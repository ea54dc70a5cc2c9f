"""HTML to text: the visible text of a page or fragment.

:func:`strip_html` parses with the standard library's :mod:`html.parser`;
:func:`looks_like_html` is the cheap check of whether it would treat a text as HTML
at all. This module imports nothing of the package.
"""

from __future__ import annotations

import html
import re
from html.entities import html5 as html5_entities
from html.parser import HTMLParser

__all__ = ["looks_like_html", "strip_html"]

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


def looks_like_html(text: str) -> bool:
    """Return whether :func:`strip_html` treats ``text`` as HTML (rather than returning it).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    bool
        True if ``text`` has a known tag (``<p``, ``</div``, ``<br/``), a custom element,
        a comment, a doctype, a CDATA section or a character reference HTML5 knows.

    Examples
    --------
    >>> looks_like_html("Tom &amp; Jerry"), looks_like_html("if a < b, AT&T; wins")
    (True, False)
    """
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
