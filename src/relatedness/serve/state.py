"""The model a server answers from: loaded, checked, warmed, and swapped in one assignment.

Nothing here knows HTTP. :class:`Served` is one immutable snapshot (the model, its id, when it
was loaded); :class:`ModelHolder` keeps the current one and replaces it on :meth:`reload`, so a
request that has read ``holder.current`` answers from one model from start to end, and a reload
never leaves a half-swapped state: the new snapshot is built beside the old one and published
by a single attribute assignment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import params
from ..exceptions import InvalidParameterError, RelatednessError
from ..recommender import RelatedArticles
from ..store import manifest_sha256, read_manifest

__all__ = ["ModelHolder", "Served", "load_checked"]

logger = logging.getLogger("relatedness.serve")


@dataclass(frozen=True)
class Served:
    """One loaded model and what the server says about it.

    Attributes
    ----------
    model : RelatedArticles
    model_id : str
        SHA-256 of the model's ``manifest.json`` (for a model given in memory, of its
        parameters and ids: it has no manifest).
    loaded_at : datetime
        UTC.
    path : Path or None
        The directory it was loaded from.
    id_type : type
        ``int`` or ``str``: how a path segment is read.
    """

    model: RelatedArticles
    model_id: str
    loaded_at: dt.datetime
    path: Path | None
    id_type: type
    counts: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    def health(self) -> dict[str, Any]:
        """The ``/healthz`` document."""
        return {
            "status": "ok",
            "model": self.model_id,
            "counts": self.counts,
            "parameters": self.parameters,
            "loaded_at": self.loaded_at.isoformat(),
        }


def _id_type(model: RelatedArticles) -> type:
    return int if model.ids_ and isinstance(model.ids_[0], int) else str


def _check(model: RelatedArticles) -> None:
    """Warm the model and answer one query: a model that cannot is not served."""
    model.warm_up()
    if model.ids_:
        model.related(model.ids_[0], k=1)


def load_checked(
    path: str | Path, *, key: bytes | str | None = None, require_signature: bool = False
) -> Served:
    """Load the model at ``path`` memory-mapped, warm it and run one query.

    Raises
    ------
    InvalidParameterError
        ``require_signature`` without a ``key``.
    ModelFormatError
        The files fail a check; with a ``key``, also a missing or wrong ``manifest.sig``.
    """
    if require_signature and key is None:
        msg = (
            "require_signature needs a key: pass key=..., --key-file FILE or set "
            "RELATEDNESS_KEY to the secret the model was signed with."
        )
        raise InvalidParameterError(msg)
    path = Path(path)
    # The id first: read from the version CURRENT names now, so a deploy switching the
    # pointer between the two reads is caught by the comparison below.
    model_id = manifest_sha256(path)
    manifest = read_manifest(path, key=key)
    model = RelatedArticles.load(path, key=key, mmap=True)
    if manifest_sha256(path) != model_id:
        msg = f"{path}: the model changed while it was being loaded; reload again."
        raise RelatednessError(msg)
    _check(model)
    return Served(
        model=model,
        model_id=model_id,
        loaded_at=dt.datetime.now(dt.timezone.utc),
        path=path,
        id_type=_id_type(model),
        counts=dict(manifest.get("counts", {})),
        parameters=dict(manifest.get("params", {})),
    )


def from_memory(model: RelatedArticles) -> Served:
    """A snapshot of a model fitted in this process (no manifest: the id hashes its content)."""
    values = params.to_manifest(model.get_params())
    digest = hashlib.sha256(
        json.dumps({"params": values, "ids": list(model.ids_)}, sort_keys=True, default=str)
        .encode("utf-8")
    ).hexdigest()
    _check(model)
    return Served(
        model=model,
        model_id=digest,
        loaded_at=dt.datetime.now(dt.timezone.utc),
        path=None,
        id_type=_id_type(model),
        counts={"n_articles": model.n_articles_, "n_empty": model.n_empty_},
        parameters=values,
    )


class ModelHolder:
    """The current :class:`Served` snapshot, and its replacement on reload.

    Parameters
    ----------
    model_or_path : RelatedArticles, str or Path
    key : bytes or str, optional
        The secret the model's ``manifest.sig`` is checked against.
    require_signature : bool, default False
        Refuse a model without a valid signature (needs ``key``).
    """

    def __init__(
        self,
        model_or_path: RelatedArticles | str | Path,
        *,
        key: bytes | str | None = None,
        require_signature: bool = False,
    ) -> None:
        self.key = key
        self.require_signature = require_signature
        self._lock = threading.Lock()  # one reload at a time; readers never take it
        if isinstance(model_or_path, RelatedArticles):
            if require_signature:
                msg = "require_signature applies to a model directory; pass its path."
                raise InvalidParameterError(msg)
            self.current = from_memory(model_or_path)
        elif isinstance(model_or_path, str | Path):
            self.current = load_checked(
                model_or_path, key=key, require_signature=require_signature
            )
        else:
            msg = (
                "create_app takes a fitted RelatedArticles or a model directory, got a "
                f"{type(model_or_path).__name__}."
            )
            raise InvalidParameterError(msg)

    def reload(self) -> bool:
        """Load the model at the same path again, check it, and swap it in.

        A model that fails to load or to answer is refused with a log line and the old one
        keeps serving. Returns whether a new model is now served.
        """
        old = self.current
        if old.path is None:
            logger.warning("reload: the model was given in memory; nothing to reload")
            return False
        if not self._lock.acquire(blocking=False):
            logger.warning("reload: a reload is already running; this one is skipped")
            return False
        try:
            try:
                new = load_checked(
                    old.path, key=self.key, require_signature=self.require_signature
                )
            except Exception as exc:  # noqa: BLE001 - any failure refuses the model, logged
                logger.error(
                    "reload refused: the model at %s failed (%s: %s); still serving %s",
                    old.path, type(exc).__name__, exc, old.model_id[:12],
                )  # fmt: skip
                return False
            self.current = new  # one assignment: requests read either the old or the new
            logger.info(
                "reloaded: serving %s (%d articles) from %s, was %s",
                new.model_id[:12], new.model.n_articles_, old.path, old.model_id[:12],
            )  # fmt: skip
            return True
        finally:
            self._lock.release()
