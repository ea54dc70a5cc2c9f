"""A model from an untrusted place cannot hang a server (issue 17, "Found broken" item 11).

``boilerplate_patterns=["^(a+)+$"]`` written into a manifest (with its SHA-256s recomputed)
made ``related_to("a" * 26 + "!")`` take 2.9 s, doubling per character. Patterns are now
checked at load, and user patterns only run on lines of bounded length.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings

import pytest

from relatedness import RelatedArticles
from relatedness.exceptions import ModelFormatError
from relatedness.store import current_version
from relatedness.text import remove_boilerplate
from relatedness.text.boilerplate import MAX_PATTERN_LINE_CHARS, coerce_rules, pattern_problem

from .conftest import news_rows


def tamper_patterns(model_dir, patterns):
    """Edit the manifest's patterns the way an attacker would (hashes stay consistent:
    the manifest lists the other files' hashes, not its own)."""
    manifest = current_version(model_dir) / "manifest.json"
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["params"]["boilerplate_patterns"] = patterns
    manifest.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
    return hashlib.sha256(manifest.read_bytes()).hexdigest()


@pytest.fixture
def saved(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RelatedArticles(min_df=1).fit(news_rows()).save(tmp_path / "m")
    return tmp_path / "m"


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [("^(a+)+$", "a repeat inside a repeat"), ("(a*)*", "a repeat inside a repeat"),
     ("(a|a)+", "alternatives that can start alike"), (r"(\w+\s?)+$", "a repeat inside"),
     ("x" * 501, "501 characters long"), ("(", "not a valid regular expression"),
     (r"(a)\1", "a backreference")],
)  # fmt: skip
def test_manifest_pattern_with_nested_quantifiers_is_refused_at_load(saved, pattern, problem):
    tamper_patterns(saved, [pattern])
    with pytest.raises(ModelFormatError, match=rf"boilerplate_patterns\[0\] .*{problem}.*refit"):
        RelatedArticles.load(saved)


@pytest.mark.parametrize("pattern", [r"^download our app$", r"^(?:source|copyright)\b.*$",
                                     r"^by [\w .]{1,40}$", "(ab|cd)+x"])  # fmt: skip
def test_ordinary_patterns_still_load(saved, pattern):
    tamper_patterns(saved, [pattern])
    assert RelatedArticles.load(saved).boilerplate_patterns == (pattern,)
    assert pattern_problem(pattern) is None


def test_user_patterns_run_only_on_lines_of_bounded_length():
    (rule,) = coerce_rules([r"^(?:x+x+)+y$"])  # quadratic-or-worse, trusted at fit time
    assert rule.max_line_chars == MAX_PATTERN_LINE_CHARS
    long_line = "x" * (MAX_PATTERN_LINE_CHARS + 1)
    assert remove_boilerplate(long_line, extra_patterns=[rule]) == long_line  # never searched
    assert rule.matches("xxy") and not rule.matches(long_line + "y")
    (compiled,) = coerce_rules([re.compile("^ad$")])
    assert compiled.max_line_chars == MAX_PATTERN_LINE_CHARS
