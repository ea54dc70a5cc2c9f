r"""Boilerplate lines of one article: "Related articles" blocks, share lines, page headers.

:class:`BoilerplateRule` is a line rule and :data:`DEFAULT_BOILERPLATE_RULES` the
default ones; :func:`coerce_rules` turns user patterns into rules; one structural rule
drops a scraped "Home <section> <headline>" page header; :func:`remove_boilerplate`
applies them all (:func:`apply_rules` is its body, for callers whose rules are already
coerced). Lines that recur across a corpus are :mod:`relatedness.text.recurring`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .unicode import normalize_line

__all__ = [
    "DEFAULT_BOILERPLATE_RULES",
    "MAX_PATTERN_CHARS",
    "MAX_PATTERN_LINE_CHARS",
    "BoilerplateRule",
    "apply_rules",
    "coerce_rules",
    "pattern_problem",
    "remove_boilerplate",
]


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
    action : {"drop_line", "drop_block", "cut_rest"}, default="drop_line"
        ``"drop_line"`` removes the matching line; ``"drop_block"`` removes it and the
        headline-like lines after it, up to the next paragraph of the story (a "Related
        articles" block before, inside or after the story); ``"cut_rest"`` removes it and
        everything after it.
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
    action: Literal["drop_line", "drop_block", "cut_rest"] = "drop_line"
    max_line_chars: int | None = None

    def __post_init__(self) -> None:
        """Validate the fields (a frozen dataclass cannot be fixed up later)."""
        if not isinstance(self.pattern, re.Pattern) or not isinstance(self.pattern.pattern, str):
            msg = (
                f"BoilerplateRule {self.name!r}: pattern must be a compiled str pattern, "
                f"got {type(self.pattern).__name__}; use re.compile(...)."
            )
            raise TypeError(msg)
        if self.action not in ("drop_line", "drop_block", "cut_rest"):
            msg = (
                f"BoilerplateRule {self.name!r}: action must be 'drop_line', 'drop_block' or "
                "'cut_rest', "
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
    name: str,
    pattern: str,
    action: Literal["drop_line", "drop_block", "cut_rest"],
    max_line_chars: int,
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
    r"|most\s+(?:read|popular|viewed|shared|commented)(?:\s+(?:stories|articles|today|now))?"
    r"|trending(?:\s+(?:now|stories|articles|today|topics))?"
    r"|(?:top|popular|latest)\s+(?:stories|articles|news)"
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
# Wire credits and copyright lines: "Source: AFP", "Copyright 2024 Reuters", "(c) 2024 AP.
# All rights reserved." Whole short lines only, so "The source: a leaked memo" stays
# unless it is the whole line of at most a few words.
_CREDIT = (
    r"^(?=.{1,120}$)(?:"
    r"(?:source|sources|via)\s*:\s*[\w&.,/' -]{1,50}"
    r"|(?:copyright|\u00a9|\(c\))\s*(?:\u00a9\s*)?(?:\d{4}(?:\s*-\s*\d{4})?)?\s*[\w&.,' -]{0,60}"
    r"(?:all\s+rights\s+reserved\.?)?"
    r")$"
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
    _rule("related_block", _RELATED_BLOCK, "drop_block", 80),
    _rule("credit", _CREDIT, "drop_line", 120),
    _rule("promo", _PROMO, "drop_line", 200),
    _rule("syndication", _SYNDICATION, "drop_line", 200),
    _rule("share", _SHARE, "drop_line", 200),
    _rule("breadcrumb", _BREADCRUMB, "drop_line", 120),
)
"""The default line rules of :func:`remove_boilerplate`, in the order they are tried.

``related_block`` (drop_block) matches a line that is only a heading such as
"Related Articles", "More on this story", "Read more", "You may also like",
"Recommended for you", "More from <short name>", "Most read", "Trending", "Also read" or
"See also", and drops it with the headline-like lines after it (a block before the story
no longer wipes the story; a lone "Related" line mid-story no longer cuts the rest).
``credit`` drops "Source: AFP" and "Copyright 2024 Reuters" lines.
``promo`` drops "Read more: <headline>" lines. ``syndication`` drops "This article
is originally published on ...", "Originally published on ...", "This story was first
published by ...", "This article first appeared on ...", "Republished with permission
from ...". ``share`` drops share/subscribe/follow/newsletter/cookie/advertisement/
"Skip to content"/image-caption/"Getty Images" lines. ``breadcrumb`` drops
"Home > Politics > Europe" style lines. All of them match short whole lines only.
"""


def coerce_rules(
    extra_patterns: Sequence[str | re.Pattern[str] | BoilerplateRule],
) -> tuple[BoilerplateRule, ...]:
    r"""Return the ``extra_patterns`` of :func:`remove_boilerplate` as rules.

    Parameters
    ----------
    extra_patterns : sequence of str, re.Pattern or BoilerplateRule
        A string is compiled case-insensitively and, like a compiled pattern, becomes a
        ``"drop_line"`` rule named ``"extra_<i>"`` that tests lines of at most
        :data:`MAX_PATTERN_LINE_CHARS` characters (the cost of a regex is bounded by the
        line it runs on); a rule is kept as it is. A single
        pattern or rule counts as a one-element sequence.

    Returns
    -------
    tuple of BoilerplateRule
        One rule per item, in order.

    Raises
    ------
    TypeError
        If an item has an unsupported type.
    re.error
        If a string is not a valid regular expression.

    Examples
    --------
    >>> [rule.name for rule in coerce_rules([r"^download our app$", re.compile("^x$")])]
    ['extra_0', 'extra_1']
    """
    if isinstance(extra_patterns, (str, re.Pattern, BoilerplateRule)):
        # A single pattern where a sequence is expected would be iterated character by
        # character; accept it as a one-element sequence instead.
        extra_patterns = (extra_patterns,)
    rules: list[BoilerplateRule] = []
    for i, item in enumerate(extra_patterns):
        if isinstance(item, BoilerplateRule):
            rules.append(item)
        elif isinstance(item, re.Pattern):
            rules.append(BoilerplateRule(f"extra_{i}", item, "drop_line", MAX_PATTERN_LINE_CHARS))
        elif isinstance(item, str):
            pattern = re.compile(item, re.IGNORECASE)
            rules.append(
                BoilerplateRule(f"extra_{i}", pattern, "drop_line", MAX_PATTERN_LINE_CHARS)
            )
        else:
            msg = (
                f"extra_patterns[{i}] must be a str, a compiled pattern or a BoilerplateRule, "
                f"got {type(item).__name__}."
            )
            raise TypeError(msg)
    return tuple(rules)


#: Lines longer than this are not tested against user patterns (``extra_patterns``): the
#: cost of a regex grows with the line, and boilerplate lines are short.
MAX_PATTERN_LINE_CHARS = 1_000
#: The longest user pattern a loaded model may carry.
MAX_PATTERN_CHARS = 500


def pattern_problem(pattern: str) -> str | None:
    r"""Why a user pattern could take more than linear time, or None when it cannot.

    Checked for patterns from a loaded model (an untrusted manifest): longer than
    :data:`MAX_PATTERN_CHARS`, not a valid regex, a backreference, or a repeat that holds
    another repeat (``(a+)+``, ``(a*)*``) or alternatives that can start alike
    (``(a|a)+``, ``(\w|a)*``) - the shapes that backtrack exponentially.

    Examples
    --------
    >>> pattern_problem(r"^download our app$") is None
    True
    >>> pattern_problem(r"^(a+)+$")
    'a repeat inside a repeat (nested quantifiers backtrack exponentially)'
    """
    if not isinstance(pattern, str):
        return f"a {type(pattern).__name__}, not a str"
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"{len(pattern)} characters long (at most {MAX_PATTERN_CHARS})"
    try:
        tree = _sre_parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"not a valid regular expression ({exc})"
    return _tree_problem(tree, inside_repeat=False)


def _sre_parse(pattern: str) -> list:
    # The stdlib's own regex parser (re._parser since 3.11, sre_parse before): the tree
    # the engine will run, so the check cannot disagree with what is compiled.
    parser: Any = getattr(re, "_parser", None)
    if parser is None:  # pragma: no cover - Python 3.10
        import sre_parse as parser
    return list(parser.parse(pattern))


def _tree_problem(items: Iterable[Any], inside_repeat: bool) -> str | None:
    for op, av in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            repeats = high is None or high > 1 or str(high) == "MAXREPEAT"
            if repeats and inside_repeat:
                return "a repeat inside a repeat (nested quantifiers backtrack exponentially)"
            found = _tree_problem(sub, inside_repeat or repeats)
            if found:
                return found
        elif name == "BRANCH":
            branches = av[1]
            if inside_repeat and not _distinct_starts(branches):
                return "repeated alternatives that can start alike (e.g. (a|a)+)"
            for branch in branches:
                found = _tree_problem(branch, inside_repeat)
                if found:
                    return found
        elif name == "SUBPATTERN":
            found = _tree_problem(av[-1], inside_repeat)
            if found:
                return found
        elif name in ("GROUPREF", "GROUPREF_EXISTS"):
            return "a backreference"
        elif name in ("ASSERT", "ASSERT_NOT"):
            found = _tree_problem(av[1], inside_repeat)
            if found:
                return found
        elif name == "IN" and inside_repeat:
            continue
    return None


def _distinct_starts(branches: Sequence[Any]) -> bool:
    """Whether every alternative starts with its own literal character (no overlap)."""
    firsts = []
    for branch in branches:
        items = list(branch)
        if not items or str(items[0][0]) != "LITERAL":
            return False
        firsts.append(items[0][1])
    return len(set(firsts)) == len(firsts)


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
    return apply_rules(text, (*rules, *coerce_rules(extra_patterns)), collapsed=False)


def apply_rules(text: str, all_rules: Sequence[BoilerplateRule], *, collapsed: bool) -> str:
    r"""The body of :func:`remove_boilerplate`: line rules, then the page-header rule.

    Parameters
    ----------
    text : str
        Article body with lines separated by ``"\n"``.
    all_rules : sequence of BoilerplateRule
        Every line rule, in the order they are tried (user patterns already turned into
        rules, see :func:`coerce_rules`).
    collapsed : bool
        True promises every line is already collapsed (see
        :func:`~relatedness.text.unicode.collapse_whitespace`): a collapsed line is its
        own rule key, so the per-line split and join are skipped.

    Returns
    -------
    str
        The text without boilerplate lines, as :func:`remove_boilerplate` returns it.

    Examples
    --------
    >>> apply_rules("Story.\nShare this article", DEFAULT_BOILERPLATE_RULES, collapsed=True)
    'Story.'
    """
    # Unpacked once: this loop runs for every line of every article.
    checks = [(r.max_line_chars or len(text), r.pattern.search, r.action) for r in all_rules]
    # A line longer than every rule's limit cannot match: keep it without trying the rules
    # (most lines of an article are paragraphs far longer than a boilerplate line).
    longest = max((limit for limit, _, _ in checks), default=-1)
    kept: list[str] = []
    in_block = False  # inside a "Related articles" block: headline lines are dropped
    for line in text.split("\n"):
        key = line if collapsed else " ".join(line.split())
        n = len(key)
        if in_block:
            if not key or not _is_paragraph(key):
                continue
            in_block = False  # the story resumes
        if n > longest:
            kept.append(line)
            continue
        action: str | None = None
        if key:
            action = next((a for limit, search, a in checks if n <= limit and search(key)), None)
        if action == "cut_rest":
            break
        if action == "drop_block":
            in_block = True
        elif action is None:
            kept.append(line)
    return "\n".join(_drop_page_header(kept))


#: A line of story text rather than a linked headline: a sentence of this many words.
_PARAGRAPH_WORDS = 8


def _is_paragraph(line: str) -> bool:
    """Whether a line reads as story text (a long line, or a sentence of several words)
    rather than a linked headline, which ends a "Related articles" block."""
    if line.endswith(("...", "\u2026")):
        return False  # a teaser: "In a recent interview with the magazine Le Point, ..."
    if len(line) > 150:
        return True
    return line.rstrip("\"'\u201d\u2019)").endswith(_SENTENCE_END) and (
        line.count(" ") + 1 >= _PARAGRAPH_WORDS
    )
