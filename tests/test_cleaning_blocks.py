"""Cleaning regressions (issue 17, "Found broken" item 10), on realistic page text."""

from __future__ import annotations

import warnings

import pytest

from relatedness import RelatedArticles
from relatedness.text import clean_text

STORY = [
    "The central bank held its main interest rate at 4.5 percent on Thursday, citing stubborn "
    "inflation in services.",
    "Governor Maria Lopez told reporters that the committee would wait for more data before "
    "any cut, and that wage growth remained too strong.",
    "Markets had priced in a small chance of a cut; the currency rose half a percent after "
    "the announcement.",
]

BLOCK_BEFORE = (
    "Related Articles\n\n"
    "Banks brace for slower lending as rates stay high\n"
    "Business Desk\n\n"
    "Housing market cools in the capital\n\n"
    "In a recent survey of estate agents, prices fell for the...\n\n"
)


def test_related_block_before_the_story_keeps_the_story():
    out = clean_text(BLOCK_BEFORE + "\n\n".join(STORY))
    assert out == "\n\n".join(STORY)


def test_related_block_before_the_story_does_not_empty_the_article():
    rows = [{"id": "a", "title": "Rates held", "body": BLOCK_BEFORE + "\n\n".join(STORY)},
            {"id": "b", "title": "Rates", "body": STORY[0]}]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "no indexable text" warning
        model = RelatedArticles(min_df=1).fit(rows)
    assert model.n_empty_ == 0


def test_standalone_related_line_mid_story_does_not_cut_the_rest():
    text = f"{STORY[0]}\n\nRelated\n\n{STORY[1]}\n\n{STORY[2]}"
    assert clean_text(text) == "\n\n".join(STORY)


@pytest.mark.parametrize("heading", ["Most read", "Most popular", "More from Business",
                                     "Trending", "Trending now", "Top stories"])  # fmt: skip
def test_most_read_more_from_and_trending_blocks_are_removed(heading):
    block = (f"{heading}\n\n1. Minister resigns over expenses\n\n2. Storm closes schools\n\n"
             "3. Cup final tickets sell out in minutes")  # fmt: skip
    assert clean_text(f"{STORY[0]}\n\n{block}\n\n{STORY[1]}") == f"{STORY[0]}\n\n{STORY[1]}"
    assert clean_text(f"{STORY[0]}\n\n{block}") == STORY[0]


@pytest.mark.parametrize("line", ["Source: AFP", "Source: Reuters, AP", "Copyright 2024 Reuters",
                                  "\u00a9 2024 The Associated Press. All rights reserved.",
                                  "(c) 2023-2024 Agence France-Presse"])  # fmt: skip
def test_source_and_copyright_lines_are_removed(line):
    assert clean_text(f"{STORY[0]}\n{line}\n{STORY[1]}") == f"{STORY[0]}\n{STORY[1]}"


@pytest.mark.parametrize("sentence", [
    "The source: a leaked memo from the finance ministry that reporters saw on Monday.",
    "Copyright lawyers said the ruling would change how news is licensed across Europe.",
    "Trending topics on social media included the storm and the cup final, analysts said.",
])  # fmt: skip
def test_sentences_that_mention_sources_or_trends_are_kept(sentence):
    assert clean_text(f"{STORY[0]}\n\n{sentence}") == f"{STORY[0]}\n\n{sentence}"
