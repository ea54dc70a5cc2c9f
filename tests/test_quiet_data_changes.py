"""Regression tests for issue 17, "Found broken" item 9: data changed without a word."""

from __future__ import annotations

import random
import warnings

import pytest

from relatedness import RelatedArticles
from relatedness.articles import section_key
from relatedness.text import clean_text

SPELLINGS = ["Politics", "poli\xadtics", "politics\u200b", "POLITICS"]


def corpus(spellings: list[str]) -> list[dict]:
    return [
        {"id": f"a{n}", "section": section, "published": f"2024-01-{n + 1:02d}",
         "title": f"budget vote {n}", "body": "parliament budget vote tax schools debate"}
        for n, section in enumerate(spellings)
    ]  # fmt: skip


def test_sections_differing_in_case_soft_hyphen_and_zero_width_are_one_section_with_a_warning():
    with pytest.warns(UserWarning, match=r"merged 1 sections .*'Politics' <- 'POLITICS', "
                      r"'politics\\u200b', 'poli\\xadtics'"):  # fmt: skip
        model = RelatedArticles(min_df=1, duplicate_threshold=None).fit(corpus(SPELLINGS))
    assert model.section_names_ == ["Politics"]
    assert set(model.sections_) == {"Politics"}
    assert len(model.related("a0")) == 3  # "same" section policy: all four are one section


def test_nfc_and_nfd_cafe_are_one_section():
    with pytest.warns(UserWarning, match=r"'caf\\xe9' <- 'cafe\\u0301'"):
        model = RelatedArticles(min_df=1).fit(corpus(["caf\u00e9", "cafe\u0301"]))
    assert model.section_names_ == ["caf\u00e9"]


def test_merged_section_name_does_not_depend_on_input_order():
    """The earliest-published article names the section, whatever the input order."""
    rows = corpus(["poli\xadtics", "Politics", "POLITICS", "politics\u200b"])
    names = set()
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names.add(tuple(RelatedArticles(min_df=1).fit(shuffled).section_names_))
    assert names == {("politics",)}  # a0, the oldest, spells it "poli\xadtics" -> "politics"


def test_related_to_and_add_find_the_section_in_another_spelling():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(min_df=1, k=5, duplicate_threshold=None).fit(
                corpus(["Politics", "Politics", "Politics"])
            )
    query = {"title": "budget vote", "body": "parliament budget", "section": "politics\u200b"}
    assert len(model.related_to(query)) == 3
    assert model.related_to(query | {"section": "sport"}) == []
    with pytest.warns(UserWarning, match=r"'Politics' <- 'POLITICS'"):
        model.add([corpus(["POLI\xadTICS"])[0] | {"id": "new"}])
    assert model.sections_[-1] == "Politics"
    assert section_key("Poli\xadtics") == section_key("politics\u200b")


def test_control_character_between_words_separates_them():
    assert clean_text("economy\x00market") == "economy market"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [{"id": "a", "title": "economy\x00market", "body": "economy\x00market bank"},
                {"id": "b", "title": "economy", "body": "market economy bank"}]  # fmt: skip
        model = RelatedArticles(min_df=1, ngram_range=(1, 1)).fit(rows)
    assert "economymarket" not in " ".join(model.vectorizer_.vocabulary_)
    assert clean_text("ca\u200bfe") == "cafe"  # format characters are still removed


def test_fifty_megabyte_body_is_cut_with_a_warning_naming_the_article():
    rows = corpus(["news"] * 3)
    rows.append({"id": "huge", "title": "long", "body": "parliament budget " * 3_000_000})
    with pytest.warns(UserWarning, match=r"1 article bodies were longer than max_chars=200000 "
                      r".*'huge'"):  # fmt: skip
        model = RelatedArticles(min_df=1).fit(rows)
    assert "huge" in model.ids_


def test_a_body_just_under_the_cap_gives_no_warning():
    rows = corpus(["news"] * 3)
    rows.append({"id": "long", "title": "long", "body": "<p>" + "budget " * 100 + "</p>" * 40_000})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RelatedArticles(min_df=1, max_chars=1_000).fit(rows)


@pytest.mark.parametrize("feedback", [0, 3])
def test_identical_articles_score_exactly_one_at_most(feedback):
    rows = [{"id": f"d{i}", "title": "Über café straße naïve",
             "body": "Zürich économie marché " * 7 + "xxx"} for i in range(4)]  # fmt: skip
    rows.append({"id": "o", "title": "other", "body": "marché dog"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(min_df=1, duplicate_threshold=None, feedback=feedback).fit(rows)
    scores = [r.score for _, lst in model.iter_related() for r in lst]
    scores += [r.score for r in model.related_to(rows[0])]
    assert max(scores) == 1.0
