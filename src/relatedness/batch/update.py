"""``relatedness update``: add and take down articles, write exactly the lists that change, and
keep the model and a precompute database in step whatever kills the process.

An update is named by its inputs (the added rows, the removed ids, ``k``): the SHA-256 of
their canonical JSON is its *id*. The model it starts from is named by the SHA-256 of its
manifest, the *base*. The steps, in this order:

1. If the model's manifest already records this update (``metadata.update.sha256``), it is
   done: nothing is written (the database is checked to hold it too).
2. Plan in memory, on a second copy of the model: removals, then additions (the vocabulary
   grows, :mod:`relatedness.features.growth`). The lists that may change are bounded by
   ``affected()``; both the old and the new lists of those are computed and only the ones
   that differ are kept (the new articles' lists always).
3. Write the diff file atomically: one line per changed list, then one
   ``{"id": ..., "removed": true}`` line per article taken down.
4. With ``apply``: in one SQLite transaction, apply the diff and add a ``runs`` row whose
   ``run_id`` is ``update-<base[:16]>-<id[:16]>``. A database that already has that row is
   left alone (the step committed before a kill).
5. Save the model with the update in its manifest's metadata: the commit of the whole
   update (a new version, switched in one step, :mod:`relatedness.store`).

Killed before step 4 commits, nothing but the diff file changed; the same command run again
recomputes the same lists and does everything. Killed between steps 4 and 5, the database
holds the update and the model does not: the rerun recomputes the same lists, finds its
``runs`` row, leaves the database and saves the model. Killed after step 5, the rerun finds the
journal and stops. A *different* update started while the database holds a half-done one
from the same base is refused: the database would then hold both and the model one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..articles import check_articles
from ..atomic import atomic_write, sha256_file
from ..recommender import RelatedArticles
from ..results import ArticleId, UpdateReport
from ..store import MANIFEST, current_version, read_manifest
from .outcome import OutputError
from .writers import SqliteWriter

__all__ = ["UpdateSummary", "update_model"]


@dataclass(frozen=True)
class UpdateSummary:
    """What :func:`update_model` did.

    Attributes
    ----------
    removed : list of ids
        Articles taken down by this update (ids already removed before are left out).
    report : UpdateReport or None
        What adding the new articles did (``None`` without additions).
    checked : int
        Lists recomputed: those ``affected()`` says may change.
    changed : int
        Lists written to the diff (and the database): exactly those that differ from
        before, the new articles' included.
    diff : Path
    database : Path or None
    already_applied : bool
        The model already held this update: nothing was done.
    update_id : str
        The SHA-256 naming the update (its inputs).
    seconds : float
    """

    removed: list[ArticleId]
    report: UpdateReport | None
    checked: int
    changed: int
    diff: Path
    database: Path | None
    already_applied: bool
    update_id: str
    seconds: float


def _update_id(rows: Sequence[Any], removed: Sequence[Any], k: int | None) -> str:
    body = json.dumps(
        {"add": list(rows), "remove": list(removed), "k": k},
        sort_keys=True,
        default=str,
        ensure_ascii=True,
    )
    return hashlib.sha256(body.encode("ascii")).hexdigest()


def _run_id(base: str, update_id: str) -> str:
    return f"update-{base[:16]}-{update_id[:16]}"


def _as_model_id(model: RelatedArticles, value: Any) -> Any:
    """An id read from a file (text) in the model's id type."""
    if isinstance(value, str) and model.ids_ and isinstance(model.ids_[0], int):
        try:
            return int(value.strip())
        except ValueError:
            return value
    return value.strip() if isinstance(value, str) else value


def _open_database(database: Path) -> sqlite3.Connection:
    if not database.is_file():
        msg = f"{database}: no such database; run relatedness precompute first"
        raise OutputError(msg)
    # isolation_level=None: the transaction is ours (BEGIN IMMEDIATE ... COMMIT), so the
    # check for the journal row and the writes are one transaction.
    return sqlite3.connect(database, isolation_level=None)


def _check_database(database: Path, model: RelatedArticles) -> None:
    """A precompute database of this model's id type, before anything is computed."""
    con = _open_database(database)
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        con.execute("SELECT run_id, params_json FROM runs LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        msg = f"{database}: not a relatedness precompute database ({exc})"
        raise OutputError(msg) from None
    finally:
        con.close()
    id_type = "int" if model.ids_ and isinstance(model.ids_[0], int) else "str"
    if meta.get("format") != "relatedness-precompute" or meta.get("id_type") != id_type:
        msg = (
            f"{database}: not a relatedness precompute database of this model (format "
            f"{meta.get('format')!r}, id type {meta.get('id_type')!r}, the model's {id_type!r})"
        )
        raise OutputError(msg)


def _database_has(database: Path, run_id: str) -> bool:
    con = _open_database(database)
    try:
        found = con.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    except sqlite3.DatabaseError as exc:
        msg = f"{database}: not a relatedness precompute database ({exc})"
        raise OutputError(msg) from None
    finally:
        con.close()
    return found is not None


def _apply(
    database: Path,
    lists: Mapping[ArticleId, list[dict[str, Any]]],
    removed: Sequence[ArticleId],
    run_id: str,
    note: Mapping[str, Any],
    seconds: float,
) -> bool:
    """Apply the diff in one transaction; False when the database already holds it."""
    con = _open_database(database)
    try:
        con.execute("BEGIN IMMEDIATE")
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
            con.execute("ROLLBACK")
            return False
        last = con.execute("SELECT run_id, params_json FROM runs ORDER BY rowid DESC LIMIT 1")
        _refuse_half_done(database, last.fetchone(), note)
        SqliteWriter.apply_diff(con, lists, removed, seconds, run_id=run_id, note=note)
        con.execute("COMMIT")
        return True
    except sqlite3.DatabaseError as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        msg = f"{database}: not a relatedness precompute database ({exc})"
        raise OutputError(msg) from None
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def _refuse_half_done(database: Path, last: Any, note: Mapping[str, Any]) -> None:
    """The newest run is another update from the same model that the model does not hold."""
    if last is None:
        return
    try:
        previous = json.loads(last[1])
    except (TypeError, ValueError):
        return
    if (
        isinstance(previous, dict)
        and previous.get("base_model_sha256") == note["base_model_sha256"]
        and previous.get("update_sha256") != note["update_sha256"]
    ):
        msg = (
            f"{database} holds update {last[0]}, started from this model, which the model "
            "does not hold (the command was interrupted after the database step): run that "
            "update again to complete it, or rebuild the database with relatedness precompute"
        )
        raise OutputError(msg)


def update_model(
    model_path: str | Path,
    *,
    add: Iterable[Mapping[str, Any]] | None = None,
    remove: Iterable[Any] = (),
    out: str | Path,
    apply: str | Path | None = None,
    k: int | None = None,
    key: bytes | str | None = None,
    require_signature: bool = False,
) -> UpdateSummary:
    """Add and remove articles, write the changed lists, update a database, save the model.

    Crash-safe and idempotent: the module docstring gives the order of the steps and why a
    rerun of the same update completes it.

    Parameters
    ----------
    model_path : str or Path
        The saved model; the updated one is saved there (a new version).
    add : iterable of dict, optional
        New articles, as :meth:`RelatedArticles.add` takes them.
    remove : iterable of ids
        Articles to take down (ids read from a file as text are turned into int ids for an
        int-id model).
    out : str or Path
        The diff file (JSON Lines).
    apply : str or Path, optional
        A precompute SQLite database to update in place, in one transaction.
    k : int, optional
        List length (default: the model's).
    key : bytes or str, optional
        Signs the saved model (``manifest.sig``); also required to verify a signed one.
    require_signature : bool, default False
        Refuse a model whose signature ``key`` does not verify (or when no ``key`` is given).

    Returns
    -------
    UpdateSummary

    Raises
    ------
    UnknownArticleError
        An id to remove is not in the model.
    DuplicateIdError
        A new id is already in the model.
    OutputError
        ``apply`` is not a precompute database, or holds another update that is half done.
    """
    started = time.perf_counter()
    model_path, out = Path(model_path), Path(out)
    database = None if apply is None else Path(apply)
    version = current_version(model_path)  # one version read throughout: it never changes
    base = sha256_file(version / MANIFEST)
    before = RelatedArticles.load(version, key=key, require_signature=require_signature)
    # Checked once: the update is named by the articles, not by how a reader shaped them.
    rows = check_articles(add or [], on_invalid=before.on_invalid)
    wanted_removed = [_as_model_id(before, i) for i in remove]
    update_id = _update_id([a.to_dict() for a in rows], wanted_removed, k)
    metadata = read_manifest(version).get("metadata")
    journal = metadata.get("update") if isinstance(metadata, dict) else None
    if isinstance(journal, dict) and journal.get("sha256") == update_id:
        if database is not None and not _database_has(
            database, _run_id(str(journal.get("base")), update_id)
        ):
            msg = (
                f"the model already holds this update but {database} does not (it was run "
                "without --apply, or the database was replaced): rebuild it with "
                "relatedness precompute"
            )
            raise OutputError(msg)
        return UpdateSummary(
            [], None, 0, 0, out, database, True, update_id, time.perf_counter() - started
        )
    if database is not None:
        _check_database(database, before)  # before anything is computed or written

    after = RelatedArticles.load(version, key=key, require_signature=require_signature)
    removed = [i for i in before.resolve_ids(wanted_removed) if i not in before.removed_]
    checked = set(before.affected(removed)) if removed else set()
    after.remove(removed)
    report = None
    if rows:
        report = after.add(rows)
        checked |= set(after.affected([*report.added, *report.reweighed]))
    gone = after.removed_
    ids = [i for i in after.ids_ if i in checked and i not in gone]
    new_lists = {
        i: [r.to_dict() for r in lst] for i, lst in after.related_many(ids, k=k).items()
    }
    known = set(before.ids_)
    old_ids = [i for i in ids if i in known and i not in before.removed_]
    old_lists = {
        i: [r.to_dict() for r in lst] for i, lst in before.related_many(old_ids, k=k).items()
    }
    changed = {i: lst for i, lst in new_lists.items() if old_lists.get(i) != lst}

    with atomic_write(out, "w", encoding="utf-8") as handle:
        for article_id, related in changed.items():
            handle.write(json.dumps({"id": article_id, "related": related}, ensure_ascii=False))
            handle.write("\n")
        for article_id in removed:
            handle.write(json.dumps({"id": article_id, "removed": True}, ensure_ascii=False))
            handle.write("\n")
    note = {
        "update_sha256": update_id,
        "base_model_sha256": base,
        "added": 0 if report is None else len(report.added),
    }
    if database is not None:
        seconds = time.perf_counter() - started
        _apply(database, changed, removed, _run_id(base, update_id), note, seconds)
    journal = {"sha256": update_id, "base": base, "removed": len(removed), "added": note["added"]}
    after.save(model_path, key=key, metadata={"update": journal})
    return UpdateSummary(
        removed=removed,
        report=report,
        checked=len(ids),
        changed=len(changed),
        diff=out,
        database=database,
        already_applied=False,
        update_id=update_id,
        seconds=time.perf_counter() - started,
    )
