"""Checks at the door: every public entry point validates here, once.

Each ``check_*`` function returns the clean value, so callers always rebind
(``k = check_k(k)``). Nothing behind the façade (the scoring kernels, the vectorizer's inner
loops) validates again.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import InvalidParameterError

__all__ = [
    "MAX_K",
    "Constraint",
    "check_count",
    "check_exclude",
    "check_k",
    "check_params",
    "interval",
    "one_of",
    "shown",
    "type_of",
]

#: The largest ``k`` honoured: a larger one means the same (no list is longer than the archive),
#: and every array sized by ``k`` stays within a C ``int``.
MAX_K = 2**31 - 1

#: How many characters of a value an error message shows.
_SHOWN_CHARS = 80


@dataclass(frozen=True)
class Constraint:
    """One accepted form of a parameter: a predicate and the words that describe it."""

    test: Callable[[Any], bool]
    description: str


def _is_int(value: Any) -> bool:
    # bool is an int subclass, but k=True is a bug, never a request for one result.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    )


def interval(
    kind: str, low: float | None, high: float | None, *, closed: str = "both"
) -> Constraint:
    """Accept an ``"int"`` or ``"real"`` in ``[low, high]`` (ends per ``closed``)."""
    is_kind = _is_int if kind == "int" else _is_real
    low_ok: Callable[[Any], bool]
    high_ok: Callable[[Any], bool]
    if low is None:
        low_ok = lambda v: True  # noqa: E731
    elif closed in ("both", "left"):
        low_ok = lambda v: v >= low  # noqa: E731
    else:
        low_ok = lambda v: v > low  # noqa: E731
    if high is None:
        high_ok = lambda v: True  # noqa: E731
    elif closed in ("both", "right"):
        high_ok = lambda v: v <= high  # noqa: E731
    else:
        high_ok = lambda v: v < high  # noqa: E731
    left = "[" if closed in ("both", "left") and low is not None else "("
    right = "]" if closed in ("both", "right") and high is not None else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    word = "an int" if kind == "int" else "a float"
    return Constraint(
        lambda v: is_kind(v) and low_ok(v) and high_ok(v),
        f"{word} in the range {left}{lo}, {hi}{right}",
    )


def one_of(*options: Any) -> Constraint:
    """Accept exactly one of ``options`` (compared with ``==``)."""
    return Constraint(
        lambda v: isinstance(v, str | bool | type(None) | int | float) and v in options,
        "one of " + ", ".join(repr(o) for o in options),
    )


def type_of(*types: type, description: str | None = None) -> Constraint:
    """Accept an instance of any of ``types`` (bool is never taken for a number)."""

    def test(value: Any) -> bool:
        if isinstance(value, bool) and bool not in types:
            return False
        return isinstance(value, types)

    names = " or ".join(t.__name__ for t in types)
    return Constraint(test, description or f"an instance of {names}")


NONE = Constraint(lambda v: v is None, "None")


def check_params(owner: str, params: Mapping[str, Any], table: Mapping[str, list[Constraint]]):
    """Check ``params`` against a declarative ``table`` of accepted forms.

    Parameters
    ----------
    owner : str
        The class or function name, used in the message.
    params : mapping
        Parameter name to value.
    table : mapping
        Parameter name to the list of accepted :class:`Constraint`. Names not in the table are
        not checked here (they have their own check).

    Raises
    ------
    InvalidParameterError
        With one message shape everywhere: "The 'k' parameter of RelatedArticles must be an int
        in the range [1, inf). Got 0 instead."
    """
    for name, constraints in table.items():
        value = params[name]
        if any(c.test(value) for c in constraints):
            continue
        allowed = [c.description for c in constraints]
        text = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
        msg = f"The {name!r} parameter of {owner} must be {text}. Got {shown(value)} instead."
        raise InvalidParameterError(msg)


def shown(value: Any) -> str:
    """``repr(value)`` for a message: at most 80 characters, and never an error itself.

    ``repr`` of an int of more than 4,300 digits raises ``ValueError`` (Python's guard against
    quadratic conversions), and a 50 MB string would flood a log; both are bad inputs that
    messages must be able to name.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<an int of about {int(value.bit_length() * 0.30103) + 1} digits>"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a message must never fail on the value it names
        return f"<a {type(value).__name__}>"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def check_k(k: Any, owner: str = "RelatedArticles") -> int:
    """Return ``k`` as an int >= 1, or raise :class:`InvalidParameterError`.

    ``k`` larger than the corpus is allowed: lists are simply shorter. A ``k`` above
    :data:`MAX_K` (e.g. ``10**30``) is taken as :data:`MAX_K`, which returns the same lists.
    """
    check_params(owner, {"k": k}, {"k": [interval("int", 1, None)]})
    return min(int(k), MAX_K)


def check_count(name: str, value: Any, owner: str) -> int:
    """Return ``value`` as an int >= 1 (a batch size, a number of jobs), or raise
    :class:`InvalidParameterError` (``0``, ``-1``, ``True`` and ``2.5`` are refused)."""
    check_params(owner, {name: value}, {name: [interval("int", 1, None)]})
    return int(value)


def check_exclude(ids: Any, owner: str = "RelatedArticles") -> list[Any]:
    """Return per-call exclusions as a list of ids, or raise :class:`InvalidParameterError`.

    ``None`` means none; a single str or int id is one exclusion; otherwise an iterable of
    str/int ids (``bool`` is not an id). ``1.5`` or ``[["x"]]`` are refused by name.
    """
    if ids is None:
        return []
    if isinstance(ids, str | int) and not isinstance(ids, bool):
        return [ids]
    problem = ""
    if isinstance(ids, bytes | bytearray | Mapping) or not hasattr(ids, "__iter__"):
        problem = f"a {type(ids).__name__}"
    else:
        ids = list(ids)
        bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, str | int)]
        if bad:
            problem = f"an iterable holding {shown(bad[0])} (a {type(bad[0]).__name__})"
    if problem:
        msg = (
            f"The 'exclude' parameter of {owner} must be None, an id, or an iterable of str or "
            f"int ids. Got {problem} instead."
        )
        raise InvalidParameterError(msg)
    return list(ids)
