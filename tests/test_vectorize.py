"""The vectorizer: scikit-learn transformer contract, field weights, exactness of the fast bits."""

from __future__ import annotations

import math
import multiprocessing
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer

from relatedness.analysis import LANGUAGES, Analyzer, stop_words_for, tokenize
from relatedness.vectorize import FieldTfidfVectorizer

from .conftest import news_rows, random_corpus


def vec(**params) -> FieldTfidfVectorizer:
    return FieldTfidfVectorizer(**{"min_df": 1, **params})


def test_transformer_contract():
    v = vec(fields={"title": 1.0, "body": 1.0})
    assert clone(v).get_params() == v.get_params()
    X = v.fit_transform(news_rows())
    assert sp.issparse(X) and X.dtype == np.float32
    assert X.shape == (len(news_rows()), len(v.get_feature_names_out()))
    np.testing.assert_allclose(v.transform(news_rows()).toarray(), X.toarray())
    names = v.get_feature_names_out()
    assert list(names) == sorted(names)
    assert v.set_params(min_df=2) is v


def test_rows_are_unit_norm_or_empty():
    X = vec().fit_transform(news_rows())
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert np.all((np.abs(norms - 1) < 1e-6) | (norms == 0))


def test_field_weights_match_a_hand_computed_row():
    """Title weight 2, body 1, sublinear tf, smooth idf, L2 norm, computed by hand."""
    docs = [{"title": "storm", "body": "storm storm snow"}, {"title": "", "body": "snow roads"}]
    v = vec(fields={"title": 2.0, "body": 1.0}, stop_words=None, stem=False)
    X = v.fit_transform(docs).toarray()
    n = 2
    dfs = {"storm": 1, "snow": 2, "roads": 1}
    idf = {t: math.log((1 + n) / (1 + df)) + 1 for t, df in dfs.items()}
    storm = (2.0 * 1 + 1.0 * (1 + math.log(2))) * idf["storm"]
    snow = 1.0 * idf["snow"]
    norm = math.hypot(storm, snow)
    col = v.vocabulary_
    assert X[0, col["storm"]] == pytest.approx(storm / norm, rel=1e-6)
    assert X[0, col["snow"]] == pytest.approx(snow / norm, rel=1e-6)
    assert X[0, col["roads"]] == 0


def test_raw_counts_when_sublinear_is_off():
    docs = [{"body": "storm storm storm snow"}, {"body": "roads"}]
    v = vec(sublinear_tf=False, stop_words=None, stem=False, fields={"body": 1.0})
    X = v.fit_transform(docs).toarray()
    idf = v.idf_
    c = v.vocabulary_
    expected = np.array([3 * idf[c["storm"]], idf[c["snow"]]])
    np.testing.assert_allclose(
        X[0, [c["storm"], c["snow"]]], expected / np.linalg.norm(expected), rtol=1e-6
    )


def test_equals_sklearn_tfidf_on_one_field():
    """Body only, no stemming, no stop words: the same rows as TfidfVectorizer."""
    rows = random_corpus(np.random.default_rng(3), 40)
    bodies = [r["body"] for r in rows]
    ours = vec(fields={"body": 1.0}, stop_words=None, stem=False, sublinear_tf=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = ours.fit_transform(bodies)
    ref = TfidfVectorizer(sublinear_tf=True, token_pattern=r"[^\W_]{2,}", dtype=np.float64)
    Y = ref.fit_transform(bodies)
    assert list(ours.get_feature_names_out()) == list(ref.get_feature_names_out())
    np.testing.assert_allclose(X.toarray(), Y.toarray(), atol=1e-6)


def test_min_df_relaxed_on_tiny_corpus_with_a_warning():
    with pytest.warns(UserWarning, match="using min_df=1 and max_df=1.0 instead"):
        v = FieldTfidfVectorizer(min_df=2, max_df=0.5).fit([{"body": "storm snow"}])
    assert (v.effective_min_df_, v.effective_max_df_) == (1, 1.0)


def test_min_df_prunes_rare_terms():
    docs = [{"body": "storm snow"}, {"body": "storm roads"}, {"body": "storm cup"}]
    v = FieldTfidfVectorizer(min_df=2).fit(docs)
    assert list(v.get_feature_names_out()) == ["storm"]


def test_bigrams():
    v = vec(ngram_range=(1, 2), stop_words=None, stem=False).fit([{"body": "cup final win"}])
    assert "cup final" in v.vocabulary_ and "final win" in v.vocabulary_


def test_unknown_words_are_ignored_at_transform():
    v = vec().fit(news_rows())
    assert v.transform(["zyxwv qwrtp"]).nnz == 0


def test_state_round_trip_rebuilds_an_identical_transform():
    v = vec(boilerplate_patterns=["^Advert"]).fit(news_rows())
    params, terms, idf, lines = v.to_state()
    w = FieldTfidfVectorizer.from_state(params, terms, idf, lines)
    assert (v.transform(news_rows()) != w.transform(news_rows())).nnz == 0


# ---------------------------------------------------------------- analysis


def test_tokenize_caps_token_length():
    blob = "x" * 41
    assert tokenize(f"ok {blob} fine a") == ["ok", "fine"]


def test_memoized_stemming_equals_plain_snowball():
    from nltk.stem.snowball import SnowballStemmer

    text = " ".join(w for r in news_rows() for w in (r["title"] + " " + r["body"]).split())
    analyzer = Analyzer(stop_words=None)
    plain = SnowballStemmer("english")
    assert analyzer(text) == [plain.stem(t) for t in tokenize(text)]
    assert analyzer(text) == analyzer(text)  # second call served from the memo


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_stop_words_and_a_stemmer(language):
    assert len(stop_words_for(language)) > 20
    assert Analyzer(language=language)("information information") != []


def test_analyzer_pickles_without_its_memo():
    import pickle

    a = Analyzer()
    a("running runners")
    b = pickle.loads(pickle.dumps(a))
    assert b._cache == {} and b("running runners") == a("running runners")


# ---------------------------------------------------------------- the fast counting path


@pytest.mark.parametrize("params", [
    {}, {"stem": False}, {"stop_words": None}, {"language": "french"},
    {"fields": {"title": 2.0, "body": 1.0, "tags": 0.5}},
])
def test_fast_counting_equals_stemming_every_token(rng, params):
    """Issue 3: stem each distinct token once and merge columns == the straightforward path."""
    rows = random_corpus(rng, 120)
    for r in rows:
        r["tags"] = ["Budget Talks", "cars"] if r["body"] else []
    v = vec(**params).fit(rows)
    cleaned = [v.clean_document(r) for r in rows]
    fast, fast_vocab = v._count(cleaned, None)
    plain, plain_vocab = v._count_plain(cleaned, None)
    assert set(fast_vocab) == set(plain_vocab)
    order = sorted(plain_vocab)
    for field in fast:
        a = fast[field][:, [fast_vocab[t] for t in order]]
        b = plain[field][:, [plain_vocab[t] for t in order]]
        assert (a != b).nnz == 0
    # and with a fixed vocabulary (transform)
    X = v.transform(rows)
    fixed, _ = v._count_plain(cleaned, v.vocabulary_)
    assert (v._weigh(fixed, v.idf_) != X).nnz == 0


def test_parallel_vectorizing_is_identical_to_serial(monkeypatch, rng):
    """Issue 3: any n_jobs and chunking gives bit-identical rows."""
    import relatedness.vectorize as vectorize_module

    monkeypatch.setattr(vectorize_module, "PARALLEL_MIN_DOCS", 10)
    monkeypatch.setattr(vectorize_module, "BACKGROUND_STEM_MIN_DOCS", 10)
    rows = random_corpus(rng, 200)
    serial = vec(n_jobs=1).fit(rows)
    for n_jobs in (2, 3):  # 3: joblib chunks (PARALLEL_MIN_WORKERS) and the stemming child
        parallel = vec(n_jobs=n_jobs).fit(rows)
        assert serial.vocabulary_ == parallel.vocabulary_
        assert np.array_equal(serial.idf_, parallel.idf_)
        assert (serial.transform(rows) != parallel.transform(rows)).nnz == 0


def test_raw_tokens_equal_the_regular_expression():
    """Issue 3: the ASCII translate-and-split path gives the regex's tokens."""
    from relatedness.analysis import _TOKEN, _raw_tokens

    ascii_chars = "".join(map(chr, range(128)))
    texts = [ascii_chars, ascii_chars[::-1] * 2, "BBC_News 4.75% a-b", ""]
    texts += ["caf\u00e9 Stra\u00dfe x"]
    rng = np.random.default_rng(0)
    texts += ["".join(rng.choice(list(ascii_chars + "\u00e9\u0130"), size=60)) for _ in range(300)]
    for t in texts:
        assert _raw_tokens(t) == _TOKEN.findall(t.lower()), repr(t)


def _assert_same_fit(a, b, rows):
    assert a.vocabulary_ == b.vocabulary_
    assert np.array_equal(a.idf_, b.idf_)
    xa, xb = a.transform(rows), b.transform(rows)
    assert np.array_equal(xa.indptr, xb.indptr) and np.array_equal(xa.indices, xb.indices)
    assert np.array_equal(xa.data, xb.data)


def test_background_stemming_is_identical(monkeypatch, rng):
    """Issue 3: stemming in a forked child while counting gives the serial rows."""
    import relatedness.vectorize as vectorize_module

    rows = random_corpus(rng, 200)
    serial = vec(n_jobs=1).fit(rows)
    monkeypatch.setattr(vectorize_module, "BACKGROUND_STEM_MIN_DOCS", 10)
    started = []
    real_start = vectorize_module._StemWorker.start.__func__

    def spy(cls, language, n_jobs):
        worker = real_start(cls, language, n_jobs)
        started.append(worker)
        return worker

    monkeypatch.setattr(vectorize_module._StemWorker, "start", classmethod(spy))
    # Earlier tests leave idle pool threads behind, which turn the worker off; forking is
    # safe here, so let it start.
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    background = vec(n_jobs=2).fit(rows)
    _assert_same_fit(serial, background, rows)
    if "fork" in multiprocessing.get_all_start_methods():
        assert started and all(w is not None for w in started)


def test_background_stemming_falls_back_when_the_child_fails(monkeypatch, rng):
    import os

    import relatedness.vectorize as vectorize_module

    rows = random_corpus(rng, 120)
    serial = vec(n_jobs=1).fit(rows)
    parent = os.getpid()
    real = vectorize_module._stem_chunk

    def broken_in_child(tokens, language):
        if os.getpid() != parent:
            msg = "child failed"
            raise RuntimeError(msg)
        return real(tokens, language)

    monkeypatch.setattr(vectorize_module, "BACKGROUND_STEM_MIN_DOCS", 10)
    monkeypatch.setattr(vectorize_module, "_stem_chunk", broken_in_child)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    _assert_same_fit(serial, vec(n_jobs=2).fit(rows), rows)
