"""Model files: save/load round trips, determinism, corruption, tampering and atomic writes.

A model directory is untrusted input. Every way it can be broken (truncated, flipped, deleted,
edited, replaced by a pickle) must raise ``ModelFormatError`` naming the file and the check
that failed, and nothing from the files may ever be executed (BAD_INPUTS rows 6, 16, 17, 20).

Most tests copy one saved model (a module fixture) into ``tmp_path`` and break the copy.
"Resealing" a file means also rewriting its SHA-256 and size in ``manifest.json``, as an
attacker (or a buggy tool) that knows the format would: checksums then pass, and the later
parse and structure checks must still catch the damage.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import json
import mmap
import os
import pickle
import random
import re
import shutil
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from relatedness import RelatedArticles
from relatedness.exceptions import (
    InvalidArticleError,
    ModelFormatError,
    NotFittedError,
    RelatednessError,
    UnknownArticleError,
)
from relatedness.store import CURRENT, current_version

from .conftest import SEED, news_rows, random_corpus

MANIFEST = "manifest.json"
ARRAY_FILES = (
    "matrix.data.npy", "matrix.indices.npy", "matrix.indptr.npy", "idf.npy", "norms.npy"
)
JSON_FILES = ("vocabulary.json", "articles.json", "boilerplate.json")
DATA_FILES = ARRAY_FILES + JSON_FILES
FILES = (MANIFEST, *DATA_FILES)

#: A line the corpus boilerplate rule learns (it recurs in 8 of the 14 fixture articles).
BOILERPLATE = "Read more stories from the Daily Planet newsroom"
#: Settings of the saved fixture model (k and policy differ from the defaults on purpose).
PARAMS: dict[str, Any] = {"k": 4, "section_policy": "prefer", "min_df": 1}
QUERIES: tuple[Any, ...] = (
    "The finance minister defended tax cuts before the budget vote",
    {"title": "Cup final", "body": "The coach praised the players", "section": "sport"},
    f"Interest rates and inflation\n{BOILERPLATE}\nat the central bank",
    "Московский театр открыл сезон",
)


# --------------------------------------------------------------------------------- helpers


def fit_quietly(rows: list[dict], **params: Any) -> RelatedArticles:
    """Fit, silencing the expected UserWarnings (empty articles, relaxed df thresholds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return RelatedArticles(**{**PARAMS, **params}).fit(rows)


def rich_rows(*, int_ids: bool = False) -> list[dict]:
    """The fixture news with urls, a learned boilerplate line and every kind of date.

    ``published`` mixes date objects, ISO dates, naive datetimes (with microseconds), an
    aware ISO datetime and None. Int ids include values above 2**53 (not exact in a float).
    """
    rows = news_rows()
    for i, row in enumerate(rows):
        if int_ids:
            row["id"] = 2**53 + 2 * i + 1 if i % 2 else i
        day = row["published"]
        if day is not None and i % 4 == 1:
            row["published"] = dt.datetime.fromisoformat(f"{day}T08:30:15.250000")
        elif day is not None and i % 4 == 2:
            row["published"] = dt.date.fromisoformat(day)
        elif day is not None and i % 4 == 3:
            row["published"] = f"{day}T23:59:59+02:00"
        row["url"] = f"https://news.example/{row['id']}"
        if i < 8:
            row["body"] += f"\n{BOILERPLATE}"
    return rows


def answers(model: RelatedArticles) -> dict[str, Any]:
    """Everything the query API returns, for every id; compared with ``==`` (exact floats)."""
    ids = list(model.ids_)
    return {
        "related": {i: model.related(i) for i in ids},
        "related_to": [model.related_to(q) for q in QUERIES],
        "related_many": model.related_many(ids, k=50),
    }


def lists(model: RelatedArticles) -> dict[Any, list]:
    """A cheaper fingerprint than :func:`answers`: every article's list and the text queries."""
    return {"many": model.related_many(model.ids_), "to": [model.related_to(q) for q in QUERIES]}


def read_manifest(directory: Path) -> dict[str, Any]:
    return json.loads((current_version(directory) / MANIFEST).read_text(encoding="utf-8"))


def write_manifest(directory: Path, manifest: Any) -> None:
    path = current_version(directory) / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))


def edit_manifest(directory: Path, edit) -> None:
    manifest = read_manifest(directory)
    edit(manifest)
    write_manifest(directory, manifest)


def reseal(directory: Path, name: str, data: bytes) -> None:
    """Write ``data`` as ``name`` and rewrite its SHA-256 and size in the manifest."""
    (directory / name).write_bytes(data)

    def update(manifest: dict) -> None:
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    edit_manifest(directory, update)


def npy_bytes(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def reseal_array(directory: Path, name: str, edit) -> None:
    """Load array ``name``, let ``edit`` return a replacement, write it back resealed."""
    array = np.load(directory / name, allow_pickle=False)
    replacement = edit(array.copy())
    data = replacement if isinstance(replacement, bytes) else npy_bytes(replacement)
    reseal(directory, name, data)


def reseal_json(directory: Path, name: str, edit) -> None:
    """Load JSON ``name``, let ``edit`` mutate it (or return a replacement), reseal it."""
    document = json.loads((directory / name).read_text(encoding="utf-8"))
    replacement = edit(document)
    document = document if replacement is None else replacement
    reseal(directory, name, json.dumps(document).encode("utf-8"))


def fails(directory: Path, name: str, check: str, **load_kwargs: Any) -> ModelFormatError:
    """Assert load raises ModelFormatError whose message is '<dir>/<name>: <check ...>'."""
    where = directory / name if name else directory
    with pytest.raises(ModelFormatError, match=re.escape(f"{where}: ") + check) as info:
        RelatedArticles.load(directory, **load_kwargs)
    assert isinstance(info.value, ValueError)
    return info.value


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".tmp-"))


def memory_mapped(array: Any) -> bool:
    while array is not None:
        if isinstance(array, np.memmap | mmap.mmap):
            return True
        array = getattr(array, "base", None)
    return False


class Saved(NamedTuple):
    model: RelatedArticles
    directory: Path
    answers: dict[str, Any]


def save_rich(tmp_path_factory, *, int_ids: bool) -> Saved:
    model = fit_quietly(rich_rows(int_ids=int_ids))
    directory = model.save(tmp_path_factory.mktemp("saved") / "model")
    return Saved(model, directory, answers(model))


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Saved:
    """The rich fixture news with str ids, fitted and saved once."""
    return save_rich(tmp_path_factory, int_ids=False)


@pytest.fixture(scope="module")
def saved_int(tmp_path_factory) -> Saved:
    """The same news with int ids (some above 2**53), fitted and saved once."""
    return save_rich(tmp_path_factory, int_ids=True)


@pytest.fixture(params=["str-ids", "int-ids"])
def either(request) -> Saved:
    return request.getfixturevalue("saved" if request.param == "str-ids" else "saved_int")


@pytest.fixture
def model_dir(saved: Saved, tmp_path: Path) -> Path:
    """A fresh copy of the saved model's files, free to break.

    The copy is of the published version alone: a model directory in the flat layout (what
    saves wrote before versions, and what a version directory is), so every check below is
    also a check that the flat layout still loads.
    """
    directory = tmp_path / "model"
    shutil.copytree(current_version(saved.directory), directory)
    return directory


@pytest.fixture(scope="module")
def signed_master(saved: Saved, tmp_path_factory) -> Path:
    return saved.model.save(tmp_path_factory.mktemp("signed") / "model", key="secret")


@pytest.fixture
def signed_dir(signed_master: Path, tmp_path: Path) -> Path:
    """A fresh copy of the saved model signed with the key "secret"."""
    directory = tmp_path / "signed"
    shutil.copytree(current_version(signed_master), directory)
    return directory


# ------------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("mmap_arrays", [False, True], ids=["read", "mmap"])
def test_round_trip_answers_exactly_the_same(either, mmap_arrays):
    """Row 16 (round trip) and row 6: every query answers the same after load."""
    model, before = either.model, either.answers
    loaded = RelatedArticles.load(either.directory, mmap=mmap_arrays)
    assert answers(loaded) == before
    # the comparison is not vacuous: most articles and most free-text queries have lists
    assert sum(bool(lst) for lst in before["related"].values()) >= 9
    assert sum(bool(lst) for lst in before["related_to"]) >= 3
    assert loaded.vectorizer_.boilerplate_lines_ == model.vectorizer_.boilerplate_lines_
    assert loaded.vectorizer_.boilerplate_lines_, "the corpus rule learned no line"
    if mmap_arrays:
        assert memory_mapped(loaded.index_.matrix.data)
        assert memory_mapped(loaded.index_.matrix.indices)


def test_round_trip_fitted_state(saved):
    loaded = RelatedArticles.load(saved.directory)
    model = saved.model
    for name in ("ids_", "titles_", "sections_", "urls_", "snippets_", "section_names_",
                 "n_articles_", "n_empty_"):
        assert getattr(loaded, name) == getattr(model, name), name
    assert loaded.n_empty_ >= 3  # the fixture's empty rows survive as empty rows
    vec, ref = loaded.vectorizer_, model.vectorizer_
    assert vec.vocabulary_ == ref.vocabulary_
    np.testing.assert_array_equal(vec.idf_, ref.idf_)
    assert (vec.effective_min_df_, vec.effective_max_df_, vec.n_documents_) == (
        ref.effective_min_df_, ref.effective_max_df_, ref.n_documents_)
    got, want = loaded.index_.matrix, model.index_.matrix
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)


def test_saved_model_returns_its_directory(tmp_path, saved):
    directory = tmp_path / "a" / "b"
    assert saved.model.save(directory) == directory
    name = (directory / CURRENT).read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"v-\d{8}T\d{6}Z-[0-9a-f]{8}", name)
    assert current_version(directory) == directory / name
    assert (directory / name / MANIFEST).is_file()


def test_round_trip_keeps_id_types(either):
    """Row 6: int ids stay int (even above 2**53) and str ids stay str."""
    model = either.model
    loaded = RelatedArticles.load(either.directory)
    kind = type(model.ids_[0])
    assert loaded.ids_ == model.ids_
    assert all(type(i) is kind for i in loaded.ids_)
    assert all(type(r.id) is kind for lst in answers(loaded)["related"].values() for r in lst)
    assert read_manifest(either.directory)["id_type"] == kind.__name__
    if kind is int:
        big = max(loaded.ids_)
        assert big > 2**53 and loaded.related(big) == model.related(big)
        with pytest.raises(UnknownArticleError, match="an int id"):
            loaded.related(str(big))
    else:
        with pytest.raises(UnknownArticleError):
            loaded.related(0)


def test_round_trip_keeps_dates_and_datetimes(saved):
    """Dates stay dates, datetimes stay datetimes (microseconds kept), None stays None."""
    loaded = RelatedArticles.load(saved.directory)
    want = saved.model.published_
    assert {type(p) for p in want} == {dt.date, dt.datetime, type(None)}
    assert loaded.published_ == want
    assert [type(p) for p in loaded.published_] == [type(p) for p in want]
    assert dt.datetime(2024, 3, 2, 8, 30, 15, 250000) in loaded.published_
    # the aware input was stored as naive UTC and comes back so
    assert dt.datetime(2024, 3, 6, 21, 59, 59) in loaded.published_
    shown = [r.published for lst in answers(loaded)["related"].values() for r in lst]
    assert {type(p) for p in shown} >= {dt.date, dt.datetime}


def test_round_trip_keeps_params(tmp_path):
    """Every setting survives with its type (tuples stay tuples, fields=None stays None)."""
    params = {"k": 7, "section_policy": "any", "min_df": 1, "max_df": 0.9, "stem": False,
              "sublinear_tf": False, "snippet_chars": 40, "working_memory": 64,
              "on_invalid": "skip", "on_duplicate": "keep_last", "boilerplate_min_share": 0.2,
              "fields": {"title": 3.0, "body": 1.0}, "ngram_range": (1, 2),
              "boilerplate_patterns": ("^Follow us",), "stop_words": ["the", "a"]}
    model = fit_quietly(rich_rows(), **params)
    loaded = RelatedArticles.load(model.save(tmp_path / "m"))
    assert loaded.get_params() == model.get_params()
    assert type(loaded.ngram_range) is tuple and type(loaded.boilerplate_patterns) is tuple
    assert lists(loaded) == lists(model)


@pytest.mark.parametrize("params", [{}, {"ngram_range": (1, 2)}], ids=["defaults", "bigrams"])
def test_get_params_identical_after_load(tmp_path, params):
    """get_params() after load equals before: JSON lists must not leak into the estimator."""
    model = fit_quietly(rich_rows(), **params)
    loaded = RelatedArticles.load(model.save(tmp_path / "m"))
    assert loaded.get_params() == model.get_params()


# ----------------------------------------------------------------------------- determinism


def corpus() -> list[dict]:
    return news_rows() + random_corpus(np.random.default_rng(SEED), 40)


def timeless(directory: Path) -> dict[str, Any]:
    manifest = read_manifest(directory)
    assert manifest.pop("created_at")
    return manifest


def test_refit_saves_byte_identical_files(tmp_path):
    """Row 20: fit twice, save twice: same bytes everywhere but manifest's created_at."""
    a = current_version(fit_quietly(corpus()).save(tmp_path / "a"))
    b = current_version(fit_quietly(corpus()).save(tmp_path / "b"))
    da, db = digests(a), digests(b)
    assert set(da) == set(db) == set(FILES)
    del da[MANIFEST], db[MANIFEST]
    assert da == db
    assert timeless(a) == timeless(b)


def test_manifest_lists_every_file_with_its_checksum(saved):
    manifest = read_manifest(saved.directory)
    assert manifest["format"] == "relatedness-model" and manifest["format_version"] == 1
    assert set(manifest["files"]) == set(DATA_FILES)
    for name, entry in manifest["files"].items():
        data = (current_version(saved.directory) / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    counts = manifest["counts"]
    assert counts["n_articles"] == saved.model.n_articles_
    assert counts["n_empty"] == saved.model.n_empty_
    assert dt.datetime.fromisoformat(manifest["created_at"]).tzinfo is not None


def test_shuffled_input_gives_the_same_lists(tmp_path):
    """Rows 19/20: input order changes row positions, never the lists (compared by id)."""
    rows = corpus()
    shuffled = list(rows)
    random.Random(SEED).shuffle(shuffled)
    assert [r["id"] for r in shuffled] != [r["id"] for r in rows]
    a = fit_quietly(rows)
    b = RelatedArticles.load(fit_quietly(shuffled).save(tmp_path / "b"))
    for article_id in a.ids_:
        want = [(r.id, r.score) for r in a.related(article_id)]
        got = [(r.id, r.score) for r in b.related(article_id)]
        assert [i for i, _ in got] == [i for i, _ in want], article_id
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6)
    # order-free parts of the model are byte-identical
    a_dir = a.save(tmp_path / "a")
    da, db = digests(current_version(a_dir)), digests(current_version(tmp_path / "b"))
    for name in ("vocabulary.json", "idf.npy", "boilerplate.json"):
        assert da[name] == db[name], name


# ------------------------------------------------------------------------------ corruption


CUTS = {"empty": lambda n: 0, "half": lambda n: n // 2, "one-byte-short": lambda n: n - 1}


@pytest.mark.parametrize("cut", list(CUTS))
@pytest.mark.parametrize("name", FILES)
def test_truncated_file(model_dir, name, cut):
    """Row 16: a file cut short (0 bytes, half, one byte short) is named, with the check."""
    path = model_dir / name
    data = path.read_bytes()
    path.write_bytes(data[: CUTS[cut](len(data))])
    check = "(size check|JSON parse check) failed" if name == MANIFEST else "size check failed"
    fails(model_dir, name, check)


def per_file(options: list[str], json_options: list[str] | None = None) -> list:
    """Cases ``(name, option, mmap)``: both load modes for arrays, a plain read for JSON."""
    return [
        pytest.param(name, option, mode, id=f"{name}-{option}-{'mmap' if mode else 'read'}")
        for name in DATA_FILES
        for option in (options if name in ARRAY_FILES or json_options is None else json_options)
        for mode in ((False, True) if name in ARRAY_FILES else (False,))
    ]


@pytest.mark.parametrize(("name", "cut", "mmap_arrays"), per_file(list(CUTS)))
def test_truncated_file_resealed(model_dir, name, cut, mmap_arrays):
    """A file cut short whose checksum was rewritten still fails, at parse time."""
    data = (model_dir / name).read_bytes()
    reseal(model_dir, name, data[: CUTS[cut](len(data))])
    check = ("JSON parse check failed" if name in JSON_FILES
             else "(not a readable .npy file|array check failed)")
    fails(model_dir, name, check, mmap=mmap_arrays)


@pytest.mark.parametrize("name", FILES)
def test_flipped_byte(model_dir, name):
    """Row 16: one byte flipped in the middle of a file."""
    path = model_dir / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    check = "JSON parse check failed" if name == MANIFEST else "SHA-256 check failed"
    fails(model_dir, name, check)


@pytest.mark.parametrize("name", FILES)
def test_deleted_file(model_dir, name):
    """Row 16: a missing file."""
    (model_dir / name).unlink()
    fails(model_dir, name, "missing")


def test_file_not_listed_in_manifest(model_dir):
    edit_manifest(model_dir, lambda m: m["files"].pop("idf.npy"))
    fails(model_dir, "idf.npy", "not listed in manifest.json")


def test_model_format_error_is_a_value_error():
    assert issubclass(ModelFormatError, ValueError)
    assert issubclass(ModelFormatError, RelatednessError)


@pytest.mark.parametrize("kind", ["missing", "a-file", "empty-dir"])
def test_path_that_is_not_a_model_directory(tmp_path, kind):
    path = tmp_path / "nowhere"
    if kind == "missing":
        fails(path, "", "not a directory")
        assert not path.exists()
    elif kind == "a-file":
        path.write_text("hello")
        fails(path, "", "not a directory")
    else:
        path.mkdir()
        fails(path, MANIFEST, "missing; this is not a relatedness model directory")


@pytest.mark.parametrize(("version", "advice"), [
    (2, "upgrade relatedness"),
    (999, "upgrade relatedness"),
    (0, "re-fit and save the model"),
    ("1", "re-fit and save the model"),
    (None, "re-fit and save the model"),
])
def test_manifest_format_version(model_dir, version, advice):
    """Row 16: a newer format asks for an upgrade, an older or bogus one for a re-fit."""
    edit_manifest(model_dir, lambda m: m.__setitem__("format_version", version))
    fails(model_dir, MANIFEST, f"format version check failed: file has {re.escape(repr(version))}"
          f", this relatedness reads 1; {advice}")


@pytest.mark.parametrize("value", ["relatedness-model-v2", "", None, 1])
def test_manifest_format_changed(model_dir, value):
    edit_manifest(model_dir, lambda m: m.__setitem__("format", value))
    fails(model_dir, MANIFEST, "format check failed")


@pytest.mark.parametrize("body", [b"not json {", b"\xff\xfe{}", b"[]", b'"relatedness-model"',
                                  b"null", b"{}"])
def test_manifest_not_a_json_object(model_dir, body):
    (model_dir / MANIFEST).write_bytes(body)
    fails(model_dir, MANIFEST, "(JSON parse|format) check failed")


def test_manifest_too_large(model_dir):
    with open(model_dir / MANIFEST, "r+b") as handle:  # sparse: instant, no 16 MiB written
        handle.truncate(16 * 2**20 + 1)
    fails(model_dir, MANIFEST, "size check failed")


@pytest.mark.parametrize("key", ["files", "params", "counts", "vectorizer", "id_type"])
def test_manifest_required_key_removed(model_dir, key):
    edit_manifest(model_dir, lambda m: m.pop(key))
    fails(model_dir, MANIFEST, f"required key '{key}' is missing")


@pytest.mark.parametrize(("key", "check"), [("format", "format check failed"),
                                            ("format_version", "format version check failed")])
def test_manifest_identity_key_removed(model_dir, key, check):
    edit_manifest(model_dir, lambda m: m.pop(key))
    fails(model_dir, MANIFEST, check)


@pytest.mark.parametrize(("name", "value"), [
    ("evil", 1),  # unknown parameter
    ("__class__", "os.system"),
    ("k", 0),
    ("k", -1),
    ("k", True),
    ("k", 2.5),
    ("section_policy", "bogus"),
    ("snippet_chars", 5),
    ("working_memory", 0),
    ("min_df", -1),
    ("ngram_range", [2, 1]),
    ("fields", {"title": -1.0}),
    ("language", "klingon"),
    ("on_invalid", "ignore"),
])
def test_manifest_bad_params(model_dir, name, value):
    """Row 16/18: params are re-validated at load, unknown names refused."""
    edit_manifest(model_dir, lambda m: m["params"].__setitem__(name, value))
    fails(model_dir, MANIFEST, "parameter check failed")


@pytest.mark.parametrize("edit", [
    lambda m: m.__setitem__("params", [1, 2]),
    lambda m: m["params"].pop("min_df"),
    lambda m: m.__setitem__("vectorizer", {}),
], ids=["params-not-a-dict", "vectorizer-param-missing", "vectorizer-state-missing"])
def test_manifest_params_unusable(model_dir, edit):
    edit_manifest(model_dir, edit)
    fails(model_dir, MANIFEST, "parameter check failed")


@pytest.mark.parametrize("name", ["k", "section_policy", "snippet_chars", "min_df"])
def test_manifest_param_missing_is_refused(model_dir, name):
    """A missing setting must not silently fall back to its default (k=5, policy 'same')."""
    edit_manifest(model_dir, lambda m: m["params"].pop(name))
    fails(model_dir, MANIFEST, f"parameter check failed: missing \\['{name}'\\]")


@pytest.mark.parametrize("edit", [
    lambda m: m["counts"].__setitem__("n_articles", "14"),
    lambda m: m["counts"].__setitem__("n_articles", 14.0),
    lambda m: m["counts"].pop("n_terms"),
    lambda m: m["counts"].__setitem__("n_terms", "many"),
    lambda m: m["counts"].__setitem__("n_terms", -1),
    lambda m: m["counts"].__setitem__("n_articles", True),
    lambda m: m.__setitem__("counts", []),
], ids=["n_articles-str", "n_articles-float", "n_terms-missing", "n_terms-str", "n_terms-neg",
        "n_articles-bool", "counts-list"])
def test_manifest_counts_of_wrong_type(model_dir, edit):
    """Counts of the wrong type are a ModelFormatError, never a TypeError from deep inside."""
    edit_manifest(model_dir, edit)
    fails(model_dir, MANIFEST, "counts check failed")


@pytest.mark.parametrize("value", [[], None, "state"])
def test_manifest_vectorizer_not_an_object(model_dir, value):
    """Regression: a non-object 'vectorizer' raised AttributeError instead of ModelFormatError."""
    edit_manifest(model_dir, lambda m: m.__setitem__("vectorizer", value))
    fails(model_dir, MANIFEST, "vectorizer check failed")


# ------------------------------------------------------------------ tampering, checksums kept


def _indptr_decreasing(indptr: np.ndarray) -> np.ndarray:
    indptr[1] = indptr[-1]
    assert indptr[2] < indptr[1]
    return indptr


STRUCTURE = [
    ("matrix.indices.npy", lambda a: a.__setitem__(0, 10_000) or a, "column out of range"),
    ("matrix.indices.npy", lambda a: a.__setitem__(-1, -1) or a, "column out of range"),
    ("matrix.indptr.npy", lambda a: a[:-1], "length is not n_articles \\+ 1"),
    ("matrix.indptr.npy", lambda a: a + 1, "does not start at 0"),
    ("matrix.indptr.npy", _indptr_decreasing, "row starts decrease"),
    ("matrix.data.npy", lambda a: a[:-1], "length does not match the indices and row starts"),
    ("matrix.data.npy", lambda a: a.__setitem__(0, np.nan) or a, "holds non-finite values"),
    ("matrix.data.npy", lambda a: a.__setitem__(-1, np.inf) or a, "holds non-finite values"),
    ("idf.npy", lambda a: a[:-1], "length is not n_terms"),
]


@pytest.mark.parametrize(("name", "edit", "problem"), STRUCTURE)
def test_array_structure_tampered(model_dir, name, edit, problem):
    """Row 16: resealed arrays with bad shapes or index ranges fail the structure check."""
    reseal_array(model_dir, name, edit)
    fails(model_dir, name, f"structure check failed: {problem}")


def test_out_of_range_column_exactly_n_terms(model_dir):
    n_terms = read_manifest(model_dir)["counts"]["n_terms"]
    reseal_array(model_dir, "matrix.indices.npy", lambda a: a.__setitem__(0, n_terms) or a)
    fails(model_dir, "matrix.indices.npy", "structure check failed: column out of range")


@pytest.mark.parametrize(("name", "replace"), [
    ("matrix.data.npy", lambda a: a.astype(np.int32)),
    ("matrix.indices.npy", lambda a: a.astype(np.float64)),
    ("matrix.indices.npy", lambda a: a.astype(np.uint32)),
    ("matrix.indptr.npy", lambda a: a.astype(np.float32)),
    ("idf.npy", lambda a: a[None, :]),
    ("idf.npy", lambda a: a.astype(np.complex128)),
    ("idf.npy", lambda a: a.astype("U8")),
])
def test_array_dtype_tampered(model_dir, name, replace):
    reseal_array(model_dir, name, replace)
    fails(model_dir, name, "dtype check failed")


@pytest.mark.parametrize("name", ARRAY_FILES)
def test_npz_instead_of_npy(model_dir, name):
    def as_npz(array):
        buffer = io.BytesIO()
        np.savez(buffer, array=array)
        return buffer.getvalue()

    reseal_array(model_dir, name, as_npz)
    fails(model_dir, name, "array check failed: not a single .npy array")


@pytest.mark.parametrize("name", ARRAY_FILES)
def test_object_dtype_array(model_dir, name):
    """Row 16: an object (pickle) array where numbers belong is refused, never unpickled."""
    objects = np.array([1.0, "two", {"three": 3}], dtype=object)
    reseal(model_dir, name, npy_bytes(objects, allow_pickle=True))
    fails(model_dir, name, "array check failed")


JSON_TAMPERING = [
    ("vocabulary.json", lambda v: v[:-1], "structure check failed: not a list of n_terms"),
    ("vocabulary.json", lambda v: v.__setitem__(0, 5), "structure check failed: not a list"),
    ("vocabulary.json", lambda v: dict.fromkeys(v, 1), "structure check failed: not a list"),
    ("boilerplate.json", lambda v: {"line": 1}, "structure check failed: not a list of str"),
    ("boilerplate.json", lambda v: [*v, 3], "structure check failed: not a list of str"),
    ("articles.json", lambda a: a["ids"].__setitem__(1, a["ids"][0]), "id check failed"),
    ("articles.json", lambda a: a["ids"].__setitem__(1, 12345), "id check failed"),
    ("articles.json", lambda a: a.__setitem__("ids", list(range(len(a["ids"])))),
     "id check failed"),
    ("articles.json", lambda a: a["ids"].__setitem__(0, None), "id check failed"),
    ("articles.json", lambda a: a.pop("titles"), "structure check failed"),
    ("articles.json", lambda a: a["snippets"].pop(), "structure check failed"),
    ("articles.json", lambda a: a.__setitem__("urls", "https://x"), "structure check failed"),
    ("articles.json", lambda a: list(a.values()), "structure check failed"),
    ("articles.json", lambda a: a["titles"].__setitem__(0, None),
     "structure check failed: titles must be strings"),
    ("articles.json", lambda a: a["sections"].__setitem__(0, 7),
     "structure check failed: sections must be strings"),
]


@pytest.mark.parametrize(("name", "edit", "problem"), JSON_TAMPERING)
def test_json_tampered(model_dir, name, edit, problem):
    """Row 6/16: duplicate or mixed-type ids, wrong lengths, wrong types are refused."""
    reseal_json(model_dir, name, edit)
    fails(model_dir, name, problem)


def test_bool_id_in_an_int_model(model_dir):
    """Row 6: True is not an int id, even when the manifest says ids are ints."""
    reseal_json(model_dir, "articles.json",
                lambda a: a.__setitem__("ids", [True, *range(1, len(a["ids"]))]))
    edit_manifest(model_dir, lambda m: m.__setitem__("id_type", "int"))
    fails(model_dir, "articles.json", "id check failed")


@pytest.mark.parametrize("value", ["not a date", "2024-13-01", 20240101, ["2024-01-01"]])
def test_bad_published_names_articles_json(model_dir, value):
    """A bad date is blamed on articles.json, not on the manifest's parameters."""
    reseal_json(model_dir, "articles.json", lambda a: a["published"].__setitem__(0, value))
    fails(model_dir, "articles.json", "published check failed")


def _duplicate_term(terms: list) -> None:
    terms[1] = terms[0]


IDF_CHECK = "structure check failed: idf values must be finite and > 0"


@pytest.mark.parametrize(("damage", "name", "check"), [
    ("duplicate-term", "vocabulary.json", "structure check failed: repeated terms"),
    ("nan-idf", "idf.npy", IDF_CHECK),
    ("inf-idf", "idf.npy", IDF_CHECK),
    ("zero-idf", "idf.npy", IDF_CHECK),
    ("bad-regex", MANIFEST, "parameter check failed"),
])
def test_load_refuses_a_model_that_cannot_answer(model_dir, damage, name, check):
    """Loads that used to succeed and then fail or answer [] at query time are refused."""
    if damage == "duplicate-term":
        reseal_json(model_dir, "vocabulary.json", _duplicate_term)
    elif damage.endswith("-idf"):
        value = {"nan-idf": np.nan, "inf-idf": np.inf, "zero-idf": 0.0}[damage]
        reseal_array(model_dir, "idf.npy", lambda a: a.__setitem__(-1, value) or a)
    else:
        edit_manifest(model_dir, lambda m: m["params"].__setitem__("boilerplate_patterns", ["("]))
    fails(model_dir, name, check)


# -------------------------------------------------------------------------- pickle sentinel


class Evil:
    """Unpickling this creates ``path``: proof that code from a file ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def evil_payload(sentinel: Path, wrap: str) -> bytes:
    if wrap == "raw-pickle":
        return pickle.dumps(Evil(sentinel), protocol=2)
    if wrap == "raw-pickle-p5":
        return pickle.dumps([Evil(sentinel)], protocol=5)
    return npy_bytes(np.array([Evil(sentinel)], dtype=object), allow_pickle=True)


WRAPS = ["raw-pickle", "raw-pickle-p5", "npy-object-array"]


@pytest.mark.parametrize("wrap", WRAPS)
def test_evil_payload_is_armed(tmp_path, wrap):
    """Control: the payloads do run code when a careless loader unpickles them."""
    sentinel = tmp_path / "pwned"
    data = evil_payload(sentinel, wrap)
    if wrap == "npy-object-array":
        loaded = np.load(io.BytesIO(data), allow_pickle=True)
        loaded[0].close()
    else:
        handle = pickle.loads(data)  # noqa: S301 - the point of the control
        (handle[0] if isinstance(handle, list) else handle).close()
    assert sentinel.exists()


@pytest.mark.parametrize(("name", "wrap", "mmap_arrays"), per_file(WRAPS, ["raw-pickle"]))
def test_smuggled_pickle_never_runs(model_dir, tmp_path, name, wrap, mmap_arrays):
    """Row 16 security test: a pickle where an array (or JSON) belongs, with its checksum
    rewritten so it passes, is refused and the sentinel file is never created."""
    sentinel = tmp_path / "pwned"
    reseal(model_dir, name, evil_payload(sentinel, wrap))
    check = "JSON parse check failed" if name in JSON_FILES else "array check failed"
    fails(model_dir, name, check, mmap=mmap_arrays)
    assert not sentinel.exists()


def test_smuggled_pickle_as_manifest_never_runs(model_dir, tmp_path):
    sentinel = tmp_path / "pwned"
    (model_dir / MANIFEST).write_bytes(evil_payload(sentinel, "raw-pickle"))
    fails(model_dir, MANIFEST, "JSON parse check failed")
    assert not sentinel.exists()


def test_smuggled_pickle_in_a_signed_model_fails_the_signature(tmp_path, signed_dir):
    """With a key, the same attack is caught before any file is parsed."""
    directory = signed_dir
    sentinel = tmp_path / "pwned"
    reseal(directory, "matrix.data.npy", evil_payload(sentinel, "npy-object-array"))
    fails(directory, "manifest.sig", "signature check failed", key="secret")
    assert not sentinel.exists()


# ------------------------------------------------------------------------------------ HMAC


@pytest.mark.parametrize("key", ["secret", b"secret", "s\u00e9cr\u00e8t-\U0001f511"])
def test_signed_round_trip(tmp_path, saved, key):
    directory = saved.model.save(tmp_path / "m", key=key)
    assert (current_version(directory) / "manifest.sig").is_file()
    assert answers(RelatedArticles.load(directory, key=key)) == saved.answers
    RelatedArticles.load(directory)  # the key is optional
    if key == b"secret":
        RelatedArticles.load(directory, key="secret")  # str and its UTF-8 bytes agree


@pytest.mark.parametrize("wrong", ["Secret", "secret ", "", b"\x00"])
def test_wrong_key(signed_dir, wrong):
    fails(signed_dir, "manifest.sig", "signature check failed: tampered, or wrong key", key=wrong)


def test_edited_manifest_fails_the_signature(signed_dir):
    """Row 16: editing the manifest (here counts.n_empty) without re-signing is caught."""
    directory = signed_dir
    def one_more_empty(manifest: dict) -> None:
        manifest["counts"]["n_empty"] += 1

    edit_manifest(directory, one_more_empty)
    fails(directory, "manifest.sig", "signature check failed", key="secret")


def test_resealed_data_file_fails_the_signature(signed_dir):
    directory = signed_dir
    reseal_array(directory, "idf.npy", lambda a: a * 2)
    RelatedArticles.load(directory)  # checksums alone cannot see this tampering
    fails(directory, "manifest.sig", "signature check failed", key="secret")


@pytest.mark.parametrize("signature", [b"", b"0" * 64, b"not hex"])
def test_damaged_signature_file(signed_dir, signature):
    directory = signed_dir
    (directory / "manifest.sig").write_bytes(signature)
    fails(directory, "manifest.sig", "signature check failed", key="secret")


def test_key_given_but_model_unsigned(saved):
    version = current_version(saved.directory)
    fails(version, "manifest.sig", "missing, but a key was given", key="secret")


def test_resave_without_key_removes_stale_signature(signed_dir, saved):
    directory = signed_dir
    assert (directory / "manifest.sig").is_file()
    saved.model.save(directory)
    assert not (current_version(directory) / "manifest.sig").exists()
    with pytest.raises(ModelFormatError, match="manifest.sig: missing, but a key was given"):
        RelatedArticles.load(directory, key="secret")
    assert answers(RelatedArticles.load(directory)) == saved.answers


def test_resave_with_new_key_replaces_signature(tmp_path, saved):
    directory = saved.model.save(tmp_path / "m", key="old")
    saved.model.save(directory, key="new")
    RelatedArticles.load(directory, key="new")
    fails(current_version(directory), "manifest.sig", "signature check failed", key="old")
    with pytest.raises(ModelFormatError, match="manifest.sig: signature check failed"):
        RelatedArticles.load(directory, key="old")


# --------------------------------------------------------------------------- atomic writes


def test_save_leaves_no_temp_files(tmp_path, saved):
    directory = saved.model.save(tmp_path / "m", key="secret")
    assert temp_files(directory) == []
    version = current_version(directory)
    assert sorted(p.name for p in directory.iterdir()) == sorted([".lock", CURRENT, version.name])
    assert sorted(p.name for p in version.iterdir()) == sorted([*FILES, "manifest.sig"])


def test_stale_temp_files_are_swept(model_dir, saved):
    """Row 17: temp files and staging directories a killed save left are removed; other
    files are kept."""
    for name in (".tmp-matrix.data.npy.k1ll3d", ".tmp-manifest.json.abc", ".tmp-x"):
        (model_dir / name).write_bytes(b"half a file")
    staging = model_dir / ".tmp-v-20240101T000000Z-deadbeef.0123abcd"
    staging.mkdir()
    (staging / "matrix.data.npy").write_bytes(b"half an array")
    (model_dir / "NOTES.txt").write_text("mine")
    saved.model.save(model_dir)
    assert temp_files(model_dir) == []
    assert (model_dir / "NOTES.txt").read_text() == "mine"
    assert answers(RelatedArticles.load(model_dir)) == saved.answers


def test_stale_temp_files_are_swept_in_a_fresh_directory(tmp_path, saved):
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / ".tmp-idf.npy.zz").write_bytes(b"junk")
    saved.model.save(directory)
    assert temp_files(directory) == []


class Other(NamedTuple):
    model: RelatedArticles
    lists: dict[Any, list]


@pytest.fixture(scope="module")
def other(saved: Saved) -> Other:
    """A different model (other ids, vocabulary and sizes) to save over the first."""
    model = fit_quietly(random_corpus(np.random.default_rng(SEED + 1), 40))
    assert lists(model) != lists(saved.model)
    return Other(model, lists(model))


def versions(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("v-"))


def test_save_keeps_the_current_and_the_previous_version(tmp_path, saved, other):
    """A reader that read CURRENT just before a switch may still open the previous version;
    older ones are removed."""
    directory = saved.model.save(tmp_path / "m")
    first = current_version(directory).name
    other.model.save(directory)
    second = current_version(directory).name
    assert versions(directory) == sorted([first, second])
    assert lists(RelatedArticles.load(directory / first)) == lists(saved.model)
    saved.model.save(directory)
    third = current_version(directory).name
    assert versions(directory) == sorted([second, third])
    assert lists(RelatedArticles.load(directory)) == lists(saved.model)


def test_save_over_a_flat_model_keeps_it_as_the_previous_version(model_dir, saved, other):
    """Old layouts still load, and a save over one switches to versions without a gap."""
    assert not (model_dir / CURRENT).exists()
    (model_dir / "NOTES.txt").write_text("mine")
    other.model.save(model_dir)
    assert lists(RelatedArticles.load(model_dir)) == other.lists
    assert (model_dir / MANIFEST).is_file()  # the flat model is the previous version now
    other.model.save(model_dir)
    assert not any((model_dir / name).exists() for name in FILES)
    assert (model_dir / "NOTES.txt").read_text() == "mine"
    assert lists(RelatedArticles.load(model_dir, mmap=True)) == other.lists


@pytest.mark.parametrize("pointer", [b"", b"v-../../etc", b"x" * 300, b"v-missing\n", b"\xff"])
def test_damaged_current_pointer_is_refused(tmp_path, saved, pointer):
    directory = saved.model.save(tmp_path / "m")
    (directory / CURRENT).write_bytes(pointer)
    fails(directory, CURRENT, "pointer check failed")


def test_failed_save_keeps_the_previous_model(tmp_path, saved):
    """Issue 17 item 1: a lone surrogate in an id raised a raw UnicodeEncodeError from save()
    and left the model it was saved over unloadable ("size check failed")."""
    directory = saved.model.save(tmp_path / "m1")
    rows = [*rich_rows(), {"id": "new\ud800", "title": "Fresh", "body": "Budget news"}]
    with pytest.raises(InvalidArticleError, match=r"id 'new\\ud800': field 'id' is text with a "
                       r"lone surrogate"):
        fit_quietly(rows)
    # A surrogate that reaches save() another way is refused before a byte is written.
    model = fit_quietly(rich_rows())
    model._ranker.archive.titles[2] = "Fresh \udc80 title"
    before = sorted(p.name for p in directory.rglob("*"))
    with pytest.raises(InvalidArticleError, match=rf"article {model.ids_[2]!r}, field 'title', "
                       "holds a lone surrogate.*Nothing was written"):
        model.save(directory)
    assert sorted(p.name for p in directory.rglob("*")) == before
    assert answers(RelatedArticles.load(directory)) == saved.answers


def assert_old_or_new(directory: Path, saved: Saved, other: Other, **load_kwargs: Any) -> str:
    """After a failed save: the old model or the new one answers, unchanged; never neither."""
    found = lists(RelatedArticles.load(directory, **load_kwargs))
    if found == lists(saved.model):
        return "old"
    assert found == other.lists
    return "new"


#: The steps of a save that touch the disk; a failure is injected at each in turn.
def _steps(monkeypatch, fail_at: int | None, calls: list[str]) -> None:
    import relatedness.store.model as store_model

    def wrap(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        def flaky(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            if len(calls) == fail_at:
                raise OSError(errno.EIO, f"injected failure of {name}")
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, flaky)

    for name in ("replace", "rename", "fsync", "mkdir"):
        wrap(os, name)
    wrap(store_model, "write_new")


@pytest.mark.parametrize("layout", ["versioned", "flat"])
@pytest.mark.parametrize("key", [None, "secret"])
def test_a_failure_at_any_step_of_a_save_leaves_the_old_model_or_the_new(
    tmp_path, model_dir, saved, other, monkeypatch, layout, key
):
    """Row 17 and issue 17 item 1: os.replace, rename, fsync, mkdir or a file write fails at
    each step of a save over an existing model: before the CURRENT switch the old model
    loads, after it the new one; no temp file or staging directory is left."""
    master = model_dir if layout == "flat" else saved.model.save(tmp_path / "master", key=key)
    dry: list[str] = []
    shutil.copytree(master, tmp_path / "dry")
    _steps(monkeypatch, None, dry)
    other.model.save(tmp_path / "dry", key=key)
    monkeypatch.undo()
    assert dry.count("rename") == 1 and dry.count("replace") == 1  # staging, then CURRENT
    commit = dry.index("replace") + 1
    raised_at = []
    for fail_at in range(1, len(dry) + 1):
        directory = tmp_path / f"m{fail_at}"
        shutil.copytree(master, directory)
        calls: list[str] = []
        _steps(monkeypatch, fail_at, calls)
        error = None
        try:
            other.model.save(directory, key=key)
        except OSError as exc:
            error = str(exc)
        finally:
            monkeypatch.undo()
        raised = error is not None
        assert error is None or "injected failure" in error
        assert temp_files(directory) == []
        outcome = assert_old_or_new(directory, saved, other, key=key if layout != "flat" else None)
        # A save that raised changed nothing; one that returned published the new model.
        assert outcome == ("old" if raised else "new"), (fail_at, dry[fail_at - 1])
        if raised:
            raised_at.append(dry[fail_at - 1])
            assert fail_at <= commit, "a failure after the switch must not fail the save"
    # Every write, fsync and rename up to the switch was a real failure point.
    assert raised_at.count("write_new") == dry[:commit].count("write_new") >= 9
    assert {"rename", "replace", "fsync"} <= set(raised_at)


@pytest.mark.parametrize("fail_at", [1, 2, 4])
def test_disk_full_mid_write(model_dir, saved, other, monkeypatch, fail_at):
    """Row 17: ENOSPC half-way through an array write removes the staging directory and
    keeps the old model."""
    real_save = np.save
    calls = []

    def full_disk(file, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == fail_at:
            file.write(b"\x93NUMPY partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(file, array, *args, **kwargs)

    monkeypatch.setattr(np, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        other.model.save(model_dir)
    monkeypatch.undo()
    assert temp_files(model_dir) == []
    assert assert_old_or_new(model_dir, saved, other) == "old"
    other.model.save(model_dir)  # a retry without faults publishes the new model
    assert assert_old_or_new(model_dir, saved, other) == "new"


# ------------------------------------------------------------------------------- unfitted


def test_save_unfitted_model(tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        RelatedArticles().save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_model_saved_before_feedback_and_idf_power_loads_with_the_old_behaviour(tmp_path):
    """A format-1 manifest without the parameters added later ranks as it did when saved."""
    from relatedness.params import ADDED_LATER as PARAMS_ADDED_LATER

    model = RelatedArticles(k=3, min_df=1, feedback=0, idf_power=1.0).fit(news_rows())
    path = model.save(tmp_path / "old")
    manifest_path = current_version(path) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for name in PARAMS_ADDED_LATER:
        del manifest["params"][name]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    loaded = RelatedArticles.load(path)
    assert (loaded.feedback, loaded.idf_power) == (0, 1.0)
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)


def test_compiled_boilerplate_patterns_are_saved_as_their_text(tmp_path):
    """Regression: a compiled re.Pattern in boilerplate_patterns made save() raise the JSON
    encoder's TypeError; it is saved as its pattern text and loads as it."""
    import re

    from .conftest import news_rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(k=3, min_df=1, boilerplate_patterns=(re.compile("^Advert$"),))
        model.fit(news_rows())
    loaded = RelatedArticles.load(model.save(tmp_path / "m"))
    assert loaded.boilerplate_patterns == ("^Advert$",)
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)


# ------------------------------------------------------------------- articles added since fit


@pytest.fixture
def grown_dir(tmp_path) -> Path:
    """A model with articles added after the fit: its version holds the added.* files."""
    model = fit_quietly(rich_rows())
    model.add([
        {"id": f"g{i}", "title": "Zorvath Kellmane", "body": f"Kellmane visit {i}"}
        for i in range(3)
    ])  # fmt: skip
    directory = tmp_path / "grown"
    shutil.copytree(current_version(model.save(tmp_path / "m")), directory)
    return directory


GROWTH_FILES = ("added.json", "added.data.npy", "added.indices.npy", "added.indptr.npy")


def test_added_counts_are_saved_only_when_there_are_some(grown_dir, saved):
    assert set(GROWTH_FILES) <= set(read_manifest(grown_dir)["files"])
    assert not set(GROWTH_FILES) & set(read_manifest(saved.directory)["files"])
    assert "kellman" in RelatedArticles.load(grown_dir).vectorizer_.vocabulary_


@pytest.mark.parametrize(("name", "edit", "problem"), [
    ("added.json", lambda d: d.__setitem__("fields", ["body"]), "fields are not the model's"),
    ("added.json", lambda d: d["terms"].append(d["terms"][0]), "terms are not a list"),
    ("added.json", lambda d: d.__setitem__("n_fitted_terms", -1), "n_fitted_terms"),
    ("added.json", lambda d: d.__setitem__("n_fitted_terms", True), "n_fitted_terms"),
    ("added.json", lambda d: [], "fields are not the model's"),
])
def test_added_counts_tampered(grown_dir, name, edit, problem):
    reseal_json(grown_dir, name, edit)
    fails(grown_dir, "added.json", f"growth check failed: {problem}")


@pytest.mark.parametrize(("name", "edit", "problem"), [
    ("added.indices.npy", lambda a: a.__setitem__(0, 10**9) or a, "column out of range"),
    ("added.data.npy", lambda a: a.__setitem__(0, 0) or a, "counts must be positive"),
    ("added.indptr.npy", lambda a: a[:-1], "row starts do not match"),
])
def test_added_count_arrays_tampered(grown_dir, name, edit, problem):
    reseal_array(grown_dir, name, edit)
    fails(grown_dir, "added.json", f"growth check failed: {problem}")


@pytest.mark.parametrize("name", GROWTH_FILES)
def test_added_counts_deleted(grown_dir, name):
    (grown_dir / name).unlink()
    fails(grown_dir, name, "missing")
