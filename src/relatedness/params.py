"""The parameter table: every :class:`~relatedness.RelatedArticles` parameter, declared once.

Each :class:`Param` row says what a parameter defaults to, which values it accepts, which part
of the library reads it, its flag on ``relatedness fit``, the release that added it (and the
value that reproduces a model saved before then), and how it travels in a model manifest. The
façade's signature, :class:`~relatedness.features.tfidf.FieldTfidfVectorizer`'s signature, the
checks at ``fit``, the manifest codec and the command line all read this table, so a new
parameter is one row here plus the code that uses it (``docs/architecture.md``: "Add a
policy").

The value domains the rows refer to (languages, fields, section policies, fallback steps) are
declared here too: they are the vocabulary of the parameters, and the layers below take them
from this module.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .exceptions import InvalidParameterError
from .validation import NONE, Constraint, check_params, interval, one_of, type_of

__all__ = [
    "ADDED_LATER",
    "DEFAULTS",
    "DEFAULT_FIELDS",
    "FALLBACK_STEPS",
    "FIELD_NAMES",
    "LANGUAGES",
    "LIST_PARAMS",
    "PARAMETERS",
    "PRESETS",
    "SECTION_POLICIES",
    "STEMMERS",
    "TOKENIZERS",
    "VECTORIZER_PARAMS",
    "Flag",
    "Param",
    "check",
    "flags",
    "from_manifest",
    "preset",
    "to_manifest",
]

# ------------------------------------------------------------------------------ domains

#: The languages an article may be analysed in: the Snowball languages (a stemmer and a
#: shipped stop word list) and Chinese, Japanese and Korean (character bigrams, unstemmed).
#: ``language="auto"`` detects each article's language among them.
LANGUAGES = (
    "arabic", "chinese", "danish", "dutch", "english", "finnish", "french", "german",
    "hungarian", "italian", "japanese", "korean", "norwegian", "portuguese", "romanian",
    "russian", "spanish", "swedish",
)  # fmt: skip

#: How text is split into tokens (see relatedness.features.analysis.raw_tokens).
TOKENIZERS = ("standard", "runs")

#: The Snowball implementations: ``"auto"`` is PyStemmer when installed, else nltk. They
#: differ on a few words (PyStemmer ships Snowball 2.x: about 0.1% of English and Portuguese
#: tokens, far more in Arabic), so a model records which one made its vocabulary.
STEMMERS = ("auto", "nltk", "pystemmer")

#: The fields an article contributes to its vector, in the order they are summed.
FIELD_NAMES = ("title", "body", "tags")

#: Measured on the BBC set (section_policy="any", P@10 of same-section neighbours): title weight
#: 2.0 -> 0.907, 1.0 -> 0.917, 0.5 -> 0.921, 0.0 -> 0.922. A headline repeats the story's key
#: words, which the body already carries; weighting it up over-rewards shared headline words.
DEFAULT_FIELDS: Mapping[str, float] = {"title": 0.5, "body": 1.0, "tags": 1.0}

#: Where related stories come from: the article's section, every section, or the section
#: first and the best of the others to fill the list.
SECTION_POLICIES = ("same", "any", "prefer")

#: Steps a fallback chain may name, tried in order while a list is shorter than k.
#: "same_section": the model's own section policy (a no-op as a first step, for readability);
#: "any": stories of every section; "relax_time": drop max_age and allow newer stories;
#: "latest": the newest stories of the same section, whatever their score (score 0).
FALLBACK_STEPS = ("same_section", "any", "relax_time", "latest")

#: The first release; a row's ``added`` names the release that introduced the parameter.
FIRST_RELEASE = "0.1.0"

#: ``Param.before`` of a parameter every saved model records.
ALWAYS_SAVED: Any = object()

# ------------------------------------------------------------------------------ value tests


def _is_fields(value: Any) -> bool:
    if not isinstance(value, Mapping) or not value:
        return False
    if any(k not in FIELD_NAMES for k in value):
        return False
    weights = list(value.values())
    ok = all(
        isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
        for w in weights
    )
    return ok and any(w > 0 for w in weights)


def _is_patterns(value: Any) -> bool:
    """A list/tuple of regular expressions (str or compiled) that all compile."""
    if not isinstance(value, list | tuple):
        return False
    for pattern in value:
        if isinstance(pattern, re.Pattern):
            continue
        if not isinstance(pattern, str):
            return False
        try:
            re.compile(pattern)
        except re.error:
            return False
    return True


def _is_ngram_range(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 1 <= value[0] <= value[1] <= 3
    )


def _is_overrides(value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    for section, rule in value.items():
        if not isinstance(section, str) or not isinstance(rule, Mapping):
            return False
        if not set(rule) <= {"max_age", "recency_half_life"}:
            return False
        for v in rule.values():
            if v is not None and not (
                isinstance(v, int | float) and not isinstance(v, bool) and v > 0
            ):
                return False
    return True


def _is_id_list(value: Any) -> bool:
    return isinstance(value, list | tuple | set | frozenset) and all(
        isinstance(i, str | int) and not isinstance(i, bool) for i in value
    )


def _is_pinned(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(key, str | int) and not isinstance(key, bool) and _is_id_list(items)
        for key, items in value.items()
    )


def _is_pairs(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(
        isinstance(pair, list | tuple) and len(pair) == 2 and _is_id_list(pair) for pair in value
    )


def _is_fallback(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(step in FALLBACK_STEPS for step in value)


def _is_section_list(value: Any) -> bool:
    return isinstance(value, list | tuple | set | frozenset) and all(
        isinstance(x, str) for x in value
    )


# ------------------------------------------------------------------------------ flag values


def parse_optional_float(text: str) -> float | None:
    """A flag value that is a number or ``none``/``off`` (the rule is off)."""
    if text.strip().lower() in ("none", "off", ""):
        return None
    try:
        return float(text)
    except ValueError:
        msg = f"expected a number or 'none', got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def parse_df(text: str) -> int | float:
    """A document-frequency bound as written: "2" is a count, "1.0" or "0.5" a share."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        msg = f"expected a count like 2 or a share like 0.5, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _steps(text: str) -> tuple[str, ...]:
    return tuple(step.strip() for step in text.split(",") if step.strip())


# ------------------------------------------------------------------------------ the rows


@dataclass(frozen=True)
class Flag:
    """How ``relatedness fit`` sets a parameter.

    ``options`` are :meth:`argparse.ArgumentParser.add_argument` keywords. Without a
    ``default`` in them the flag is absent from the parsed arguments unless typed
    (``argparse.SUPPRESS``), so the parameter keeps its library default. ``value`` turns the
    parsed flag into the parameter's value (``None``: as parsed).
    """

    option: str
    options: Mapping[str, Any] = field(default_factory=dict)
    value: Callable[[Any], Any] | None = None
    #: ``"fit"``: the fit options; ``"policy"``: the "newsroom policies" group.
    group: Literal["fit", "policy"] = "fit"

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments (argparse's spelling of the option)."""
        return self.option.lstrip("-").replace("-", "_")


#: How a value travels in a manifest: as is, a tuple (a JSON list), pairs of ids, the
#: ``pinned`` mapping (JSON object keys would turn int ids into str), or a nested mapping.
Codec = Literal["plain", "tuple", "pairs", "pinned", "mapping", "fields", "words", "patterns"]


@dataclass(frozen=True)
class Param:
    """One parameter of :class:`~relatedness.RelatedArticles`."""

    name: str
    default: Any
    accepts: tuple[Constraint, ...]
    #: ``"vectors"``: the vectorizer's (they shape the TF-IDF rows); ``"lists"``: the rules
    #: that choose a list (a ``--policy-file`` may set them); ``"fit"``: how a fit runs.
    part: Literal["vectors", "lists", "fit"]
    flag: Flag | None = None
    added: str = FIRST_RELEASE
    #: The value that reproduces a model saved before the parameter existed (models of the
    #: same release can predate it: format 1 shipped before ``idf_power`` and ``feedback``).
    #: It is often not today's default: such a model keeps its behaviour.
    before: Any = ALWAYS_SAVED
    codec: Codec = "plain"


def _row(name: str, default: Any, *accepts: Constraint, **rest: Any) -> Param:
    return Param(name, default, accepts, **rest)


_POSITIVE_DAYS = interval("real", 0, None, closed="neither")

_ROWS = (
    _row("k", 5, interval("int", 1, None), part="lists", flag=Flag(
        "--k", {"type": int, "help": "related articles per list (default: 5)"})),
    _row("section_policy", "same", one_of(*SECTION_POLICIES), part="lists", flag=Flag(
        "--section-policy", {"choices": SECTION_POLICIES})),
    _row("fields", None, NONE, Constraint(
        _is_fields,
        "a dict mapping some of 'title', 'body', 'tags' to finite weights >= 0 (at least one > 0)",
    ), part="vectors", codec="fields", flag=Flag(
        "--title-weight",
        {"type": float,
         "help": "weight of headline words relative to body words (default: the library's, "
         f"{DEFAULT_FIELDS['title']})"},
        value=lambda weight: {"title": weight, "body": 1.0, "tags": 1.0},
    )),
    _row("language", "english", one_of(*LANGUAGES, "auto"), part="vectors",
         flag=Flag("--language")),
    _row("tokenizer", "standard", one_of(*TOKENIZERS), part="vectors", before="runs",
         added="0.2.0"),
    _row("stop_words", "auto", one_of("auto"), NONE, type_of(list, tuple, set, frozenset),
         part="vectors", codec="words"),
    _row("stem", True, type_of(bool), part="vectors"),
    _row("stemmer", "auto", one_of(*STEMMERS), part="vectors", before="nltk", added="0.2.0"),
    _row("sublinear_tf", True, type_of(bool), part="vectors"),
    _row("idf_power", 0.5, interval("real", 0, 4), part="vectors", before=1.0, flag=Flag(
             "--idf-power",
             {"type": float, "metavar": "P",
              "help": "weigh terms by idf ** P (1: classic TF-IDF; default: the library's, 0.5)"},
         )),
    _row("min_df", 3, interval("int", 1, None), interval("real", 0, 1, closed="right"),
         part="vectors", flag=Flag(
             "--min-df",
             {"type": parse_df, "help": "keep terms in at least this many articles (an int) or "
              "share (0.01); default: the library's (3)"},
         )),
    _row("max_df", 1.0, interval("int", 1, None), interval("real", 0, 1, closed="right"),
         part="vectors", flag=Flag(
             "--max-df",
             {"type": parse_df,
              "help": "keep terms in at most this many articles (an int) or share (0.5)"},
         )),
    _row("ngram_range", (1, 2), Constraint(
        _is_ngram_range, "a pair (min_n, max_n) with 1 <= min_n <= max_n <= 3"
    ), part="vectors", codec="tuple", flag=Flag(
        "--ngram-max",
        {"type": int, "choices": (1, 2, 3), "help": "longest word sequence indexed: 1 words "
         "only, 2 adds word pairs (default: the library's, 2)"},
        value=lambda longest: (1, longest),
    )),
    _row("max_chars", 200_000, interval("int", 1, None), part="vectors"),
    _row("boilerplate", True, type_of(bool), part="vectors"),
    _row("boilerplate_patterns", (), Constraint(
        _is_patterns, "a list of regular expressions (str or re.Pattern) that compile"
    ), part="vectors", codec="patterns"),
    _row("boilerplate_min_share", 0.05, NONE, interval("real", 0, 1, closed="right"),
         part="vectors"),
    _row("snippet_chars", 160, interval("int", 20, None), part="fit"),
    _row("working_memory", 256, interval("real", 1, None), part="fit"),
    _row("on_invalid", "raise", one_of("raise", "skip"), part="fit", flag=Flag(
        "--skip-invalid",
        {"action": "store_const", "const": "skip",
         "help": "leave out invalid rows instead of failing (see --rejects)"},
    )),
    _row("on_duplicate", "raise", one_of("raise", "keep_last"), part="fit", flag=Flag(
        "--keep-last",
        {"action": "store_const", "const": "keep_last",
         "help": "on duplicate ids keep the newest copy instead of failing"},
    )),
    _row("max_age", None, NONE, _POSITIVE_DAYS, part="lists", flag=Flag(
        "--max-age",
        {"type": float, "metavar": "DAYS",
         "help": "never relate stories published more than DAYS apart"},
        group="policy",
    )),
    _row("recency_half_life", None, NONE, _POSITIVE_DAYS, part="lists", flag=Flag(
        "--half-life",
        {"type": float, "metavar": "DAYS",
         "help": "recency decay: halve the score every DAYS of age gap"},
        group="policy",
    )),
    _row("section_overrides", None, NONE, Constraint(
        _is_overrides,
        "a dict {section: {'max_age' and/or 'recency_half_life': days > 0 or None}}",
    ), part="lists", codec="mapping"),
    _row("allow_newer", True, type_of(bool), part="lists", flag=Flag(
        "--no-newer",
        {"action": "store_false",
         "help": "never link to stories published after the article (archive mode)"},
        group="policy",
    )),
    _row("duplicate_threshold", 0.8, NONE, interval("real", 0, 1, closed="right"),
         part="lists", flag=Flag(
             "--duplicate-threshold",
             {"type": parse_optional_float, "metavar": "COSINE",
              "help": "drop copies of the same story at or above this cosine (default 0.8; "
              "'none' keeps them)"},
             group="policy",
         )),
    _row("diversity", 0.0, interval("real", 0, 1), part="lists", flag=Flag(
        "--diversity",
        {"type": float, "metavar": "LAMBDA", "help": "MMR diversity in [0, 1] (default 0: off)"},
        group="policy",
    )),
    _row("max_per_section", None, NONE, interval("int", 1, None), part="lists", flag=Flag(
        "--max-per-section", {"type": int, "metavar": "N"}, group="policy")),
    _row("exclude_ids", (), Constraint(_is_id_list, "a list of article ids"), part="lists",
         codec="tuple", flag=Flag(
             "--exclude-id",
             {"action": "append", "metavar": "ID", "help": "never show this article (repeatable)"},
             value=tuple, group="policy",
         )),
    _row("exclude_sections", (), Constraint(_is_section_list, "a list of section names"),
         part="lists", codec="tuple", flag=Flag(
             "--exclude-section",
             {"action": "append", "metavar": "SECTION",
              "help": "never show stories of this section (repeatable)"},
             value=tuple, group="policy",
         )),
    _row("pinned", None, NONE, Constraint(
        _is_pinned, "a dict {article id: [ids pinned to its box]}"
    ), part="lists", codec="pinned"),
    _row("blocked_pairs", (), Constraint(_is_pairs, "a list of (id, id) pairs"), part="lists",
         codec="pairs"),
    _row("fallback", (), Constraint(
        _is_fallback, f"a tuple of steps from {FALLBACK_STEPS!r}"
    ), part="lists", codec="tuple", flag=Flag(
        "--fallback",
        {"metavar": "STEPS", "help": "comma-separated steps while a list is short: "
         "same_section, any, relax_time, latest (default: none, return fewer)"},
        value=_steps, group="policy",
    )),
    _row("tag_weight", 0.0, interval("real", 0, None), part="lists", flag=Flag(
        "--tag-weight", {"type": float, "help": "bonus for shared tags (default 0)"},
        group="policy",
    )),
    _row("feedback", 0, interval("int", 0, None), part="lists", before=0, flag=Flag(
             "--feedback",
             {"type": int, "metavar": "N",
              "help": "expand each article with its first N neighbours before ranking "
              "(pseudo-relevance feedback; 0 is off; default: the library's)"},
             group="policy",
         )),
    _row("feedback_weight", 1.5, interval("real", 0, None, closed="neither"), part="lists",
         flag=Flag(
             "--feedback-weight",
             {"type": float, "metavar": "W",
              "help": "weight of the neighbours' mean against the article (default: the "
              "library's)"},
             group="policy",
         )),
    _row("n_jobs", None, NONE, interval("int", -1, -1), interval("int", 1, None),
         part="vectors"),
)  # fmt: skip

#: Every parameter, in the order of :class:`~relatedness.RelatedArticles`' signature.
PARAMETERS: Mapping[str, Param] = {row.name: row for row in _ROWS}

#: Name to default value (the signatures of the façade and the vectorizer read these).
DEFAULTS: Mapping[str, Any] = {row.name: row.default for row in _ROWS}

#: The parameters that shape the TF-IDF rows: :class:`FieldTfidfVectorizer`'s own.
VECTORIZER_PARAMS = tuple(row.name for row in _ROWS if row.part == "vectors")

#: The parameters that choose a list (what ``relatedness fit --policy-file`` may set).
LIST_PARAMS = tuple(row.name for row in _ROWS if row.part == "lists")

#: Parameters that a model saved before their release did not record, with the value that
#: reproduces its behaviour (filled in on load).
ADDED_LATER: Mapping[str, Any] = {
    row.name: row.before for row in _ROWS if row.before is not ALWAYS_SAVED
}


# ------------------------------------------------------------------------------ checks


def check(owner: str, values: Mapping[str, Any], names: Iterable[str] | None = None) -> None:
    """Check parameter values against the table (all of ``names``, default every row).

    Raises
    ------
    InvalidParameterError
        "The 'k' parameter of RelatedArticles must be an int in the range [1, inf). Got 0
        instead."
    """
    chosen = PARAMETERS if names is None else {n: PARAMETERS[n] for n in names}
    check_params(owner, values, {name: list(row.accepts) for name, row in chosen.items()})


# ------------------------------------------------------------------------------ manifest


def _pattern_text(pattern: Any) -> str:
    return pattern if isinstance(pattern, str) else pattern.pattern


def _to_json(codec: Codec, value: Any) -> Any:
    if value is None or codec == "plain":
        return value
    if codec in ("tuple", "patterns"):
        items = list(value)
        return [_pattern_text(p) for p in items] if codec == "patterns" else items
    if codec == "words":
        return sorted(value) if isinstance(value, set | frozenset | tuple) else value
    if codec == "pairs":
        return [list(pair) for pair in value]
    if codec == "pinned":
        # JSON object keys are strings: pinned travels as [[id, [ids]], ...] to keep int ids.
        return [[key, list(items)] for key, items in value.items()]
    if codec == "mapping":
        return {key: dict(rule) for key, rule in value.items()}
    return dict(value)  # "fields"


def _from_json(codec: Codec, value: Any) -> Any:
    if value is None or codec in ("plain", "words", "mapping", "fields"):
        return value
    if codec in ("tuple", "patterns"):
        return tuple(value) if isinstance(value, list) else value
    if codec == "pairs":
        if not isinstance(value, list):
            return value
        return tuple(tuple(p) if isinstance(p, list) else p for p in value)
    # "pinned"
    if not isinstance(value, list):
        return value
    if not all(isinstance(p, list) and len(p) == 2 for p in value):
        msg = "pinned must be a list of [id, [ids]] pairs"
        raise ValueError(msg)
    return {key: list(items) for key, items in value}


def to_manifest(values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as JSON values (names as in the API; tuples become lists)."""
    return {name: _to_json(row.codec, values[name]) for name, row in PARAMETERS.items()}


def from_manifest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`to_manifest`, for a manifest of this release or an earlier one.

    A parameter added after the model was saved gets the value that reproduces how that model
    behaved (:data:`ADDED_LATER`), not today's default.

    Raises
    ------
    ValueError
        A parameter is missing or unknown, or a value has the wrong JSON shape.
    """
    given = {**ADDED_LATER, **values}
    missing, unknown = set(PARAMETERS) - set(given), set(given) - set(PARAMETERS)
    if missing or unknown:
        msg = f"missing {sorted(missing)!r}, unknown {sorted(unknown)!r}"
        raise ValueError(msg)
    return {name: _from_json(row.codec, given[name]) for name, row in PARAMETERS.items()}


# ------------------------------------------------------------------------------ presets

#: The ranking parameters of each release, by release date, written out in full so that a
#: later change of :data:`DEFAULTS` leaves them as they were: a site that must keep its boxes
#: pins one (``RelatedArticles.from_preset("2026.11")``, ``relatedness fit --preset
#: 2026.11``). The newest is today's defaults (a test keeps them equal). Never edit a
#: published preset: add a new one.
PRESETS: Mapping[str, Mapping[str, Any]] = {
    # 0.1.x: word pairs, idf ** 0.25, strong feedback, one token per run of letters.
    "2026.11": {
        "tokenizer": "runs",
        "stemmer": "nltk",
        "ngram_range": (1, 2),
        "idf_power": 0.25,
        "min_df": 3,
        "feedback": 3,
        "feedback_weight": 1.5,
        "fields": {"title": 0.5, "body": 1.0, "tags": 1.0},
    },
    # 0.2: chosen across four corpora in three languages by the worst corpus (CHANGELOG).
    "2026.12": {
        "tokenizer": "standard",
        "stemmer": "auto",
        "ngram_range": (1, 2),
        "idf_power": 0.5,
        "min_df": 3,
        "feedback": 0,
        "feedback_weight": 1.5,
        "fields": {"title": 0.5, "body": 1.0, "tags": 1.0},
    },
}


def preset(name: str) -> dict[str, Any]:
    """The full parameter set of a preset: today's defaults with the preset's values.

    Raises
    ------
    InvalidParameterError
        ``name`` is not a preset; the message lists the known ones.
    """
    if not isinstance(name, str) or name not in PRESETS:
        known = ", ".join(repr(p) for p in PRESETS)
        msg = f"Unknown preset {name!r}: the presets are {known} (see the CHANGELOG)."
        raise InvalidParameterError(msg)
    return {**DEFAULTS, **PRESETS[name]}


# ------------------------------------------------------------------------------ flags


def flags(group: Literal["fit", "policy"]) -> Sequence[tuple[str, Flag]]:
    """``(parameter, flag)`` of the parameters ``relatedness fit`` sets, in table order."""
    return [
        (row.name, row.flag) for row in _ROWS if row.flag is not None and row.flag.group == group
    ]
