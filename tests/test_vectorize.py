"""The vectorizer: scikit-learn transformer contract, field weights, exactness of the fast bits."""

from __future__ import annotations

import math
import multiprocessing
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer

from relatedness.analysis import LANGUAGES, Analyzer, stop_words_for, tokenize
from relatedness.exceptions import InvalidParameterError
from relatedness.vectorize import FieldTfidfVectorizer

from .conftest import news_rows, random_corpus

#: The settings these tests were written for (the classic model; FieldTfidfVectorizer's own
#: defaults are the shipped ones, relatedness.params.DEFAULTS).
CLASSIC = {"ngram_range": (1, 1), "idf_power": 1.0}


def vec(**params) -> FieldTfidfVectorizer:
    return FieldTfidfVectorizer(**{"min_df": 1, **CLASSIC, **params})


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
        v = FieldTfidfVectorizer(min_df=2, max_df=0.5, **CLASSIC).fit([{"body": "storm snow"}])
    assert (v.effective_min_df_, v.effective_max_df_) == (1, 1.0)


def test_min_df_prunes_rare_terms():
    docs = [{"body": "storm snow"}, {"body": "storm roads"}, {"body": "storm cup"}]
    v = FieldTfidfVectorizer(min_df=2, **CLASSIC).fit(docs)
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


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"stem": False},
        {"stop_words": None},
        {"language": "french"},
        {"fields": {"title": 2.0, "body": 1.0, "tags": 0.5}},
        {"ngram_range": (1, 2)},
        {"ngram_range": (1, 2), "stem": False},
        {"ngram_range": (1, 2), "stop_words": None, "language": "french"},
    ],
)
@pytest.mark.parametrize("chunk_docs", [7, 1000])
def test_fast_counting_equals_stemming_every_token(monkeypatch, rng, params, chunk_docs):
    """Issue 3: stem each distinct token once and merge columns == the straightforward path,
    whether the counts come in one chunk or in many (stacked in place)."""
    import relatedness.features.tfidf as tfidf_module

    monkeypatch.setattr(tfidf_module, "COUNT_CHUNK_DOCS", chunk_docs)
    rows = random_corpus(rng, 120)
    for r in rows:
        r["tags"] = ["Budget Talks", "cars"] if r["body"] else []
    v = vec(**params).fit(rows)
    cleaned = [v.clean_document(r) for r in rows]
    fast, fast_vocab = v.count(cleaned, None)
    plain, plain_vocab = v._count_plain(cleaned, None)
    assert set(fast_vocab) == set(plain_vocab)
    order = sorted(plain_vocab)
    for field in fast:
        # float64 counts: the weighting computes on them in place (log1p for sublinear tf).
        assert fast[field].dtype == np.float64
        a = fast[field][:, [fast_vocab[t] for t in order]]
        b = plain[field][:, [plain_vocab[t] for t in order]]
        assert (a != b).nnz == 0
    fixed_fast, _ = v.count(cleaned, dict(v.vocabulary_))
    fixed_plain, _ = v._count_plain(cleaned, v.vocabulary_)
    for field in fixed_fast:
        assert fixed_fast[field].dtype == np.float64
        assert (fixed_fast[field] != fixed_plain[field]).nnz == 0
    # and with a fixed vocabulary (transform)
    X = v.transform(rows)
    fixed, _ = v._count_plain(cleaned, v.vocabulary_)
    assert (v.weigh(fixed, v.idf_) != X).nnz == 0


def test_counts_of_texts_too_long_for_float32_are_float64(monkeypatch, rng):
    """Raw counts are float32 only while a text is too short to hold 2**24 tokens; a chunk
    with a longer text (a raised max_chars) is counted in float64, with the same result."""
    import relatedness.features.counting as counting_module

    rows = random_corpus(rng, 60)
    v = vec().fit(rows)
    cleaned = [v.clean_document(r) for r in rows]
    texts = {"body": [c["body"] for c in cleaned]}
    stop = v.analyzer().stop
    _, small = counting_module.count_raw_chunk(texts, stop)
    assert small["body"].dtype == np.float32
    want, _ = v.count(cleaned, None)
    monkeypatch.setattr(counting_module, "FLOAT32_COUNT_CHARS", 10)
    _, large = counting_module.count_raw_chunk(texts, stop)
    assert large["body"].dtype == np.float64
    got, _ = v.count(cleaned, None)
    for field in want:
        assert (got[field] != want[field]).nnz == 0


def test_a_chunks_vocabulary_is_one_string_naming_its_columns():
    """Regression (1M fit memory): a chunk's vocabulary comes back as one joined string, not
    ~22,000 str objects held until the merge; split, it names each count column, whatever
    the script (tokens are runs of letters and digits, never the separator)."""
    from relatedness.features.counting import count_raw_chunk

    texts = {
        "title": ["Café naïve crème", "", "Погода: снег и лёд"],
        "body": ["the snow 2024 snow", "a b c", "οδός\nstreet_name ok"],
    }
    stop = frozenset({"the"})
    joined, counts = count_raw_chunk(texts, stop)
    assert isinstance(joined, str)
    vocab = joined.split("\n")
    assert len(vocab) == len(set(vocab)) == counts["body"].shape[1]
    for field, docs in texts.items():
        matrix = counts[field]
        for row, text in enumerate(docs):
            named = [vocab[c] for c in matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]]
            assert named == [t for t in tokenize(text) if t not in stop]
    empty_vocab, empty = count_raw_chunk({"body": ["", "a"]}, stop)
    assert empty_vocab == "" and empty["body"].shape == (2, 0)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_rows=st.integers(0, 14),
    n_columns=st.integers(1, 9),
    n_fields=st.integers(1, 3),
    block_rows=st.integers(1, 5),
)
def test_document_frequencies_equal_the_union_of_the_fields(
    seed, n_rows, n_columns, n_fields, block_rows
):
    """Oracle: a column's df is the number of rows where any field stores it, whatever the
    block size, with duplicate or unsorted entries, empty rows and empty fields."""
    import relatedness.features.counting as counting_module

    rng = np.random.default_rng(seed)
    matrices = []
    for _ in range(n_fields):
        dense = rng.random((n_rows, n_columns)) < rng.choice([0.0, 0.2, 0.7, 1.0])
        rows, columns = np.nonzero(dense)
        if rng.random() < 0.5:  # repeated and shuffled entries: not canonical
            rows, columns = np.tile(rows, 2), np.tile(columns, 2)
            order = rng.permutation(len(rows))
            rows, columns = rows[order], columns[order]
        # Built from indptr/indices (a COO constructor would sum the repeats away).
        by_row = np.argsort(rows, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
        matrix = sp.csr_matrix(
            (np.ones(len(rows)), columns[by_row], indptr), shape=(n_rows, n_columns)
        )
        matrices.append((matrix, dense))
    want = np.zeros((n_rows, n_columns), dtype=bool)
    for _, dense in matrices:
        want |= dense
    old = counting_module.DF_BLOCK_ROWS, counting_module.PRUNE_BLOCK_ENTRIES
    counting_module.DF_BLOCK_ROWS = counting_module.PRUNE_BLOCK_ENTRIES = block_rows
    try:
        got = counting_module.document_frequencies([m for m, _ in matrices], n_rows, n_columns)
    finally:
        counting_module.DF_BLOCK_ROWS, counting_module.PRUNE_BLOCK_ENTRIES = old
    np.testing.assert_array_equal(got, want.sum(axis=0))


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_rows=st.integers(0, 12),
    n_columns=st.integers(1, 9),
    share_kept=st.sampled_from([0.0, 0.5, 1.0]),
    block=st.integers(1, 6),
)
def test_pruning_columns_in_place_equals_column_selection(
    seed, n_rows, n_columns, share_kept, block
):
    """Oracle: the fit's in-place pruning gives ``matrix[:, kept]`` for any block size, with
    empty rows, nothing kept and everything kept (kept columns in any order)."""
    import relatedness.features.counting as counting_module

    rng = np.random.default_rng(seed)
    dense = (rng.random((n_rows, n_columns)) < rng.choice([0.0, 0.3, 1.0])) * rng.integers(
        1, 5, (n_rows, n_columns)
    )
    matrix = sp.csr_matrix(dense.astype(np.float64))
    kept = rng.permutation(np.flatnonzero(rng.random(n_columns) < share_kept))
    new_column = np.full(n_columns, -1, dtype=np.int64)
    new_column[kept] = np.arange(len(kept))
    old = counting_module.PRUNE_BLOCK_ENTRIES
    counting_module.PRUNE_BLOCK_ENTRIES = block
    try:
        got = counting_module.keep_columns(matrix.copy(), new_column, len(kept))
    finally:
        counting_module.PRUNE_BLOCK_ENTRIES = old
    assert got.shape == (n_rows, len(kept))
    assert got.nnz == np.count_nonzero(dense[:, kept])
    np.testing.assert_array_equal(got.toarray(), dense[:, kept])


def test_stacking_chunks_returns_their_freed_memory_as_it_goes(monkeypatch):
    """Regression (1M fit peak): the chunks' freed heap is handed back while they are copied
    into one matrix, not only at the end (the holes held ~1.7 GiB), and the stacked matrix is
    the relabelled vstack."""
    import relatedness.features.counting as counting_module

    trims: list[int] = []
    monkeypatch.setattr(counting_module, "trim_heap", lambda: trims.append(1))
    monkeypatch.setattr(counting_module, "TRIM_EVERY_CHUNKS", 3)
    rng = np.random.default_rng(5)
    chunks = [sp.random(4, 6, density=0.4, format="csr", random_state=rng) for _ in range(7)]
    remaps = [rng.permutation(8)[:6] for _ in chunks]
    want = sp.vstack(
        [
            sp.csr_matrix((m.data, r[m.indices], m.indptr), shape=(4, 8))
            for m, r in zip(chunks, remaps, strict=True)
        ]
    )
    got = counting_module.stack_chunks(list(zip(chunks, remaps, strict=True)), 8)
    assert len(trims) == 7 // 3 + 1
    np.testing.assert_array_equal(got.toarray(), want.toarray())


def test_text_that_cleaning_leaves_as_is_is_kept_not_copied():
    """Most bodies are already clean: the fit keeps the article's own string instead of an
    equal copy (a copy of every body was the largest allocation of a 1M-article fit)."""
    rows = [
        {"id": "a", "title": "River flood", "body": "The river flooded the town."},
        {"id": "b", "title": "<b>Storm</b> warning", "body": "<p>Snow closed</p> the roads."},
    ]
    _, cleaned = vec().fit_transform_cleaned(rows)
    assert cleaned[0]["title"] is rows[0]["title"]
    assert cleaned[0]["body"] is rows[0]["body"]
    assert cleaned[1]["title"] == "Storm warning"
    assert "<p>" not in cleaned[1]["body"]


def test_parallel_vectorizing_is_identical_to_serial(monkeypatch, rng):
    """Issue 3: any n_jobs and chunking gives bit-identical rows."""
    import relatedness.features.parallel as parallel_module
    import relatedness.features.tfidf as tfidf_module

    monkeypatch.setattr(parallel_module, "PARALLEL_MIN_DOCS", 10)
    monkeypatch.setattr(tfidf_module, "BACKGROUND_MIN_DOCS", 10)
    rows = random_corpus(rng, 200)
    serial = vec(n_jobs=1).fit(rows)
    for n_jobs in (2, 3):  # 3: joblib chunks (PARALLEL_MIN_WORKERS) and the stemming child
        parallel = vec(n_jobs=n_jobs).fit(rows)
        assert serial.vocabulary_ == parallel.vocabulary_
        assert np.array_equal(serial.idf_, parallel.idf_)
        assert (serial.transform(rows) != parallel.transform(rows)).nnz == 0


def test_raw_tokens_equal_the_regular_expression():
    """Issue 3: the ASCII translate-and-split path gives the regex's tokens."""
    from relatedness.features.analysis import _TOKEN, raw_tokens

    ascii_chars = "".join(map(chr, range(128)))
    texts = [ascii_chars, ascii_chars[::-1] * 2, "BBC_News 4.75% a-b", ""]
    texts += ["caf\u00e9 Stra\u00dfe x"]
    rng = np.random.default_rng(0)
    texts += ["".join(rng.choice(list(ascii_chars + "\u00e9\u0130"), size=60)) for _ in range(300)]
    for t in texts:
        assert raw_tokens(t) == _TOKEN.findall(t.lower()), repr(t)


def _assert_same_fit(a, b, rows):
    assert a.vocabulary_ == b.vocabulary_
    assert np.array_equal(a.idf_, b.idf_)
    xa, xb = a.transform(rows), b.transform(rows)
    assert np.array_equal(xa.indptr, xb.indptr) and np.array_equal(xa.indices, xb.indices)
    assert np.array_equal(xa.data, xb.data)


_FORK_SCRIPT = """
import os, sys, threading, time
sys.path.insert(0, {tests!r})
import numpy as np
import relatedness.features.tfidf as vm
import relatedness.features.parallel as parallel
from conftest import random_corpus

rows = random_corpus(np.random.default_rng(7), 200)
classic = dict(min_df=1, ngram_range=(1, 1), idf_power=1.0)
serial = vm.FieldTfidfVectorizer(n_jobs=1, **classic).fit(rows)
vm.BACKGROUND_MIN_DOCS = 10
# Small tasks, so that the child gets a share of each step: the parent's own tasks are slowed
# down and counted (the child's copies of these lists are its own).
vm.SHARED_CLEAN_CHUNK, vm.COUNT_CHUNK_DOCS, vm.SHARED_STEM_BATCH = 9, 15, 40
parent, local, real = os.getpid(), {{}}, {{}}
def slowed(name, args):
    if os.getpid() == parent:
        local[name] = local.get(name, 0) + 1
        time.sleep(0.05)
    elif {broken!r}:
        raise RuntimeError("child failed")
    return real[name](*args)
# Top-level functions: the child is sent them by name.
def clean_chunk(*args): return slowed("clean_chunk", args)
def count_raw_chunk(*args): return slowed("count_raw_chunk", args)
def stem_all(*args): return slowed("stem_all", args)
for name, function in [("clean_chunk", clean_chunk), ("count_raw_chunk", count_raw_chunk),
                       ("stem_all", stem_all)]:
    real[name] = getattr(vm, name)
    setattr(vm, name, function)
started = []
real_start = parallel.ForkWorker.start.__func__
parallel.ForkWorker.start = classmethod(lambda cls, *a: started.append(real_start(cls, *a))
                                        or started[-1])
assert threading.active_count() == 1, "a fresh process has one thread: fork is safe"
background = vm.FieldTfidfVectorizer(n_jobs=2, **classic).fit(rows)
in_fit = dict(local)  # the transforms below count in this process
a, b = serial.transform(rows), background.transform(rows)
assert serial.vocabulary_ == background.vocabulary_
assert np.array_equal(serial.idf_, background.idf_)
assert (a != b).nnz == 0 and a.data.tobytes() == b.data.tobytes()
assert started and all(w is not None for w in started), started
# Every step had several tasks; the child took some (unless it failed).
tasks = {{"clean_chunk": -(-len(rows) // 9), "count_raw_chunk": len(rows) // 15}}
assert all(in_fit.get(name, 0) < n or {broken!r} for name, n in tasks.items()), in_fit
print("same")
"""


@pytest.mark.parametrize("broken", [False, True], ids=["child-works", "child-fails"])
def test_background_worker_is_identical_or_falls_back(broken):
    """Issue 3: cleaning, counting and stemming shared with a forked child give the serial
    rows; the tasks of a failing child are run in-process. Run in a fresh one-thread process
    (as the library requires before it forks), with a timeout so a stuck child fails instead
    of hanging."""
    import subprocess
    import sys
    from pathlib import Path

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform: the background worker is never used")
    script = _FORK_SCRIPT.format(tests=str(Path(__file__).parent), broken=broken)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"


_EARLY_FORK_SCRIPT = """
import multiprocessing, sys, warnings
sys.path.insert(0, {tests!r})
warnings.simplefilter("ignore")  # the random corpus has empty articles
import numpy as np
import relatedness.features.tfidf as vm
from relatedness import RelatedArticles
from conftest import random_corpus

vm.BACKGROUND_MIN_DOCS = 100
rows = random_corpus(np.random.default_rng(7), 300)
helpers_when_read = []

def articles(rows):
    helpers_when_read.append(len(multiprocessing.active_children()))
    yield from rows

params = dict(min_df=1, ngram_range=(1, 1), feedback=0, idf_power=1.0)
forked = RelatedArticles(n_jobs=2, **params).fit(articles(rows))
assert helpers_when_read == [1], helpers_when_read  # forked before the first article
assert not multiprocessing.active_children()  # and stopped by the end of the fit
serial = RelatedArticles(n_jobs=1, **params).fit(rows)
a, b = forked.index_.matrix, serial.index_.matrix
assert (a != b).nnz == 0 and a.data.tobytes() == b.data.tobytes()
assert forked.snippets_ == serial.snippets_ and forked.titles_ == serial.titles_
# Too few articles to share: the unused helper is stopped, the fit is the same.
few = RelatedArticles(n_jobs=2, **params).fit(articles(rows[:40]))
assert helpers_when_read[-1] == 1 and not multiprocessing.active_children()
assert few.vectorizer_.vocabulary_ == RelatedArticles(n_jobs=1, **params).fit(
    rows[:40]).vectorizer_.vocabulary_
# Refused articles: the helper is stopped too.
try:
    RelatedArticles(n_jobs=2, **params).fit(articles([{{"id": "x", "body": None}}]))
except TypeError:  # InvalidArticleError
    pass
else:
    raise AssertionError("the article without a body was accepted")
assert not multiprocessing.active_children()
print("same")
"""


def test_the_fit_forks_its_helper_before_reading_the_articles():
    """Regression (1M fit, 2.9 GiB in the helper): a helper forked after the corpus was read
    copied the pages of the inherited heap that its own allocations landed in (620 MiB
    private at 200k articles, 108 MiB forked first). RelatedArticles.fit forks it before it
    reads the input, sends it the documents, stops it whatever happens, and the rows are
    those of a serial fit."""
    import subprocess
    import sys
    from pathlib import Path

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform: the background worker is never used")
    script = _EARLY_FORK_SCRIPT.format(tests=str(Path(__file__).parent))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"


def test_transform_of_the_fitted_articles_equals_their_rows_bit_for_bit():
    """transform() relabels raw columns instead of the fit's merge product: same bits."""
    rows = news_rows()
    v = vec()
    X = v.fit_transform(rows)
    for i, row in enumerate(rows):
        one = v.transform([row])
        assert one.indices.tolist() == X[i].indices.tolist()
        assert one.data.tobytes() == X[i].data.tobytes()
    many = v.transform(rows)
    assert (many != X).nnz == 0


@pytest.mark.parametrize("power", [0.0, 0.25, 0.5, 2.0])
def test_idf_power_weighs_terms_by_a_power_of_idf(power):
    rows = news_rows()
    plain, flat = vec(), vec(idf_power=power)
    X, Y = plain.fit_transform(rows), flat.fit_transform(rows)
    np.testing.assert_array_equal(plain.idf_, flat.idf_)  # idf_ itself is unchanged
    # Undo idf, apply idf ** power, normalise: the reference row.
    want = X.toarray().astype(np.float64) * flat.idf_ ** (power - 1.0)
    norms = np.linalg.norm(want, axis=1, keepdims=True)
    want = np.divide(want, norms, out=np.zeros_like(want), where=norms > 0)
    np.testing.assert_allclose(Y.toarray(), want, atol=1e-6)


def test_idf_power_one_is_bit_identical_to_classic_tfidf():
    rows = news_rows()
    X, Y = vec().fit_transform(rows), vec(idf_power=1.0).fit_transform(rows)
    assert X.data.tobytes() == Y.data.tobytes()


def test_regression_transform_raised_every_idf_to_the_power_per_query():
    """A query's transform took idf ** idf_power over the whole vocabulary (~5 ms at 100k
    articles). The weights are kept, and follow a new power or a new idf_ array."""
    rows = news_rows()
    v = vec(idf_power=0.25).fit(rows)
    first = v._term_weights(v.idf_)
    assert v._term_weights(v.idf_) is first
    one = v.transform(rows[:1])
    np.testing.assert_array_equal(first, v.idf_**0.25)
    v.set_params(idf_power=0.5)
    np.testing.assert_array_equal(v._term_weights(v.idf_), v.idf_**0.5)
    v.idf_ = v.idf_ * 2.0
    np.testing.assert_array_equal(v._term_weights(v.idf_), v.idf_**0.5)
    v.set_params(idf_power=0.25)
    v.idf_ = v.idf_ / 2.0
    again = v.transform(rows[:1])
    assert again.data.tobytes() == one.data.tobytes()


@pytest.mark.parametrize("power", [-0.5, 4.5, "1", None, float("nan")])
def test_invalid_idf_power_is_refused(power):
    with pytest.raises(InvalidParameterError, match="idf_power"):
        vec(idf_power=power).fit(news_rows())


# ---------------------------------------------------------------- word pairs pruned as counted


def _fit_without_pair_pruning(monkeypatch, params, rows):
    """The reference: every distinct pair gets a column; only the final _prune removes them."""
    real = FieldTfidfVectorizer._count_pairs
    with monkeypatch.context() as patch:
        patch.setattr(
            FieldTfidfVectorizer, "_count_pairs", staticmethod(lambda *args: real(*args[:5]))
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return FieldTfidfVectorizer(**params).fit(rows)


PAIR_ROWS = [
    {"title": "Storm snow", "body": "storm snow roads closed. Snow roads"},
    {"title": "Snow storm", "body": "roads closed snow storm"},
    {"title": "", "body": "storm rain roads closed"},
    {"title": "Cup final", "body": "cup final storm snow"},
]


@pytest.mark.parametrize(
    "params",
    [
        {"min_df": 2},
        {"min_df": 3},
        {"min_df": 0.5},  # a share of the corpus (a float bound)
        {"min_df": 1, "max_df": 2},  # pairs pruned from above
        {"min_df": 2, "max_df": 0.6},
        {"min_df": 3, "max_df": 2},  # contradicting bounds: relaxed, every pair kept
        {"min_df": 10},  # nothing survives: relaxed, every pair kept
        {"min_df": 2, "stop_words": None, "stem": False},
    ],
)
def test_pair_pruning_while_counting_equals_pruning_afterwards(monkeypatch, params):
    params = {"ngram_range": (1, 2), **params}
    with warnings.catch_warnings(record=True) as pruned_warnings:
        warnings.simplefilter("always")
        pruned = FieldTfidfVectorizer(**params).fit(PAIR_ROWS)
    full = _fit_without_pair_pruning(monkeypatch, params, PAIR_ROWS)
    _assert_same_fit(pruned, full, PAIR_ROWS)
    assert (pruned.effective_min_df_, pruned.effective_max_df_) == (
        full.effective_min_df_,
        full.effective_max_df_,
    )
    relaxed = any("using min_df=1" in str(w.message) for w in pruned_warnings)
    assert relaxed == (pruned.effective_min_df_ != params["min_df"])


def test_pair_pruning_when_words_survive_but_no_pair_does(monkeypatch):
    """No pair reaches min_df: the pairs are all kept while counting (the bounds could still
    be relaxed) and removed afterwards, leaving the words."""
    rows = [{"body": "storm snow"}, {"body": "snow storm"}, {"body": "storm rain"}]
    params = {"ngram_range": (1, 2), "min_df": 2, "stop_words": None, "stem": False}
    pruned = FieldTfidfVectorizer(**params).fit(rows)
    assert sorted(pruned.vocabulary_) == ["snow", "storm"]
    _assert_same_fit(pruned, _fit_without_pair_pruning(monkeypatch, params, rows), rows)


@pytest.mark.parametrize("params", [{"min_df": 2}, {"min_df": 0.02, "max_df": 0.3}])
def test_pair_pruning_on_a_random_corpus(monkeypatch, rng, params):
    rows = random_corpus(rng, 300)
    params = {"ngram_range": (1, 2), **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = FieldTfidfVectorizer(**params).fit(rows)
    full = _fit_without_pair_pruning(monkeypatch, params, rows)
    assert any(" " in t for t in pruned.vocabulary_)
    _assert_same_fit(pruned, full, rows)
    assert pruned.fit_transform(rows).data.tobytes() == full.fit_transform(rows).data.tobytes()


def test_pruned_pair_counts_equal_the_analyzer_path(rng):
    """_count with df bounds: the pairs within them, and every word, counted as the plain
    path counts them; the pairs outside them have no column."""
    rows = random_corpus(rng, 150)
    v = vec(ngram_range=(1, 2)).fit(rows)
    cleaned = [v.clean_document(r) for r in rows]
    low, high = 2, 40
    fast, fast_vocab = v.count(cleaned, None, None, (low, high))
    plain, plain_vocab = v._count_plain(cleaned, None)
    presence = sum(plain.values(), sp.csr_matrix((len(rows), len(plain_vocab))))
    df = np.bincount(sp.csr_matrix(presence).indices, minlength=len(plain_vocab))
    want = {t for t, j in plain_vocab.items() if " " not in t or low <= df[j] <= high}
    assert set(fast_vocab) == want and any(" " in t for t in want)
    order = sorted(want)
    for field in fast:
        a = fast[field][:, [fast_vocab[t] for t in order]]
        b = plain[field][:, [plain_vocab[t] for t in order]]
        assert (a != b).nnz == 0
