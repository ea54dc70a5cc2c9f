"""Tests for relatedness.text: HTML stripping, Unicode cleanup, boilerplate, snippets.

Oracles are exact expected strings on small inline fixtures; invariants are checked with
hypothesis (totality, idempotence, no control characters, no markup left). The acceptance
test on the scraped seed page reads ../shared/data and skips when it is absent.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import string
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relatedness.text as text_package
from relatedness.text import (
    DEFAULT_BOILERPLATE_RULES,
    BoilerplateRule,
    clean_text,
    clean_title,
    collapse_whitespace,
    drop_controls,
    drop_lines,
    find_recurring_lines,
    make_snippet,
    normalize_line,
    normalize_unicode,
    remove_boilerplate,
    strip_html,
    truncate,
)
from relatedness.text import clean as clean_module
from relatedness.text import html as html_module
from relatedness.text import unicode as unicode_module

SEED_PAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "seed-page.txt"

PROPERTY = settings(max_examples=100, deadline=None)


# ------------------------------------------------------------------------------- strip_html


def test_strip_html_drops_script_and_style_and_decodes_entities():
    """Probe finding 5: sklearn's strip_tags keeps script/style text and "&amp;"."""
    raw = "<p>Tom &amp; Jerry</p><script>var tracking=1;</script><style>.ad{}</style>"
    assert strip_html(raw) == "Tom & Jerry"


@pytest.mark.parametrize(
    "tag",
    [
        "script", "style", "noscript", "template", "svg", "iframe", "nav", "footer", "aside",
        "form", "button", "select", "head",
    ],
)  # fmt: skip
def test_strip_html_drops_whole_subtree(tag):
    """Page furniture disappears with everything inside it, nested markup included."""
    inside = "<div>SECRET <b>words</b></div>"
    raw = f"<p>Keep this.</p><{tag} class='x'>{inside}</{tag}><p>And this.</p>"
    assert strip_html(raw) == "Keep this.\n\nAnd this."


def test_strip_html_drops_comments_and_nested_same_name_subtrees():
    """A nested <nav> inside <nav> must not end the dropped subtree early."""
    raw = "<!-- tracking --><nav><nav>menu</nav>SECRET</nav><p>Body<!-- x --> text</p>"
    assert strip_html(raw) == "Body text"


def test_strip_html_block_elements_become_lines():
    """Paragraphs become blank-line separated, <br> and <li> single lines."""
    raw = (
        "<h1>Title</h1><p>One</p><div>Two<br>Three</div>"
        "<ul>\n  <li>a</li>\n  <li>b</li>\n</ul><p>x<br><br>y</p>"
    )
    assert strip_html(raw) == "Title\n\nOne\n\nTwo\nThree\n\na\nb\n\nx\n\ny"


def test_strip_html_source_newlines_are_formatting_but_pre_lines_are_kept():
    """With block markup, a paragraph wrapped over source lines is still one line."""
    raw = "<p>one\n   two</p>\n<p>three</p><pre>a\n  b\nc</pre>"
    assert strip_html(raw) == "one two\n\nthree\n\na\nb\nc"


def test_strip_html_inline_only_fragment_keeps_its_newlines():
    """A CMS fragment with only inline tags uses newlines for paragraphs: keep them."""
    assert strip_html("<b>Bold</b> start.\n\nNext <i>para</i>.") == "Bold start.\n\nNext para."


def test_strip_html_entities_decode_and_nbsp_becomes_space_after_drop_controls():
    """&#8217; is a real apostrophe; &nbsp; is NBSP, which drop_controls turns into a space."""
    stripped = strip_html("<p>It&#8217;s&nbsp;here &amp; now</p>")
    assert stripped == "It\u2019s\u00a0here & now"
    assert drop_controls(stripped) == "It\u2019s here & now"
    assert clean_text("It&#8217;s&nbsp;here") == "It\u2019s here"


def test_strip_html_unclosed_head_ends_at_body():
    """Browsers close an unclosed <head> when <body> starts; so do we."""
    assert strip_html("<html><head><title>T</title><body><p>Body</p>") == "Body"


@pytest.mark.parametrize(
    "plain",
    [
        "a < b and c > d",
        "x<y and y>z",
        "List<String> of items",
        "5 < 6",
        "<",
        "AT&T; R&D; Q&A",
        "Tom & Jerry",
        "Write to <joe at example dot com>",
        "heart <3 emoji",
    ],
)
def test_strip_html_leaves_plain_text_unchanged(plain):
    """Only text that looks like HTML is parsed; a lone "<" or "&" is content."""
    assert strip_html(plain) == plain


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<<<", "<<<"),
        ("<p", "<p"),
        ("<div><p>unclosed", "unclosed"),
        ("stray </x> end <p>", "stray end"),
        ("<p>kept</p><!-- never closed <p>hidden</p>", "kept"),
        ("<p>kept</p><script>never closed", "kept"),
        ("</p></p></div>", ""),
        ("<p>x</p><nav>unclosed nav<p>y", "x"),
        ("<p>a</p><![CDATA[x", "a\n\n<![CDATA[x"),
        ("<p>&#0;&#55296;&#x110000;ok</p>", "\ufffd\ufffd\ufffdok"),
        ("<a href='x>text", "<a href='x>text"),
    ],
)
def test_strip_html_malformed_never_raises(raw, expected):
    """Unclosed tags run to the end, stray end tags vanish, an open comment hides the rest."""
    assert collapse_whitespace(strip_html(raw)) == expected


def test_strip_html_falls_back_when_the_parser_raises(monkeypatch):
    """html.parser has raised on odd input in some Pythons: a crude fallback still works."""

    def boom(self, data):
        msg = "unknown status keyword"
        raise AssertionError(msg)

    monkeypatch.setattr(html_module._TextExtractor, "feed", boom)
    raw = "<p>Tom &amp; Jerry</p><script>track()</script>"
    assert strip_html(raw) == "Tom & Jerry"


def test_clean_text_strips_markup_revealed_by_decoding():
    """Double-escaped HTML, full-width brackets and ZWSP-split tags are markup too.

    A second clean_text would strip them, so idempotence requires stripping them now.
    """
    revealed = [
        "&amp;lt;p&amp;gt;Hello&amp;lt;/p&amp;gt;",  # escaped twice
        "\uff1c\uff50\uff1eHello",  # full-width "<p>", NFKC makes it a tag
        "<\u200bp>Hello",  # a tag split by a zero-width space
    ]
    for raw in revealed:
        out = clean_text(raw)
        assert out == "Hello"
        assert clean_text(out) == out


# ------------------------------------------------------------------------ Unicode, controls


@pytest.mark.parametrize("blank", [" ", "\n\t", "\u00a0", "\u3000", "\u200b", "\ufeff"])
def test_whitespace_only_inputs_clean_to_empty(blank):
    """BAD_INPUTS row 2: every flavour of invisible text is empty after cleaning."""
    assert clean_text(blank) == ""
    assert clean_text(blank * 3 + "\n" + blank) == ""
    assert clean_title(blank) == ""


@pytest.mark.parametrize(
    "bidi", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
             "\u2069", "\u200e", "\u200f"]
)  # fmt: skip
def test_bidi_controls_are_removed_from_titles(bidi):
    """BAD_INPUTS row 9: U+202E can visually reverse a title on the page."""
    assert clean_title(f"Breaking{bidi}: {bidi}news") == "Breaking: news"
    assert clean_text(f"Body {bidi}text") == "Body text"


def test_nfc_and_nfd_clean_to_the_same_string():
    """Probe finding 4: NFD "cafe\\u0301" tokenizes as "cafe" unless normalized."""
    assert unicodedata.normalize("NFD", "café") != "café"
    assert clean_text("cafe\u0301 au lait") == clean_text("caf\u00e9 au lait") == "café au lait"
    assert normalize_unicode("cafe\u0301") == "café"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ca\u200bfe", "cafe"),  # ZWSP would split the token in two
        ("ca\u200dfe", "cafe"),  # ZWJ
        ("co\u00adoperate", "cooperate"),  # soft hyphen
        ("\ufeffHello", "Hello"),  # BOM
        ("e\u200b\u0301t\u00e9", "\u00e9t\u00e9"),  # dropping ZWSP lets NFKC compose e + U+0301
        ("pri\ue60dvate", "private"),  # private-use icon glyph
    ],
)
def test_invisible_characters_inside_words_are_removed(raw, expected):
    """Format and private-use characters vanish without splitting the word."""
    assert clean_text(raw) == expected


@pytest.mark.parametrize("sep", ["\r\n", "\r", "\u2028", "\u2029", "\x0b", "\x0c", "\x85"])
def test_drop_controls_maps_line_separators_to_newline(sep):
    """Every line separator becomes exactly one "\\n"."""
    assert drop_controls(f"a{sep}b") == "a\nb"


def test_drop_controls_maps_spaces_and_controls_to_a_space_and_drops_u_fffd():
    """Zs, tab, NUL, ESC, DEL and C1 controls become " " (issue 17: "economy\\x00market" is
    two words); U+FFFD and format characters disappear."""
    raw = "a\tb\u2009c\u3000d\x00e\x1bf\x7fg\x9fh\ufffdi\r\u200b\nj"
    assert drop_controls(raw) == "a b c d e f g hi\nj"


# -------------------------------------------------------------------------------- truncate

_CLUSTERED = [
    "abc e\u0301\u0302\u0303 xyz" * 3,  # stacked combining marks
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 family \U0001f468\u200d\U0001f4bb" * 3,
    "\U0001f1eb\U0001f1f7\U0001f1ef\U0001f1f5\U0001f1e9\U0001f1ea flags",  # regional indicators
    "\U0001f44d\U0001f3fd ok \U0001f44b\U0001f3ff" * 4,  # skin-tone modifiers
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e" * 3,  # Devanagari
    "\u2764\ufe0f\u2764\ufe0f\u2764\ufe0f",  # variation selectors
]


def _splits_cluster(text: str, cut: int) -> bool:
    """True if a cut before text[cut] separates characters that belong together."""
    if not 0 < cut < len(text):
        return False
    before, after = text[cut - 1], text[cut]
    extends = unicodedata.category(after).startswith("M") or after in "\u200d\ufe0f"
    modifier = "\U0001f3fb" <= after <= "\U0001f3ff"
    regional = "\U0001f1e6" <= after <= "\U0001f1ff"
    run = len(text[:cut]) - len(text[:cut].rstrip("".join(map(chr, range(0x1F1E6, 0x1F200)))))
    return extends or modifier or before == "\u200d" or (regional and run % 2 == 1)


@pytest.mark.parametrize("text", _CLUSTERED)
def test_truncate_never_splits_a_character_cluster(text):
    """BAD_INPUTS row 7: no dangling combining mark or half emoji at the cut."""
    for max_chars in range(1, len(text) + 2):
        out = truncate(text, max_chars)
        assert len(out) <= max_chars
        assert text.startswith(out)
        if out != text:
            assert not _splits_cluster(text, len(out)), (max_chars, out)
            assert not out.endswith("\u200d")


def test_truncate_backs_off_to_before_the_base_character():
    """The spec example: a cut inside "e" + marks drops the whole cluster."""
    assert truncate("x" * 9 + "e\u0301\u0301\u0301", 11) == "x" * 9
    assert truncate("ab\U0001f468\u200d\U0001f469", 4) == "ab"


def test_truncate_prefers_a_space_in_the_last_ten_percent():
    """A word is not chopped when a boundary is close; otherwise it is a hard cut."""
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    assert truncate(text, 50) == "alpha beta gamma delta epsilon zeta eta theta iota"
    # 10 % of 48 is 4: the space at 45 is inside that window.
    assert truncate(text, 48) == "alpha beta gamma delta epsilon zeta eta theta"
    # 10 % of 44 is 4: positions 40-43 are "thet", no space, so a hard cut.
    assert truncate(text, 44) == "alpha beta gamma delta epsilon zeta eta thet"


@pytest.mark.parametrize(("text", "max_chars"), [("short", 5), ("short", 100), ("", 3)])
def test_truncate_returns_short_text_unchanged(text, max_chars):
    """Text that fits is returned as is, even with trailing whitespace."""
    assert truncate(text, max_chars) == text


def test_truncate_non_positive_cap_gives_empty():
    """max_chars <= 0 is not validated here; it yields "" rather than a negative slice."""
    assert truncate("abc", 0) == ""
    assert truncate("abc", -5) == ""


@PROPERTY
@given(
    st.lists(
        st.sampled_from(
            ["a", "b", " ", "\n", "e\u0301", "\u0301", "\u200d", "\U0001f468", "\ufe0f",
             "\U0001f1eb", "\U0001f3fd", "\u0928\u094d"]
        ),
        max_size=30,
    ).map("".join),
    st.integers(min_value=1, max_value=45),
)  # fmt: skip
def test_truncate_properties(text, max_chars):
    """Prefix of the input, within the cap, never a split cluster, idempotent."""
    out = truncate(text, max_chars)
    assert len(out) <= max_chars
    assert text.startswith(out)
    if len(text) <= max_chars:
        assert out == text
    else:
        assert not _splits_cluster(text, len(out))
    assert truncate(out, max_chars) == out


# ---------------------------------------------------------------------------- boilerplate

_INTRO = "The minister spoke to reporters in Brussels on Monday."
_OUTRO = "She is expected to return to Tokyo next week."

_BOILERPLATE_LINES = [
    ("related_block", "Related Articles"),
    ("related_block", "Related articles:"),
    ("related_block", "Related stories"),
    ("related_block", "Related coverage"),
    ("related_block", "Related content"),
    ("related_block", "More on this story"),
    ("related_block", "Read more"),
    ("related_block", "You may also like"),
    ("related_block", "Recommended for you"),
    ("related_block", "More from Politics Monitor"),
    ("related_block", "Also read:"),
    ("promo", "Read more: Japan and the EU sign a security pact"),
    ("syndication", "This article is originally published on fr.news.yahoo.com"),
    ("syndication", "Originally published on The Conversation"),
    ("syndication", "Originally published at example.com"),
    ("syndication", "This story was first published by ProPublica."),
    ("syndication", "This article first appeared on Reuters.com"),
    ("syndication", "Republished with permission from the Associated Press"),
    ("share", "Share this article"),
    ("share", "Share on Facebook"),
    ("share", "Share"),
    ("share", "Subscribe to our newsletter"),
    ("share", "Sign up for our newsletter to get the news every morning"),
    ("share", "Follow us on Twitter"),
    ("share", "Click here to subscribe"),
    ("share", "ADVERTISEMENT"),
    ("share", "Skip to content"),
    ("share", "Image caption The minister at the summit in Tokyo"),
    ("share", "Image source, Getty Images"),
    ("share", "Getty Images"),
    ("share", "Photograph: John Smith/AFP via Getty Images"),
    ("share", "We use cookies to improve your experience on our site."),
    ("breadcrumb", "Home > Politics > Europe"),
    ("breadcrumb", "Home \u203a News \u203a World"),
    ("breadcrumb", "Home / Sport"),
    ("breadcrumb", "Home | Business"),
    ("breadcrumb", "News \u00bb Politics"),
    ("breadcrumb", "World \u2022 Asia \u2022 Japan"),
]


@pytest.mark.parametrize(("rule", "line"), _BOILERPLATE_LINES)
def test_default_rules_remove_their_lines(rule, line):
    """Each line is caught by the expected rule; a heading's block ends at the next story
    paragraph (issue 17: a "Related" line mid-story no longer cuts the rest)."""
    first = next(r for r in DEFAULT_BOILERPLATE_RULES if r.matches(" ".join(line.split())))
    assert first.name == rule
    out = collapse_whitespace(remove_boilerplate(f"{_INTRO}\n\n  {line}  \n\n{_OUTRO}"))
    expected = _INTRO if first.action == "cut_rest" else f"{_INTRO}\n\n{_OUTRO}"
    assert out == expected


@pytest.mark.parametrize(
    "sentence",
    [
        "Police said related articles had been removed from the website on Monday.",
        "Readers who want to read more can visit the library, the council said.",
        "The novel, originally published in 1851, was a commercial failure.",
        "Her essay first appeared on a small blog before it went viral.",
        "Users can share this article on Facebook, the company said in a statement.",
        "Shares in the company rose 5% after it announced a new newsletter.",
        "Subscribers to the service will pay more from January.",
        "Officials asked residents to follow us on Twitter for updates, the mayor joked.",
        "The advertisement was banned by the regulator last year.",
        "Getty Images reported higher profits for the third quarter.",
        "Prices rose > 5% / year in the capital, the statistics office said.",
        "More from the interview will be published tomorrow.",
        "Home Secretary Priti Patel said on Monday that the plan would go ahead.",
    ],
)
def test_default_rules_keep_sentences_that_mention_the_same_words(sentence):
    """Rules match whole short lines only, never a sentence that merely uses the words."""
    text = f"{_INTRO}\n\n{sentence}\n\n{_OUTRO}"
    assert remove_boilerplate(text) == text
    assert clean_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Home Secretary Priti Patel said on Monday that the plan would go ahead.\n\n"
        "She spoke in London.\n\nMinisters agreed.",
        # Even when a later sentence repeats the end of the first one: a headline is not
        # a sentence ending with ".".
        "Home Secretary Priti Patel said the plan would go ahead.\n\n"
        "She spoke in London.\n\nThe plan would go ahead.",
    ],
)
def test_home_secretary_first_line_is_kept(text):
    """A first sentence starting with "Home " is not a breadcrumb."""
    assert clean_text(text) == text


def test_page_header_breadcrumb_is_removed():
    """A "Home <section> <headline>" first line goes, with the repeated section name."""
    text = (
        "Home World News Big Storm Hits the Coast\nWorld News\n\nBig Storm Hits the Coast\n\n"
        "A storm hit the coast on Monday.\n\nWorld News"
    )
    assert clean_text(text) == (
        "Big Storm Hits the Coast\n\nA storm hit the coast on Monday.\n\nWorld News"
    )


def test_boilerplate_can_be_switched_off():
    """boilerplate=False keeps every line."""
    text = f"{_INTRO}\n\nShare this article\n\nRelated Articles\n\n{_OUTRO}"
    assert clean_text(text, boilerplate=False) == text
    assert clean_text(text) == f"{_INTRO}\n\n{_OUTRO}"  # the block ends where the story resumes


def test_extra_patterns_as_str_regex_and_rule():
    """A str is compiled case-insensitively; a compiled pattern is used as is."""
    text = f"{_INTRO}\nDOWNLOAD OUR APP\nBy Jane Doe\n{_OUTRO}\nComments\nFirst!"
    by_str = remove_boilerplate(text, extra_patterns=[r"^download our app$"])
    assert by_str == f"{_INTRO}\nBy Jane Doe\n{_OUTRO}\nComments\nFirst!"
    by_regex = remove_boilerplate(text, extra_patterns=[re.compile(r"^By [A-Z]\w+ [A-Z]\w+$")])
    assert by_regex == f"{_INTRO}\nDOWNLOAD OUR APP\n{_OUTRO}\nComments\nFirst!"
    cut = BoilerplateRule("comments", re.compile(r"^comments$", re.I), "cut_rest")
    assert remove_boilerplate(text, extra_patterns=[cut]).endswith(_OUTRO)
    assert clean_text(text, extra_patterns=r"^download our app$") == by_str  # a bare str


def test_extra_patterns_bad_type_raises():
    """Anything but str, pattern or rule is a caller bug."""
    with pytest.raises(TypeError, match=r"extra_patterns\[0\] must be"):
        remove_boilerplate("x", extra_patterns=[42])  # type: ignore[list-item]


def test_boilerplate_rule_validates_its_fields():
    """A str pattern or an unknown action fails at construction, not at match time."""
    with pytest.raises(TypeError, match="compiled str pattern"):
        BoilerplateRule("x", "^x$")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="action must be"):
        BoilerplateRule("x", re.compile("x"), "drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_line_chars"):
        BoilerplateRule("x", re.compile("x"), "drop_line", 0)


# ---------------------------------------------------------------- acceptance: seed page


@pytest.mark.shared_data
def test_seed_page_cleans_to_headline_and_story():
    """The scraped page comes out as the headline plus the story paragraphs, nothing else.

    The expectation is computed from the file's own structure (it is not ours to copy).
    """
    if not SEED_PAGE.is_file():
        pytest.skip(f"{SEED_PAGE} not available (../shared/data is absent)")
    raw = SEED_PAGE.read_text(encoding="utf-8")
    lines = raw.splitlines()
    breadcrumb = lines[0]
    assert breadcrumb.startswith("Home ")
    # The headline is the later line the breadcrumb ends with.
    headline = next(ln for ln in lines[1:] if ln.strip() and breadcrumb.endswith(" " + ln))
    blocks = [b.strip() for b in raw.split("\n\n") if b.strip()]
    start = blocks.index(headline)
    end = next(i for i, b in enumerate(blocks) if b.startswith("This article is originally"))
    story = blocks[start:end]

    out = clean_text(raw)

    paragraphs = out.split("\n\n")
    assert paragraphs[0] == headline
    assert paragraphs[-1].endswith("defense and security matters.")
    assert len(paragraphs) == len(story) == 11
    assert out == "\n\n".join(story)
    assert "Related Articles" not in out
    assert "originally published" not in out
    assert not out.startswith("Home Politics")
    assert "Politics Monitor" not in out
    assert clean_text(out) == out


# ------------------------------------------------------------- corpus-level boilerplate

_WORDS = [
    "budget", "minister", "storm", "coast", "election", "bank", "rates", "inflation",
    "football", "cup", "final", "court", "judge", "appeal", "vaccine", "trial", "doctors",
    "energy", "prices", "winter", "film", "festival", "award",
]  # fmt: skip


def _article(i: int) -> str:
    """A distinct three-paragraph article whose lines recur nowhere else."""
    w = [_WORDS[(i * 7 + k) % len(_WORDS)] for k in range(6)]
    return (
        f"Story {i} about the {w[0]} and the {w[1]}.\n\n"
        f"Officials said the {w[2]} affected {w[3]} in report number {i}.\n\n"
        f"More details on the {w[4]} and {w[5]} are due in week {i + 1}."
    )


FOOTER = "Follow Politics Monitor on Mastodon for more updates"


def test_find_recurring_lines_finds_a_footer_in_half_the_articles():
    """A footer in 10 of 20 distinct articles is boilerplate; story lines are not."""
    corpus = [_article(i) + (f"\n\n{FOOTER}" if i % 2 else "") for i in range(20)]
    assert find_recurring_lines(corpus) == frozenset({normalize_line(FOOTER)})


def test_find_recurring_lines_counts_identical_copies_once():
    """Five syndicated copies of one story do not make the story boilerplate."""
    copies = [_article(0)] * 5
    corpus = copies + [_article(i) for i in range(1, 4)]
    assert find_recurring_lines(corpus, min_share=0.05, min_count=3) == frozenset()
    # Counting copies separately would have flagged all three paragraphs: same corpus,
    # copies made distinct by one extra line each.
    distinct_copies = [f"{_article(0)}\n\nCopy {k}" for k in range(5)]
    flagged = find_recurring_lines(distinct_copies + corpus[5:], min_count=3)
    assert flagged == {normalize_line(p) for p in _article(0).split("\n\n")}


@pytest.mark.parametrize(("with_footer", "min_count", "found"), [(2, 3, False), (2, 2, True)])
def test_find_recurring_lines_respects_min_count(with_footer, min_count, found):
    """A line needs at least min_count distinct texts, whatever the share."""
    corpus = [_article(i) + (f"\n{FOOTER}" if i < with_footer else "") for i in range(20)]
    lines = find_recurring_lines(corpus, min_share=0.0, min_count=min_count)
    assert (normalize_line(FOOTER) in lines) is found


def test_find_recurring_lines_respects_min_share():
    """3 of 20 texts is 15 %: above a 10 % share, not above a 20 % share."""
    corpus = [_article(i) + (f"\n{FOOTER}" if i < 3 else "") for i in range(20)]
    assert find_recurring_lines(corpus, min_share=0.1) == {normalize_line(FOOTER)}
    assert find_recurring_lines(corpus, min_share=0.2) == frozenset()


def test_find_recurring_lines_accepts_a_generator_and_counts_a_line_once_per_text():
    """One pass over an iterator; a line repeated inside one text counts once."""
    corpus = (f"{_article(i)}\n{FOOTER}\n{FOOTER}\n{FOOTER}" for i in range(2))
    assert find_recurring_lines(corpus, min_share=0.0, min_count=3) == frozenset()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"min_share": 1.5}, ValueError, "min_share"),
        ({"min_share": -0.1}, ValueError, "min_share"),
        ({"min_share": "0.1"}, TypeError, "min_share"),
        ({"min_count": 0}, ValueError, "min_count"),
        ({"min_count": 2.0}, TypeError, "min_count"),
        ({"min_count": True}, TypeError, "min_count"),
    ],
)
def test_find_recurring_lines_rejects_bad_parameters(kwargs, error, match):
    """Out-of-range or mistyped thresholds raise with the parameter name."""
    with pytest.raises(error, match=match):
        find_recurring_lines(["a"], **kwargs)


def test_find_recurring_lines_rejects_non_str_texts():
    """A None body is named by its position."""
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got NoneType"):
        find_recurring_lines(["a", None])  # type: ignore[list-item]


def test_find_recurring_lines_collapsed_only_skips_the_check():
    """collapsed=True (clean_text output, as the vectorizer passes) finds the same lines."""
    corpus = [clean_text(_article(i) + (f"\n\n{FOOTER}" if i % 2 else "")) for i in range(20)]
    expected = frozenset({normalize_line(FOOTER)})
    assert find_recurring_lines(corpus, collapsed=True) == expected
    assert find_recurring_lines(corpus) == expected
    with pytest.raises(ValueError, match="min_share"):
        find_recurring_lines(corpus, min_share=1.5, collapsed=True)


def test_appending_a_footer_everywhere_then_dropping_recurring_lines_is_a_no_op():
    """Metamorphic (BAD_INPUTS row 10): shared boilerplate leaves every text unchanged."""
    originals = [clean_text(_article(i)) for i in range(20)]
    assert find_recurring_lines(originals) == frozenset()
    with_footer = [clean_text(f"{t}\n\n{FOOTER}\n") for t in originals]
    assert with_footer != originals
    lines = find_recurring_lines(with_footer)
    assert lines == {normalize_line(FOOTER)}
    assert [drop_lines(t, lines) for t in with_footer] == originals


def test_drop_lines_matches_normalized_lines_and_collapses():
    """Case and spacing differences do not matter; the blank lines left are collapsed."""
    text = "Story.\n\n  FOLLOW   us on twitter \n\nMore.\n\nFollow us on Twitter"
    assert drop_lines(text, {"follow us on twitter"}) == "Story.\n\nMore."
    assert drop_lines(text, set()) == collapse_whitespace(text)


def test_normalize_line():
    """casefold + whitespace collapsed + stripped."""
    assert normalize_line("  Stra\u00dfe\tIST   Gro\u00df ") == "strasse ist gross"


# -------------------------------------------------------------------------------- snippets

_BODY = (
    "The European Union and Japan signed a security pact on Friday, the first of its kind.\n\n"
    "It covers joint exercises, defence industry cooperation and the exchange of information."
)


@pytest.mark.parametrize("max_chars", [20, 60, 100, 120, 160])
def test_make_snippet_cuts_at_a_word_boundary(max_chars):
    """Cut at or before max_chars on a space, then "…"; paragraphs joined by a space."""
    flat = " ".join(_BODY.split())
    out = make_snippet(_BODY, max_chars)
    assert out.endswith("\u2026")
    assert len(out) <= max_chars + 1
    head = out[:-1]
    assert flat.startswith(head)
    assert flat[len(head)] in " ,;:-"  # the cut fell on a word boundary
    assert not head.endswith((",", ";", ":", "-", " "))
    assert "\n" not in out


def test_make_snippet_drops_trailing_punctuation_before_the_ellipsis():
    """A comma right before the ellipsis reads badly: it goes."""
    assert make_snippet("Alpha beta, gamma delta", 11) == "Alpha beta\u2026"
    assert make_snippet("Alpha beta - gamma delta", 12) == "Alpha beta\u2026"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", ""), ("Short text.", "Short text."), ("One.\n\nTwo.", "One. Two."), ("  \n ", "")],
)
def test_make_snippet_returns_short_text_whole(text, expected):
    """No ellipsis when the whole text fits."""
    assert make_snippet(text, 160) == expected


def test_make_snippet_hard_cuts_a_long_first_word():
    """A 500-character token has no boundary: hard cut, never inside a cluster."""
    assert make_snippet("x" * 500, 160) == "x" * 160 + "\u2026"
    assert make_snippet("e\u0301" * 10, 5) == "e\u0301e\u0301\u2026"


def test_make_snippet_rejects_bad_max_chars():
    """A snippet of zero characters is a caller bug."""
    with pytest.raises(ValueError, match="max_chars"):
        make_snippet("text", 0)


# ---------------------------------------------------------------------------- clean_text


def test_clean_text_composes_the_pipeline():
    """HTML, entities, NBSP, ZWSP, boilerplate and spacing in one go."""
    raw = (
        "<html><head><title>T</title></head><body><nav>Home | World</nav>"
        "<h1>EU &amp; Japan\u00a0sign pact</h1>\n<p>The  deal\u200b was signed.</p>"
        "<p>Share this article</p><p>It covers defence.</p>"
        "<h3>Related Articles</h3><p>Other story</p><footer>(c) 2024</footer></body></html>"
    )
    assert clean_text(raw) == "EU & Japan sign pact\n\nThe deal was signed.\n\nIt covers defence."


def test_clean_text_respects_max_chars():
    """Truncation happens after stripping; the result never exceeds the cap."""
    out = clean_text("<p>" + "word " * 1000 + "</p>", max_chars=100)
    assert 90 <= len(out) <= 100
    assert out.endswith("word")


def test_truncation_that_creates_a_boilerplate_line_is_cleaned_again():
    """Cutting "Share prices rose" after "Share" leaves a share line: it must go too."""
    body = "Para one is here.\n\nShare prices rose"
    out = clean_text(body, max_chars=25)
    assert out == "Para one is here."
    assert clean_text(out, max_chars=25) == out


@pytest.mark.parametrize(
    ("value", "match"), [(b"bytes", "Decode it first"), (None, "NoneType"), (1.5, "float")]
)
def test_clean_text_rejects_non_str(value, match):
    """BAD_INPUTS row 4: no silent str(x)."""
    with pytest.raises(TypeError, match=match):
        clean_text(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("max_chars", "error"), [(0, ValueError), (-1, ValueError), (True, TypeError), (2.5, TypeError)]
)
def test_clean_text_rejects_bad_max_chars(max_chars, error):
    """A cap that is not a positive int is a caller bug."""
    with pytest.raises(error, match="max_chars"):
        clean_text("text", max_chars=max_chars)


def test_numpy_integers_are_accepted_as_caps():
    """A cap read from a numpy array is an int for our purposes (numbers.Integral)."""
    np = pytest.importorskip("numpy")
    assert clean_text("abc def", max_chars=np.int64(3)) == "abc"
    assert make_snippet("abc def", np.int32(3)) == "abc\u2026"
    corpus = [f"{_article(i)}\n{FOOTER}" for i in range(2)]
    assert find_recurring_lines(corpus, min_count=np.int64(2), min_share=np.float64(0.5)) == {
        normalize_line(FOOTER)
    }


def test_clean_title_puts_everything_on_one_line():
    """A title is one line; the same cleaning as the body otherwise."""
    raw = "<h1>EU &amp;\n Japan</h1>\r\n<p>sign\u00a0pact</p>"
    assert clean_title(raw) == "EU & Japan sign pact"
    assert clean_title("word " * 200, max_chars=20) == "word word word word"


def _testmod_package(package, **options) -> doctest.TestResults:
    """doctest.testmod over a package's face and each of its modules, results summed."""
    modules = [package] + [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    ]
    results = [doctest.testmod(module, **options) for module in modules]
    return doctest.TestResults(sum(r.failed for r in results), sum(r.attempted for r in results))


def test_docstring_examples_run():
    """The Examples sections are part of the contract."""
    result = _testmod_package(text_package, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 20
    assert result.failed == 0


_FACE = [
    "DEFAULT_BOILERPLATE_RULES", "BoilerplateRule", "clean_text", "clean_title",
    "collapse_whitespace", "drop_controls", "drop_lines", "find_recurring_lines",
    "make_snippet", "normalize_line", "normalize_unicode", "remove_boilerplate", "strip_html",
    "truncate",
]  # fmt: skip


def test_package_face_exports_exactly_the_documented_names():
    """relatedness.text re-exports the public names of its modules, no more, no less."""
    assert sorted(text_package.__all__) == sorted(_FACE)
    for name in _FACE:
        assert getattr(text_package, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from relatedness.text import *", namespace)
    assert sorted(set(namespace) - {"__builtins__"}) == sorted(_FACE)


# ------------------------------------------------------------------------------ properties


@PROPERTY
@given(st.text())
def test_clean_text_is_total_and_idempotent(raw):
    """Never raises for a str; cleaning twice changes nothing."""
    once = clean_text(raw)
    assert clean_text(once) == once
    title = clean_title(raw)
    assert clean_title(title) == title


@PROPERTY
@given(st.binary().map(lambda b: b.decode("utf-8", "replace")))
def test_clean_text_of_decoded_junk_has_no_controls(raw):
    """BAD_INPUTS row 8: no Cc except a newline, no U+FFFD; still idempotent."""
    out = clean_text(raw)
    assert all(ch == "\n" or unicodedata.category(ch) != "Cc" for ch in out)
    assert "\ufffd" not in out
    assert clean_text(out) == out


@PROPERTY
@given(st.text(alphabet=st.characters(categories=["Zs", "Cf", "Cc"])))
def test_clean_text_of_invisible_characters_is_empty(raw):
    """BAD_INPUTS row 2 as a property: spaces, format and control characters only."""
    assert clean_text(raw) == ""


@PROPERTY
@given(st.text(), st.integers(min_value=1, max_value=50))
def test_clean_text_with_small_cap_stays_within_it_and_idempotent(raw, max_chars):
    """Truncation plus the boilerplate re-run keeps the fixpoint."""
    once = clean_text(raw, max_chars=max_chars)
    assert len(once) <= max_chars
    assert clean_text(once, max_chars=max_chars) == once


_KEEP_TAGS = ["p", "div", "span", "b", "i", "a", "li", "ul", "section", "h2", "td", "blockquote"]
_DROP_TAGS = ["script", "style", "nav", "footer", "aside", "noscript", "iframe", "template"]
_MARKER = "ZQXSECRETZQX"
_LEAF = st.text(alphabet=string.ascii_letters + string.digits + " .,!?'\n\t", max_size=15)


def _element(tag_and_children: tuple[str, list[tuple[str, str]]]) -> tuple[str, str]:
    tag, children = tag_and_children
    inner = "".join(html for html, _ in children)
    return f"<{tag}>{inner}</{tag}>", "".join(visible for _, visible in children)


_HTML_TREE = st.recursive(
    st.one_of(
        _LEAF.map(lambda t: (t, t)),
        st.sampled_from(_DROP_TAGS).map(lambda t: (f"<{t}>{_MARKER} words</{t}>", "")),
        st.sampled_from(["<br>", "<br/>", "<hr>", '<img src="x.png" alt="pic">']).map(
            lambda t: (t, "")
        ),
    ),
    lambda children: st.tuples(st.sampled_from(_KEEP_TAGS), st.lists(children, max_size=4)).map(
        _element
    ),
    max_leaves=20,
)


@PROPERTY
@given(_HTML_TREE)
def test_generated_html_leaves_no_markup_and_keeps_all_visible_text(tree):
    """No "<tag" survives, dropped subtrees vanish, and every visible character is kept."""
    html, visible = tree
    out = clean_text(html, boilerplate=False)
    assert "<" not in out  # leaves contain no "<": any "<" would be left-over markup
    for tag in _KEEP_TAGS + _DROP_TAGS:
        assert f"<{tag}" not in out
    assert _MARKER not in out
    assert "".join(out.split()) == "".join(visible.split())
    assert clean_text(out, boilerplate=False) == out


# ---------------------------------------------------------------- fast paths (issue 3)

# Pieces that exercise every step: markup, entities, escaped markup, Unicode to normalise,
# controls, odd whitespace and boilerplate lines.
_NASTY_PIECES = [
    "<p>", "</p>", "<br>", "<b>", "</b>", "<div>", "</div>", "<li>", "<pre>", "</pre>",
    "&amp;", "&lt;p&gt;", "&amp;lt;b&amp;gt;", "&nbsp;", "&#8217;", "&#x2019;", "&eacute;",
    "AT&T;", "a < b", "List<String>", "<!--", "-->", "<script>x</script>", "\uff1cp\uff1e",
    "\u200b", "\u00a0", "\u3000", "\u2009", "\u00ad", "\u202e", "\ufffd", "\x00", "\x1c",
    "\x85", "\u2028", "\r\n", "\r", "\n", "\n\n", "\n\n\n", "\t", "\x0b", "  ", " ",
    "cafe\u0301", "caf\u00e9", "e\u200b\u0301", "\ufb01nal", "\uff21\uff22", "Stra\u00dfe",
    "\u0130stanbul", "\u01c5", "x\u00b2", "\U0001f44d\U0001f3fd", "\U0001f1ec\U0001f1e7",
    "Share this article", "Related Articles", "Home > News > World", "Read more: a story",
    "Follow us on Twitter", "This article was originally published on X.", "Advertisement",
    "Home Politics Monitor Big headline here", "Big headline here", "Politics Monitor",
    "The", "banks", "were", "holding", "rates", "4.75%", "BBC_News", "x" * 45,
]  # fmt: skip


def _nasty_texts(n: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    seps = ["", " ", "\n", "  ", "\n\n"]
    return [
        "".join(rng.choice(_NASTY_PIECES) + rng.choice(seps) for _ in range(rng.randint(0, 30)))
        for _ in range(n)
    ]


def _reference_collapse(text: str) -> str:
    text = "\n".join([" ".join(line.split()) for line in text.split("\n")])
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _reference_plain(text: str) -> str:
    out = text
    for _ in range(4):
        previous = out
        out = normalize_unicode(drop_controls(normalize_unicode(strip_html(out))))
        if out == previous or not html_module.looks_like_html(out):
            break
    return out


def _reference_clean_text(text: str, max_chars: int, boilerplate: bool) -> str:
    """clean_text as it was before the fast paths: every step on every text."""
    out = _reference_plain(text)
    if boilerplate:
        out = truncate(_reference_collapse(out), 4 * max_chars)
        out = remove_boilerplate(out)
    out = _reference_collapse(out)
    cut = truncate(out, max_chars)
    if boilerplate and cut != out:
        cut = _reference_collapse(remove_boilerplate(cut))
    return cut


@pytest.mark.parametrize("seed", range(3))
def test_fast_paths_equal_the_full_pipeline(seed):
    """Issue 3: the ASCII, collapsed-text and collapsed-line shortcuts change no output."""
    texts = _nasty_texts(1500, seed)
    texts += ["", " ", "plain ascii text", "two\n\nparagraphs", "tab\there", "a\x00b", "x  y"]
    for t in texts:
        assert clean_module._plain_text(t) == _reference_plain(t), repr(t)
        assert collapse_whitespace(t) == _reference_collapse(t), repr(t)
        assert unicode_module.is_collapsed(t) == (_reference_collapse(t) == t), repr(t)
        for max_chars, boilerplate in ((200_000, True), (30, True), (200_000, False)):
            got = clean_text(t, max_chars=max_chars, boilerplate=boilerplate)
            assert got == _reference_clean_text(t, max_chars, boilerplate), repr(t)


def test_casefold_keeps_collapsed_lines_collapsed():
    """find_recurring_lines/drop_lines use text.casefold() as the key of a collapsed line.

    That needs case folding to map every whitespace character to itself and every other
    character to a non-empty string without whitespace: checked for all code points.
    """
    for cp in range(0x110000):
        c = chr(cp)
        folded = c.casefold()
        if c.isspace():
            assert folded == c, hex(cp)
        else:
            assert folded and not any(ch.isspace() for ch in folded), hex(cp)


@pytest.mark.parametrize("seed", range(2))
def test_recurring_lines_fast_path_equals_normalize_line(seed):
    texts = _nasty_texts(400, seed)
    texts += [clean_text(t) for t in texts]
    texts += ["Story.\nFOLLOW us on Twitter", "Other.\nfollow US on twitter"]
    texts += ["Follow us on Twitter"]

    def reference(texts):
        seen, counts = set(), {}
        for t in texts:
            if t in seen:
                continue
            seen.add(t)
            for norm in {normalize_line(line) for line in t.split("\n")} - {""}:
                counts[norm] = counts.get(norm, 0) + 1
        return frozenset(k for k, c in counts.items() if c >= 2 and c > 0.01 * len(seen))

    lines = find_recurring_lines(texts, min_share=0.01, min_count=2)
    assert lines == reference(texts)
    assert lines
    for t in texts:
        kept = [line for line in t.split("\n") if normalize_line(line) not in lines]
        assert drop_lines(t, lines) == _reference_collapse("\n".join(kept)), repr(t)
