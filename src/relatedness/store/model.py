"""Models on disk without pickle: versions of ``.npy`` arrays, JSON and a manifest.

Layout (``models/README.md`` documents it for other tools)::

    MODEL/
      CURRENT               the name of the published version, e.g. "v-20240301T120000Z-1a2b3c4d"
      v-<id>/               one complete model (format version 1):
        manifest.json       format, versions, parameters, counts, SHA-256 and size of every file
        manifest.sig        optional: HMAC-SHA256 of manifest.json under a deploy secret
        matrix.data.npy     float32  TF-IDF values of the CSR matrix (n_articles x n_terms)
        matrix.indices.npy  int32    column of each value
        matrix.indptr.npy   int64    row starts (n_articles + 1)
        idf.npy             float64  idf per term
        norms.npy           float64  each row's norm before normalisation
        vocabulary.json     terms in column order
        articles.json       ids (their JSON type survives), titles, sections, published, urls,
                            snippets, tags, removed
        boilerplate.json    the lines learned by the corpus boilerplate rule
        added.*             the term counts of articles added since the fit (see Growth)
      .lock                 held by a save while it writes (advisory)

**A save never destroys the previous model.** It writes a new version into a staging
directory (``.tmp-v-<id>.<random>``), fsyncs it and renames it to ``v-<id>``, then switches
``CURRENT`` to it (temp file + ``os.replace``: the one commit point), then removes the versions
other than the new and the previous one (a reader that read ``CURRENT`` just before the switch
may still be opening the previous one). Killed or failing at any point, the model path holds
the old model or the new one, never neither; the next save sweeps the staging directories a
killed one left.

A directory without ``CURRENT`` is read as one version (the flat layout every save wrote
before versions existed, and what a version directory itself is): old models keep loading,
and their first save turns them into the versioned layout (the flat files are the
"previous" version then, removed by the save after).

Loading resolves ``CURRENT`` once, reads the manifest first, checks every file's size and
SHA-256 before parsing it, parses arrays with ``allow_pickle=False`` and JSON with the
standard parser, then checks the structure (shapes, dtypes, index ranges, id types). The
vectorizer is rebuilt from the vocabulary, the idf and the parameters; nothing is unpickled
and no code from the files runs.

The files hold a plain record, never the façade: :func:`save_model` writes the parameters
(:func:`relatedness.params.to_manifest`) and an :class:`~relatedness.archive.Archive`;
:func:`load_model` returns them, and the façade builds itself from the two.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import params
from ..archive import Archive
from ..articles import parse_json
from ..atomic import (
    atomic_directory,
    atomic_write,
    fsync_dir,
    sha256_file,
    sweep_stale_temp,
    write_new,
)
from ..exceptions import (
    InvalidArticleError,
    InvalidParameterError,
    ModelFormatError,
    RelatednessError,
)
from ..features.growth import Growth
from ..features.tfidf import FieldTfidfVectorizer
from ..text.boilerplate import pattern_problem
from ..validation import shown

__all__ = [
    "CURRENT",
    "FORMAT",
    "FORMAT_VERSION",
    "current_version",
    "load_model",
    "manifest_sha256",
    "read_manifest",
    "save_model",
]

FORMAT = "relatedness-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
#: The environment variable that holds the signing key when no key file is given.
KEY_ENV = "RELATEDNESS_KEY"
#: The pointer to the published version, inside the model directory.
CURRENT = "CURRENT"
VERSION_PREFIX = "v-"
LOCK = ".lock"
_VERSION_NAME = re.compile(r"^v-[0-9A-Za-z_-]{1,64}$")
#: ``CURRENT`` holds one short name; anything larger is not ours and is not parsed.
MAX_POINTER_BYTES = 256
#: A manifest is a few KB; anything far larger is not ours and is not parsed.
MAX_MANIFEST_BYTES = 16 * 2**20

#: Array files: expected dtype kind and number of dimensions.
ARRAYS = {
    "matrix.data.npy": ("f", 1),
    "matrix.indices.npy": ("i", 1),
    "matrix.indptr.npy": ("i", 1),
    "idf.npy": ("f", 1),
    "norms.npy": ("f", 1),
}
JSON_FILES = ("vocabulary.json", "articles.json", "boilerplate.json")
#: The counts of the articles added since the fit (only in a model that has some).
GROWTH_ARRAYS = {
    "added.data.npy": ("i", 1),
    "added.indices.npy": ("i", 1),
    "added.indptr.npy": ("i", 1),
}
GROWTH_JSON = "added.json"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _key_bytes(key: bytes | str) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def resolve_key(
    key_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> bytes | None:
    """The signing key for the command line and servers: a key file, else ``$RELATEDNESS_KEY``.

    The file's bytes are the key, less one trailing newline (``echo secret > key`` works);
    ``None`` when neither is given. An empty key is refused: an HMAC with an empty key proves
    nothing.

    Raises
    ------
    InvalidParameterError
        The key file cannot be read, or the key is empty.
    """
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes()
        except OSError as exc:
            msg = f"key file {str(key_file)!r} cannot be read ({exc.strerror}); check the path."
            raise InvalidParameterError(msg) from None
        key = key[:-2] if key.endswith(b"\r\n") else key[:-1] if key.endswith(b"\n") else key
        where = f"key file {str(key_file)!r}"
    else:
        value = (os.environ if environ is None else environ).get(KEY_ENV)
        if value is None:
            return None
        key, where = value.encode("utf-8"), f"${KEY_ENV}"
    if not key:
        msg = f"{where} is empty; a signing key must hold a secret."
        raise InvalidParameterError(msg)
    return key


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: str | None) -> dt.date | dt.datetime | None:
    if value is None:
        return None
    return dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)


# ----------------------------------------------------------------------------------- save


def save_model(
    path: str | Path,
    values: Mapping[str, Any],
    archive: Archive,
    *,
    key: bytes | str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write parameter ``values`` and ``archive`` as a new version of the model at ``path``.

    The version is complete on disk before ``CURRENT`` is switched to it, so a failure or a
    kill at any point leaves the previous model loadable (the module docstring's protocol).

    Parameters
    ----------
    path : str or Path
        The model directory (created if needed; a flat-layout model there is kept as the
        previous version).
    values : mapping
        Every parameter, as the constructor takes it.
    archive : Archive
        The fitted archive.
    key : bytes or str, optional
        A secret: also write ``manifest.sig`` (HMAC-SHA256 of the manifest).
    metadata : mapping, optional
        A JSON object recorded in the manifest under ``"metadata"`` (e.g. the update that
        produced this version: ``relatedness update`` keeps its journal there).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidArticleError
        A text of the archive cannot be stored as UTF-8 (a lone surrogate); the message names
        the article and the field. Nothing is written.
    """
    directory = Path(path)
    arrays, documents = _contents(archive)
    encoded = {name: _encode(name, document, archive) for name, document in documents.items()}
    directory.mkdir(parents=True, exist_ok=True)
    with _save_lock(directory):
        previous = _pointer(directory)
        sweep_stale_temp(directory, directories=True)
        now = dt.datetime.now(dt.timezone.utc)
        name = f"{VERSION_PREFIX}{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        with atomic_directory(directory / name) as staging:
            files: dict[str, dict[str, Any]] = {}
            for file_name, array in arrays.items():
                write_new(staging / file_name, _npy_writer(array))
                files[file_name] = _entry(staging / file_name)
            for file_name, data in encoded.items():
                write_new(staging / file_name, data)
                files[file_name] = _entry(staging / file_name)
            body = _manifest_bytes(values, archive, files, now, metadata)
            if key is not None:
                digest = hmac.new(_key_bytes(key), body, hashlib.sha256).hexdigest()
                write_new(staging / SIGNATURE, digest.encode())
            write_new(staging / MANIFEST, body)  # last: a version without it is not a model
        with atomic_write(directory / CURRENT, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")  # the commit: readers switch to the new version here
        _collect_garbage(directory, keep={name, previous})
    return directory


def _contents(archive: Archive) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and JSON documents of one version, by file name."""
    matrix = archive.matrix
    _, terms, idf, lines = archive.vectorizer.to_state()
    row_of = {article_id: row for row, article_id in enumerate(archive.ids)}
    arrays: dict[str, np.ndarray] = {
        "matrix.data.npy": np.asarray(matrix.data, dtype=np.float32),
        "matrix.indices.npy": np.asarray(matrix.indices, dtype=np.int32),
        "matrix.indptr.npy": np.asarray(matrix.indptr, dtype=np.int64),
        "idf.npy": np.asarray(idf, dtype=np.float64),
        "norms.npy": np.asarray(archive.norms, dtype=np.float64),
    }
    documents = {
        "vocabulary.json": terms,
        "articles.json": {
            "ids": archive.ids,
            "titles": archive.titles,
            "sections": archive.sections,
            "published": [_iso(p) for p in archive.published],
            "urls": archive.urls,
            "snippets": archive.snippets,
            "tags": archive.tags,
            "removed": sorted(archive.removed, key=row_of.__getitem__),
            **({} if archive.languages is None else {"languages": archive.languages}),
        },
        "boilerplate.json": lines,
    }
    growth = archive.growth
    if growth is not None and not growth.empty:
        fields, data, indices, indptr = growth.to_arrays()
        arrays.update(
            {"added.data.npy": data, "added.indices.npy": indices, "added.indptr.npy": indptr}
        )
        documents[GROWTH_JSON] = {
            "fields": fields,
            "terms": growth.terms,
            "n_fitted_terms": growth.n_fitted_terms,
        }
    return arrays, documents


def _npy_writer(array: np.ndarray) -> Any:
    return lambda handle: np.save(handle, array, allow_pickle=False)


def _entry(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def _encode(name: str, document: Any, archive: Archive) -> bytes:
    """``document`` as compact UTF-8 JSON, or a library error naming what cannot be stored."""
    try:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
        where = _unencodable(archive) or f"a string of {name}"
        msg = (
            f"cannot save the model: {where} holds a lone surrogate ({bad!r}), which UTF-8 "
            "cannot store; fix the text (e.g. s.encode('utf-8', 'replace').decode()) and fit "
            "again. Nothing was written."
        )
        raise InvalidArticleError(msg) from None


def _unencodable(archive: Archive) -> str | None:
    """The first article field (``"article 'x', field 'title'"``) that is not valid UTF-8."""

    def bad(text: Any) -> bool:
        try:
            str(text).encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False

    fields = ("titles", "sections", "urls", "snippets")
    for row, article_id in enumerate(archive.ids):
        if bad(article_id):
            return f"article {article_id!r}, field 'id',"
        for plural in fields:
            if bad(getattr(archive, plural)[row]):
                return f"article {article_id!r}, field {plural[:-1]!r},"
        if any(bad(tag) for tag in archive.tags[row]):
            return f"article {article_id!r}, field 'tags',"
    return None


def _manifest_bytes(
    values: Mapping[str, Any],
    archive: Archive,
    files: dict[str, dict[str, Any]],
    now: dt.datetime,
    metadata: Mapping[str, Any] | None,
) -> bytes:
    vec_params, terms, _, lines = archive.vectorizer.to_state()
    matrix = archive.matrix
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _version("relatedness"),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": _version("scipy"),
            "scikit-learn": _version("scikit-learn"),
            "nltk": _version("nltk"),
        },
        "created_at": now.isoformat(timespec="seconds"),
        "params": params.to_manifest(values),
        "vectorizer": {
            "effective_fields": archive.vectorizer.field_weights(),
            "effective_min_df": vec_params["effective_min_df"],
            "effective_max_df": vec_params["effective_max_df"],
            "n_documents": vec_params["n_documents"],
            "languages": vec_params["languages"],
            "stemmer": vec_params["stemmer"],
        },
        "counts": {
            "n_articles": archive.n_articles,
            "n_terms": len(terms),
            "nnz": int(matrix.nnz),
            "n_empty": int(np.count_nonzero(np.diff(matrix.indptr) == 0)),
            "n_sections": len(set(archive.sections)),
            "n_boilerplate_lines": len(lines),
        },
        "id_type": archive.id_type,
        "files": files,
    }
    if metadata is not None:
        manifest["metadata"] = dict(metadata)
    return json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")


@contextlib.contextmanager
def _save_lock(directory: Path) -> Iterator[None]:
    """One save at a time per model directory (an advisory ``flock``; saves wait in turn).

    Held while a save sweeps staging directories, so it never removes another save's.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        yield
        return
    with open(directory / LOCK, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def _pointer(directory: Path) -> str:
    """The version ``CURRENT`` names, or ``""`` (the flat layout, or nothing saved yet)."""
    try:
        name = (directory / CURRENT).read_bytes()[:MAX_POINTER_BYTES].decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return name if _VERSION_NAME.match(name) else ""


#: Files of one version (the flat layout holds them at the top of the model directory).
_VERSION_FILES = (MANIFEST, SIGNATURE, *ARRAYS, *JSON_FILES, *GROWTH_ARRAYS, GROWTH_JSON)


def _collect_garbage(directory: Path, keep: set[str]) -> None:
    """Remove the versions not in ``keep`` (``""`` is the flat layout's files).

    Other files in the model directory (a rejects file, a user's notes) are left alone.
    """
    for entry in directory.iterdir():
        if entry.name not in keep and _VERSION_NAME.match(entry.name) and entry.is_dir():
            with contextlib.suppress(OSError):
                (entry / MANIFEST).unlink()  # first: a half-removed version is not a model
            shutil.rmtree(entry, ignore_errors=True)
    if "" not in keep and (directory / MANIFEST).is_file():
        for name in _VERSION_FILES:  # the manifest first, for the same reason
            with contextlib.suppress(OSError):
                (directory / name).unlink()
    fsync_dir(directory)


# ----------------------------------------------------------------------------------- load


def _fail(directory: Path, name: str, check: str) -> ModelFormatError:
    return ModelFormatError(f"{directory / name}: {check}")


def current_version(path: str | Path) -> Path:
    """The directory that holds the files of the model at ``path``.

    The version ``CURRENT`` names, or ``path`` itself for the flat layout (a model saved
    before versions existed, or a version directory given directly). A version directory
    never changes once published, so everything read from it belongs to one model.

    Raises
    ------
    ModelFormatError
        ``path`` is not a directory, or ``CURRENT`` does not name a version directory.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise _fail(directory, "", "not a directory; pass the folder written by save()")
    pointer = directory / CURRENT
    if not pointer.exists():
        return directory
    try:
        raw = pointer.read_bytes()[: MAX_POINTER_BYTES + 1]
    except OSError as exc:
        raise _fail(directory, CURRENT, f"not readable ({exc})") from None
    name = raw.decode("utf-8", "replace").strip()
    if len(raw) > MAX_POINTER_BYTES or not _VERSION_NAME.match(name):
        raise _fail(directory, CURRENT, f"pointer check failed: {name[:80]!r} is not a version")
    version = directory / name
    if not version.is_dir():
        raise _fail(directory, CURRENT, f"pointer check failed: version {name} is missing")
    return version


def manifest_sha256(path: str | Path) -> str:
    """SHA-256 of the current version's ``manifest.json``: the id of the model at ``path``.

    Two saves of the same model differ (the manifest holds its ``created_at``); one
    published version keeps its id for ever.
    """
    return sha256_file(current_version(path) / MANIFEST)


def read_manifest(
    path: str | Path, *, key: bytes | str | None = None, require_signature: bool = False
) -> dict[str, Any]:
    """The checked manifest of the model at ``path`` (its ``metadata`` included).

    Reads only ``CURRENT`` and the manifest (and the signature with ``key``): cheap, for
    tools that want the counts, parameters or metadata without loading the model.
    ``key`` and ``require_signature`` are as for :func:`load_model`.

    Raises
    ------
    ModelFormatError
        As :func:`load_model` for the manifest.
    """
    return _read_manifest(current_version(path), key, require_signature)


def _read_manifest(
    directory: Path, key: bytes | str | None, require_signature: bool = False
) -> dict[str, Any]:
    path = directory / MANIFEST
    if require_signature and key is None:
        raise _fail(
            directory,
            SIGNATURE,
            "signature required, but no key was given: pass key= (CLI: --key-file or "
            f"{KEY_ENV}) to verify the model, or drop require_signature",
        )
    if not directory.is_dir():
        raise _fail(directory, "", "not a directory; pass the folder written by save()")
    if not path.is_file():
        raise _fail(directory, MANIFEST, "missing; this is not a relatedness model directory")
    size = path.stat().st_size
    if size == 0 or size > MAX_MANIFEST_BYTES:
        raise _fail(directory, MANIFEST, f"size check failed ({size} bytes)")
    raw = path.read_bytes()
    if key is not None:
        sig_path = directory / SIGNATURE
        if not sig_path.is_file():
            raise _fail(directory, SIGNATURE, "missing, but a key was given: cannot verify")
        expected = hmac.new(_key_bytes(key), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), sig_path.read_bytes().strip()):
            raise _fail(directory, SIGNATURE, "signature check failed: tampered, or wrong key")
    try:
        manifest = parse_json(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError, bad JSON, 200k-deep nesting, huge ints
        raise _fail(directory, MANIFEST, f"JSON parse check failed ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _fail(directory, MANIFEST, f"format check failed: not a {FORMAT!r} manifest")
    version = manifest.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        advice = "upgrade relatedness" if newer else "re-fit and save the model"
        raise _fail(
            directory,
            MANIFEST,
            f"format version check failed: file has {version!r}, this relatedness reads "
            f"{FORMAT_VERSION}; {advice}",
        )
    for field_name in ("files", "params", "counts", "vectorizer", "id_type"):
        if field_name not in manifest:
            raise _fail(directory, MANIFEST, f"required key {field_name!r} is missing")
    checks = {
        "files": "files",
        "params": "parameter",
        "counts": "counts",
        "vectorizer": "vectorizer",
    }
    for field_name, check in checks.items():
        if not isinstance(manifest[field_name], dict):
            raise _fail(
                directory, MANIFEST, f"{check} check failed: {field_name!r} is not an object"
            )
    if manifest["id_type"] not in ("int", "str"):
        raise _fail(directory, MANIFEST, f"id_type check failed: {manifest['id_type']!r}")
    return manifest


def _verify_file(directory: Path, name: str, manifest: Mapping[str, Any]) -> Path:
    entry = manifest["files"].get(name) if isinstance(manifest["files"], dict) else None
    if not isinstance(entry, dict) or "sha256" not in entry or "bytes" not in entry:
        raise _fail(directory, name, "not listed in manifest.json")
    path = directory / name
    if not path.is_file():
        raise _fail(directory, name, "missing")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise _fail(
            directory, name, f"size check failed: {size} bytes, manifest says {entry['bytes']}"
        )
    if sha256_file(path) != entry["sha256"]:
        raise _fail(directory, name, "SHA-256 check failed: the file is corrupted or was changed")
    return path


def _load_array(directory: Path, name: str, manifest: Mapping[str, Any], mmap: bool) -> np.ndarray:
    path = _verify_file(directory, name, manifest)
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as exc:  # object arrays, pickles, bad headers
        raise _fail(directory, name, f"array check failed ({exc})") from None
    except (OSError, EOFError) as exc:
        raise _fail(directory, name, f"not a readable .npy file ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise _fail(directory, name, "array check failed: not a single .npy array")
    kind, ndim = {**ARRAYS, **GROWTH_ARRAYS}[name]
    if array.dtype.kind != kind or array.ndim != ndim:
        raise _fail(directory, name, f"dtype check failed: {array.dtype}, {array.ndim}-d")
    return array


def _load_json(directory: Path, name: str, manifest: Mapping[str, Any]) -> Any:
    path = _verify_file(directory, name, manifest)
    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # UnicodeDecodeError, bad JSON, 200k-deep nesting, huge ints
        raise _fail(directory, name, f"JSON parse check failed ({exc})") from None


def _count(directory: Path, counts: Any, name: str) -> int:
    value = counts.get(name) if isinstance(counts, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(directory, MANIFEST, f"counts check failed: {name!r} is {value!r}")
    return value


def _check_structure(directory: Path, manifest: Mapping[str, Any], parts: dict[str, Any]) -> None:
    counts = manifest["counts"]
    n, n_terms = _count(directory, counts, "n_articles"), _count(directory, counts, "n_terms")
    data, indices, indptr = parts["data"], parts["indices"], parts["indptr"]
    checks = [
        ("matrix.indptr.npy", len(indptr) == (n or 0) + 1, "length is not n_articles + 1"),
        ("matrix.indptr.npy", len(indptr) > 0 and indptr[0] == 0, "does not start at 0"),
        ("matrix.indptr.npy", bool(np.all(np.diff(indptr) >= 0)), "row starts decrease"),
        (
            "matrix.data.npy",
            len(data) == len(indices) == (indptr[-1] if len(indptr) else -1),
            "length does not match the indices and row starts",
        ),
        ("matrix.data.npy", bool(np.all(np.isfinite(data))), "holds non-finite values"),
        (
            "matrix.indices.npy",
            len(indices) == 0 or (indices.min() >= 0 and indices.max() < n_terms),
            "column out of range",
        ),
        ("idf.npy", len(parts["idf"]) == n_terms, "length is not n_terms"),
        (
            "idf.npy",
            bool(np.all(np.isfinite(parts["idf"]))) and bool(np.all(parts["idf"] > 0)),
            "idf values must be finite and > 0",
        ),
        (
            "vocabulary.json",
            isinstance(parts["terms"], list)
            and len(parts["terms"]) == n_terms
            and all(isinstance(t, str) for t in parts["terms"]),
            "not a list of n_terms strings",
        ),
        ("vocabulary.json", len(set(parts["terms"])) == len(parts["terms"]), "repeated terms"),
        (
            "boilerplate.json",
            isinstance(parts["lines"], list) and all(isinstance(t, str) for t in parts["lines"]),
            "not a list of strings",
        ),
    ]
    for name, ok, problem in checks:
        if not ok:
            raise _fail(directory, name, f"structure check failed: {problem}")
    articles = parts["articles"]
    keys = ("ids", "titles", "sections", "published", "urls", "snippets", "tags")
    if not isinstance(articles, dict) or any(
        not isinstance(articles.get(k), list) or len(articles[k]) != n for k in keys
    ):
        raise _fail(directory, "articles.json", f"structure check failed: needs {keys} of length n")
    languages = articles.get("languages")
    if languages is not None and (
        not isinstance(languages, list)
        or len(languages) != n
        or not set(languages) <= set(params.LANGUAGES)
    ):
        raise _fail(directory, "articles.json", "structure check failed: unknown languages")
    if not all(
        isinstance(t, list) and all(isinstance(x, str) for x in t) for t in articles["tags"]
    ):
        raise _fail(directory, "articles.json", "structure check failed: tags must be lists")
    if len(parts["norms"]) != n or not bool(np.all(np.isfinite(parts["norms"]))):
        raise _fail(directory, "norms.npy", "structure check failed: n_articles finite norms")
    id_type = int if manifest["id_type"] == "int" else str
    ids = articles["ids"]
    removed = articles.get("removed")
    if not isinstance(removed, list) or not set(removed) <= set(ids):
        raise _fail(directory, "articles.json", "removed check failed: not a list of known ids")
    if any(type(i) is not id_type for i in ids) or len(set(ids)) != len(ids):
        raise _fail(directory, "articles.json", "id check failed: ids of mixed type or repeated")
    for k in ("titles", "sections", "urls", "snippets"):
        if not all(isinstance(v, str) for v in articles[k]):
            raise _fail(directory, "articles.json", f"structure check failed: {k} must be strings")
    for value in articles["published"]:
        try:
            _from_iso(value)
        except (TypeError, ValueError):
            raise _fail(
                directory, "articles.json", f"published check failed: {value!r} is not ISO"
            ) from None


def load_model(
    path: str | Path,
    *,
    key: bytes | str | None = None,
    require_signature: bool = False,
    mmap: bool = False,
) -> tuple[dict[str, Any], Archive]:
    """Read a model directory: its parameter values and its archive.

    Parameters
    ----------
    path : str or Path
        A model directory (its ``CURRENT`` version is read), or a flat-layout one.
    key : bytes or str, optional
        When given, the manifest's HMAC signature must verify (an unsigned model is refused).
    require_signature : bool, default False
        Refuse to load without a verified signature: with no ``key`` this raises before any
        file but ``CURRENT`` is read. For models from a place others can write to (SHA-256
        detects corruption, only the HMAC detects tampering).
    mmap : bool, default False
        Memory-map the arrays instead of reading them.

    Returns
    -------
    (values, archive)
        The constructor's parameter values (a model saved before a parameter existed gets
        the value that reproduces it, :data:`relatedness.params.ADDED_LATER`) and the
        archive.

    Raises
    ------
    ModelFormatError
        A file is missing, truncated, corrupted, of another format version, or holds an
        object (pickle) array; the message names the file and the failed check.
    """
    directory = current_version(path)
    manifest = _read_manifest(directory, key, require_signature)
    parts: dict[str, Any] = {
        "data": _load_array(directory, "matrix.data.npy", manifest, mmap),
        "indices": _load_array(directory, "matrix.indices.npy", manifest, mmap),
        "indptr": _load_array(directory, "matrix.indptr.npy", manifest, mmap),
        "idf": _load_array(directory, "idf.npy", manifest, mmap),
        "norms": _load_array(directory, "norms.npy", manifest, mmap),
        "terms": _load_json(directory, "vocabulary.json", manifest),
        "articles": _load_json(directory, "articles.json", manifest),
        "lines": _load_json(directory, "boilerplate.json", manifest),
    }
    _check_structure(directory, manifest, parts)
    articles = parts["articles"]
    # A model saved before a parameter existed keeps the behaviour it was saved with.
    saved = {**params.ADDED_LATER, **manifest["params"]}
    missing, unknown = set(params.PARAMETERS) - set(saved), set(saved) - set(params.PARAMETERS)
    if missing or unknown:
        raise _fail(
            directory,
            MANIFEST,
            f"parameter check failed: missing {sorted(missing)!r}, unknown {sorted(unknown)!r}",
        )
    _check_patterns(directory, saved.get("boilerplate_patterns"))
    try:
        values = params.from_manifest(saved)
        params.check("RelatedArticles", values)
        vec_params = {name: values[name] for name in params.VECTORIZER_PARAMS}
        vec_params.update(
            {k: v for k, v in manifest["vectorizer"].items() if k != "effective_fields"}
        )
        vectorizer = FieldTfidfVectorizer.from_state(
            vec_params, parts["terms"], parts["idf"], parts["lines"]
        )
    except (TypeError, ValueError, KeyError, RelatednessError) as exc:
        raise _fail(directory, MANIFEST, f"parameter check failed ({exc})") from None
    n, n_terms = manifest["counts"]["n_articles"], manifest["counts"]["n_terms"]
    matrix = sp.csr_matrix(
        (parts["data"], parts["indices"], parts["indptr"]), shape=(n, n_terms), copy=False
    )
    archive = Archive(
        vectorizer=vectorizer,
        matrix=matrix,
        norms=np.asarray(parts["norms"], dtype=np.float64),
        ids=articles["ids"],
        titles=articles["titles"],
        sections=articles["sections"],
        published=[_from_iso(p) for p in articles["published"]],
        urls=articles["urls"],
        snippets=articles["snippets"],
        tags=articles["tags"],
        removed=articles["removed"],
        languages=articles.get("languages"),
        growth=_load_growth(directory, manifest, vectorizer, n, mmap),
    )
    return values, archive


def _check_patterns(directory: Path, patterns: Any) -> None:
    """Refuse patterns that could hang a query (a manifest is untrusted input, and its
    SHA-256s can be recomputed by whoever edits it): every one must run in linear time."""
    if not isinstance(patterns, list | tuple):
        return  # the parameter check names a wrong type
    for i, pattern in enumerate(patterns):
        problem = pattern_problem(pattern)
        if problem is not None:
            raise _fail(
                directory,
                MANIFEST,
                f"parameter check failed: boilerplate_patterns[{i}] {shown(pattern)} is "
                f"{problem}; refit the model with a simpler pattern "
                "(relatedness fit --boilerplate-pattern ...), or sign models (--key-file) so "
                "an edited manifest is refused",
            )


def _load_growth(
    directory: Path,
    manifest: Mapping[str, Any],
    vectorizer: FieldTfidfVectorizer,
    n_articles: int,
    mmap: bool,
) -> Growth | None:
    """The counts of the added articles, checked; None for a model without them."""
    if GROWTH_JSON not in manifest["files"]:
        return None
    document = _load_json(directory, GROWTH_JSON, manifest)
    arrays = {name: _load_array(directory, name, manifest, mmap) for name in GROWTH_ARRAYS}
    data, indices, indptr = (arrays[f"added.{part}.npy"] for part in ("data", "indices", "indptr"))
    fields = list(vectorizer.field_weights())
    terms = document.get("terms") if isinstance(document, dict) else None
    n_fitted = document.get("n_fitted_terms") if isinstance(document, dict) else None
    n_terms = len(vectorizer.vocabulary_)
    problems = [
        (
            isinstance(document, dict) and document.get("fields") == fields,
            "fields are not the model's",
        ),
        (
            isinstance(terms, list)
            and all(isinstance(t, str) for t in terms)
            and len(set(terms)) == len(terms),
            "terms are not a list of distinct strings",
        ),
        (
            type(n_fitted) is int and 0 <= n_fitted <= n_terms,
            "n_fitted_terms is not a count within the vocabulary",
        ),
        (
            1 <= len(indptr) <= n_articles + 1
            and indptr[0] == 0
            and bool(np.all(np.diff(indptr) >= 0))
            and len(data) == len(indices) == indptr[-1],
            "row starts do not match the counts",
        ),
        (
            len(indices) == 0
            or (indices.min() >= 0 and indices.max() < len(terms or ()) * len(fields)),
            "column out of range",
        ),
        (bool(np.all(np.asarray(data) > 0)), "counts must be positive"),
    ]
    for ok, problem in problems:
        if not ok:
            raise _fail(directory, GROWTH_JSON, f"growth check failed: {problem}")
    assert isinstance(terms, list)  # checked above
    assert isinstance(n_fitted, int)
    return Growth.from_arrays(fields, terms, n_fitted, data, indices, indptr)
