"""Incremental updates (issue 5): add() keeps the vocabulary; affected() bounds the recompute."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from relatedness import DuplicateIdError, InvalidArticleError, RelatedArticles
from relatedness.vectorize import FieldTfidfVectorizer

from .conftest import random_corpus


def fit(rows, **params) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(**{"min_df": 1, "k": 4, **params}).fit(rows)


def full_recompute_with(model: RelatedArticles, rows) -> RelatedArticles:
    """A model over ``rows`` that reuses ``model``'s fitted vectorizer (same vocabulary/idf)."""
    from relatedness.archive import Archive
    from relatedness.articles import check_articles

    fresh = RelatedArticles(**model.get_params())
    vec = model.vectorizer_
    cleaned = [vec.clean_document(r) for r in rows]
    counts, _ = vec.count(cleaned, vec.vocabulary_)
    norms: list = []
    matrix = vec.weigh(counts, vec.idf_, norms_out=norms)
    arts = check_articles(rows)
    return fresh._fitted(Archive.of(vec, matrix, norms[0], arts, cleaned, fresh.snippet_chars))


@pytest.mark.parametrize("policy", ["same", "any"])
def test_add_equals_full_recompute_with_the_same_vocabulary(rng, policy):
    rows = random_corpus(rng, 120)
    old, new = rows[:90], rows[90:]
    model = fit(old, section_policy=policy)
    report = model.add(new)
    assert report.added == [r["id"] for r in new]
    reference = full_recompute_with(model, rows)
    assert model.related_many(model.ids_) == reference.related_many(reference.ids_)


def test_affected_lists_are_the_only_ones_that_change(rng):
    rows = random_corpus(rng, 150)
    before = fit(rows[:130], section_policy="any")
    old_lists = before.related_many(before.ids_)
    after = fit(rows[:130], section_policy="any")
    after.add(rows[130:])
    affected = set(after.affected([r["id"] for r in rows[130:]]))
    new_lists = after.related_many(before.ids_)
    changed = {i for i in before.ids_ if old_lists[i] != new_lists[i]}
    assert changed <= affected
    assert len(affected) < after.n_articles_  # a bound, not everything


def test_remove_affects_only_lists_sharing_terms(rng):
    rows = random_corpus(rng, 100)
    model = fit(rows, section_policy="any")
    victim = next(i for i in model.ids_ if model.related(i))
    before = model.related_many(model.ids_)
    affected = set(model.affected([victim]))
    model.remove([victim])
    after = model.related_many(model.ids_)
    assert {i for i in model.ids_ if before[i] != after[i]} <= affected
    assert all(victim not in [r.id for r in lst] for lst in after.values())


def test_add_reports_oov_and_drift():
    rows = [{"id": f"a{i}", "body": "storm snow roads closed"} for i in range(10)]
    model = fit(rows, min_df=3, ngram_range=(1, 1))
    same = model.add([{"id": "b1", "body": "storm snow roads"}])
    assert same.oov_rate == 0.0
    assert not same.needs_refit
    assert same.new_terms == [] and same.reweighed == []
    novel = model.add([{"id": f"c{i}", "body": "volcano eruption ash cloud"} for i in range(2)])
    assert novel.oov_rate == pytest.approx(1.0)  # pending: in 2 added articles, min_df is 3
    assert novel.needs_refit
    assert "volcano" not in model.vectorizer_.vocabulary_
    third = model.add([{"id": "c2", "body": "volcano ash"}])
    assert third.new_terms == ["ash", "volcano"]  # in 3 added articles now
    assert third.oov_rate == 0.0
    assert third.reweighed == ["c0", "c1"]
    # idf of a term that entered: the fit's smooth formula over the 10 + 4 articles counted
    vocab, idf = model.vectorizer_.vocabulary_, model.vectorizer_.idf_
    assert idf[vocab["volcano"]] == np.log((1 + 14) / (1 + 3)) + 1
    assert vocab["volcano"] >= 4  # a new column after the fitted ones
    # drift: idf in use against the idf of all 14 articles ("storm" in 10 + 1, ...)
    n = 14
    counted = {"storm": 11, "snow": 11, "road": 11, "close": 10, "volcano": 3, "ash": 3}
    want = np.mean([abs(np.log((1 + n) / (1 + counted[t])) + 1 - idf[j]) for t, j in vocab.items()])
    assert third.idf_drift == pytest.approx(want, rel=1e-12)


NEW_WORDS = ["zorvath", "kellmane", "quillon", "bravik", "tessaly", "morrigan", "oxlade"]


def with_new_words(rng, rows):
    """Rows with words the fitted corpus never had (a new name, a new place)."""
    out = []
    for row in rows:
        extra = " ".join(rng.choice(NEW_WORDS, size=int(rng.integers(0, 4))))
        out.append({**row, "body": f"{row['body']} {extra}".strip()})
    return out


def recompute(model, fitted, added, fit_vectorizer):
    """A model over fitted + added rows built from scratch under the statistics ``model``
    holds: fitted rows from the fitted vocabulary, added rows from the grown one."""
    from relatedness.archive import Archive
    from relatedness.articles import check_articles

    grown = model.vectorizer_
    width = len(grown.vocabulary_)
    matrices, norms = [], []
    for vec, rows in ((fit_vectorizer, fitted), (grown, added)):
        cleaned = [vec.clean_document(r) for r in rows]
        counts, _ = vec.count(cleaned, vec.vocabulary_)
        found: list = []
        m = vec.weigh(counts, vec.idf_, norms_out=found)
        matrices.append(sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], width)))
        norms.append(found[0])
    fresh = RelatedArticles(**model.get_params())
    cleaned = [grown.clean_document(r) for r in fitted + added]
    archive = Archive.of(
        grown, sp.vstack(matrices, format="csr"), np.concatenate(norms),
        check_articles(fitted + added), cleaned, fresh.snippet_chars,
    )  # fmt: skip
    return fresh._fitted(archive)


def fitted_vectorizer(model):
    from copy import deepcopy

    return deepcopy(model.vectorizer_)


@pytest.mark.parametrize("min_df", [1, 2, 3])
def test_add_equals_a_recompute_under_the_same_statistics(rng, min_df):
    """Issue 17 item 2: rows and lists after several add() batches equal those of a model
    built from scratch with the same vocabulary and idf (bit for bit)."""
    rows = random_corpus(rng, 160)
    fitted, added = rows[:100], with_new_words(rng, rows[100:])
    model = fit(fitted, min_df=min_df)
    vec0 = fitted_vectorizer(model)
    entered = []
    for start in range(0, len(added), 15):
        report = model.add(added[start : start + 15])
        entered += report.new_terms
    assert {"zorvath", "kellman"} <= set(entered)  # the new words count now
    reference = recompute(model, fitted, added, vec0)
    got, want = model.index_.matrix, reference.index_.matrix
    assert (got != want).nnz == 0 and got.shape == want.shape
    np.testing.assert_array_equal(model.norms_, reference.norms_)
    assert model.related_many(model.ids_) == reference.related_many(reference.ids_)


def test_new_names_count_after_add(rng):
    """Issue 17 item 2: the vocabulary was frozen, so a new person's name linked nothing."""
    base = random_corpus(rng, 120)
    # Short stories that share little but the name: no duplicate rule to hide them.
    model = fit(base, min_df=3, section_policy="any", duplicate_threshold=None)
    stories = [
        "Zorvath Kellmane was named envoy.",
        "Zorvath Kellmane met the ministers on Monday.",
        "A deal signed by Zorvath Kellmane.",
    ]  # different stories (copies would be dropped as duplicates) sharing a new name
    news = [{"id": f"x{i}", "body": story} for i, story in enumerate(stories)]
    first = model.add(news[:2])
    assert "kellman" not in model.vectorizer_.vocabulary_  # in 2 articles, min_df is 3
    assert model.related_to("Kellmane") == []
    third = model.add(news[2:])
    assert {"kellman", "zorvath", "zorvath kellman"} <= set(third.new_terms)
    assert third.reweighed == ["x0", "x1"] and first.reweighed == []
    assert {r.id for r in model.related("x0")} >= {"x1", "x2"}
    assert {r.id for r in model.related_to("Zorvath Kellmane")[:3]} == {"x0", "x1", "x2"}


def test_growth_does_not_depend_on_the_order_within_a_batch(rng):
    rows = random_corpus(rng, 120)
    fitted, added = rows[:90], with_new_words(rng, rows[90:])
    a, b = fit(fitted, min_df=2), fit(fitted, min_df=2)
    a.add(added)
    b.add(added[::-1])
    assert a.vectorizer_.vocabulary_ == b.vectorizer_.vocabulary_
    np.testing.assert_array_equal(a.vectorizer_.idf_, b.vectorizer_.idf_)
    lists_b = b.related_many(a.ids_)
    assert a.related_many(a.ids_) == lists_b


def test_affected_covers_every_list_a_growing_vocabulary_changes(rng):
    rows = random_corpus(rng, 150)
    fitted, added = rows[:110], with_new_words(rng, rows[110:])
    model = fit(fitted, min_df=2, section_policy="any")
    model.add(added[:20])
    before = model.related_many(model.ids_)
    report = model.add(added[20:])
    assert report.reweighed  # earlier added rows changed: their lists may have too
    after = model.related_many(model.ids_)
    affected = set(model.affected([*report.added, *report.reweighed]))
    changed = {i for i in model.ids_ if before.get(i) != after[i]}
    assert changed <= affected


def test_grown_model_survives_save_and_load(tmp_path, rng):
    rows = random_corpus(rng, 140)
    fitted, added = rows[:100], with_new_words(rng, rows[100:])
    model = fit(fitted, min_df=2)
    model.add(added[:20])
    loaded = RelatedArticles.load(model.save(tmp_path / "m"), mmap=True)
    assert loaded.vectorizer_.vocabulary_ == model.vectorizer_.vocabulary_
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)
    assert model.add(added[20:]) == loaded.add(added[20:])  # the counts came back
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)


def test_add_refuses_existing_and_mistyped_ids():
    model = fit([{"id": "a", "body": "storm snow"}, {"id": "b", "body": "storm roads"}])
    with pytest.raises(DuplicateIdError, match=r"already in the model, e\.g\. \['a'\]"):
        model.add([{"id": "a", "body": "storm"}])
    with pytest.raises(InvalidArticleError, match="new ids are int but the model's are str"):
        model.add([{"id": 7, "body": "storm"}])


def test_added_articles_survive_save_and_load(tmp_path, rng):
    rows = random_corpus(rng, 60)
    model = fit(rows[:50])
    model.add(rows[50:])
    model.remove([rows[3]["id"]])
    model.save(tmp_path / "m")
    loaded = RelatedArticles.load(tmp_path / "m")
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)
    assert loaded.removed_ == {rows[3]["id"]}
    assert isinstance(loaded.vectorizer_, FieldTfidfVectorizer)
    assert np.array_equal(loaded.norms_, model.norms_)
