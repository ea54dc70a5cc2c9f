"""The parameter table is the one declaration: signatures, docs, checks and manifests agree."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from relatedness import RelatedArticles, params
from relatedness.exceptions import InvalidParameterError
from relatedness.vectorize import FieldTfidfVectorizer


def _signature_defaults(cls: type) -> dict[str, object]:
    signature = inspect.signature(cls.__init__)
    return {n: p.default for n, p in signature.parameters.items() if n != "self"}


def _documented_defaults(cls: type) -> dict[str, object]:
    """``name : type, default VALUE`` lines of a numpydoc Parameters section, evaluated."""
    found: dict[str, object] = {}
    doc = inspect.getdoc(cls) or ""
    for match in re.finditer(r"^(\w+(?:, \w+)*) : .*?, default (.+)$", doc, re.M):
        names = match.group(1).split(", ")
        values = match.group(2).split(" and ") if len(names) > 1 else [match.group(2)]
        for name, value in zip(names, values, strict=True):
            found[name] = ast.literal_eval(value)
    return found


def test_the_facade_signature_is_the_table_in_order():
    assert _signature_defaults(RelatedArticles) == dict(params.DEFAULTS)
    assert list(_signature_defaults(RelatedArticles)) == list(params.PARAMETERS)


def test_the_vectorizer_signature_is_the_tables_vectorizer_rows():
    defaults = _signature_defaults(FieldTfidfVectorizer)
    assert list(defaults) == list(params.VECTORIZER_PARAMS)
    assert defaults == {name: params.DEFAULTS[name] for name in params.VECTORIZER_PARAMS}


@pytest.mark.parametrize("cls", [RelatedArticles, FieldTfidfVectorizer])
def test_documented_defaults_are_the_tables(cls):
    documented = _documented_defaults(cls)
    expected = _signature_defaults(cls)
    assert set(documented) == set(expected), "every parameter documents its default"
    for name, value in documented.items():
        # fields=None means the default weights, which the docs spell out.
        want = dict(params.DEFAULT_FIELDS) if name == "fields" else expected[name]
        assert value == want, name


def test_every_default_passes_its_own_check():
    params.check("RelatedArticles", params.DEFAULTS)


def test_a_bad_value_is_refused_with_the_tables_words():
    values = {**params.DEFAULTS, "feedback_weight": 0}
    with pytest.raises(InvalidParameterError, match=r"'feedback_weight' parameter .* \(0, inf\)"):
        params.check("RelatedArticles", values)


RICH = {
    **params.DEFAULTS,
    "fields": {"title": 2.0, "body": 1.0},
    "stop_words": frozenset({"the", "a"}),
    "ngram_range": (1, 3),
    "boilerplate_patterns": ("^Advertisement$",),
    "section_overrides": {"politics": {"max_age": 30, "recency_half_life": None}},
    "exclude_ids": (1, 2),
    "exclude_sections": ("opinion",),
    "pinned": {1: [2, 3], 4: []},
    "blocked_pairs": ((1, 2), (3, 4)),
    "fallback": ("any", "latest"),
}


def test_manifest_values_round_trip_with_their_types():
    saved = params.to_manifest(RICH)
    restored = params.from_manifest(saved)
    assert restored["pinned"] == {1: [2, 3], 4: []}  # int keys survive JSON
    assert restored["blocked_pairs"] == ((1, 2), (3, 4))
    assert restored["ngram_range"] == (1, 3)
    assert restored["stop_words"] == ["a", "the"]  # a set travels as a sorted list
    assert {k: v for k, v in restored.items() if k != "stop_words"} == {
        k: v for k, v in RICH.items() if k != "stop_words"
    }


def test_a_compiled_pattern_is_saved_as_its_text():
    saved = params.to_manifest({**params.DEFAULTS, "boilerplate_patterns": (re.compile("^x$"),)})
    assert saved["boilerplate_patterns"] == ["^x$"]


def test_a_manifest_from_before_a_parameter_existed_gets_the_old_behaviour():
    saved = params.to_manifest(params.DEFAULTS)
    for name in params.ADDED_LATER:
        del saved[name]
    restored = params.from_manifest(saved)
    assert restored["feedback"] == 0 and restored["idf_power"] == 1.0


def test_a_manifest_with_unknown_or_missing_parameters_is_refused():
    saved = params.to_manifest(params.DEFAULTS)
    del saved["k"]
    saved["colour"] = "red"
    with pytest.raises(ValueError, match=r"missing \['k'\], unknown \['colour'\]"):
        params.from_manifest(saved)


def test_flags_have_distinct_options_and_name_table_rows():
    rows = [*params.flags("fit"), *params.flags("policy")]
    options = [flag.option for _, flag in rows]
    assert len(options) == len(set(options))
    assert all(name in params.PARAMETERS for name, _ in rows)


#: Every flag of every command, as released: the table may generate them, never rename them.
CLI_FLAGS = {
    "fit": ["articles", "--model", "--preset", "--key-file", "--k", "--section-policy",
            "--language", "--title-weight", "--min-df", "--ngram-max", "--idf-power", "--max-df",
            "--skip-invalid", "--rejects",
            "--keep-last", "--max-age", "--half-life", "--no-newer", "--duplicate-threshold",
            "--diversity", "--max-per-section", "--exclude-id", "--exclude-section",
            "--tag-weight", "--feedback", "--feedback-weight", "--policy-file", "--fallback"],
    "related": ["id", "--model", "--key-file", "--require-signature", "--k", "--format",
                "--explain"],
    "precompute": ["--model", "--key-file", "--require-signature",
                   "--out", "--format", "--k", "--ids", "--shard-size", "--resume",
                   "--jobs", "--backend", "--scheduler", "--quiet"],
    "update": ["--model", "--key-file", "--require-signature", "--add", "--remove", "--out",
               "--apply", "--k"],
    "evaluate": ["articles", "--label", "--k", "--format", "--baselines"],
    "demo": ["--k", "--articles"],
    "serve": ["--model", "--host", "--port", "--workers", "--key-file", "--require-signature",
              "--cors-origin"],
}  # fmt: skip


def _subparsers():
    import argparse

    from relatedness.cli import _parser

    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_the_cli_keeps_exactly_its_flags():
    import argparse

    found = {
        name: sorted(
            (a.option_strings or [a.dest])[0]
            for a in parser._actions
            if not isinstance(a, argparse._HelpAction)
        )
        for name, parser in _subparsers().items()
    }
    assert found == {name: sorted(flags) for name, flags in CLI_FLAGS.items()}


def test_fit_flags_set_the_tables_parameters_and_only_when_typed():
    from relatedness.cli import _param_values

    fit = _subparsers()["fit"]
    values, typed = _param_values(fit.parse_args(["a.jsonl"]))
    # Untyped flags keep the library's defaults (or a preset's).
    assert values == {}
    assert typed == set()
    args = fit.parse_args(["a.jsonl", "--ngram-max", "1", "--no-newer", "--skip-invalid",
                           "--duplicate-threshold", "none", "--fallback", "any, latest",
                           "--exclude-id", "7", "--k", "5"])  # fmt: skip
    values, typed = _param_values(args)
    assert values["ngram_range"] == (1, 1) and values["allow_newer"] is False
    assert values["on_invalid"] == "skip" and values["duplicate_threshold"] is None
    assert values["fallback"] == ("any", "latest") and values["exclude_ids"] == ("7",)
    assert "k" in typed  # typed with its default value: it still wins over a policy file
    params.check("RelatedArticles", {**params.DEFAULTS, **values}, values)


# ------------------------------------------------------------------------------ presets


def test_every_preset_names_only_table_parameters_with_valid_values():
    for name, values in params.PRESETS.items():
        assert set(values) <= set(params.PARAMETERS), name
        params.check("RelatedArticles", params.preset(name))


def test_from_preset_gives_the_presets_values_and_overrides_win():
    model = RelatedArticles.from_preset("2026.11", k=4, idf_power=0.5)
    assert model.k == 4 and model.idf_power == 0.5
    assert model.ngram_range == (1, 2) and model.feedback == 3 and model.tokenizer == "runs"
    for name, value in params.PRESETS["2026.11"].items():
        if name != "idf_power":
            assert model.get_params()[name] == value


def test_an_unknown_preset_is_refused_with_the_known_names():
    with pytest.raises(InvalidParameterError, match=r"Unknown preset '2020.01'.*'2026.11'"):
        RelatedArticles.from_preset("2020.01")


def test_preset_2026_11_ranks_as_the_0_1_defaults_did():
    """The 0.1 release's defaults, written out in full: the preset must reproduce them."""
    released_0_1 = {"tokenizer": "runs", "ngram_range": (1, 2), "idf_power": 0.25,
                    "min_df": 3, "feedback": 3, "feedback_weight": 1.5,
                    "fields": {"title": 0.5, "body": 1.0, "tags": 1.0}}  # fmt: skip
    got = params.preset("2026.11")
    assert {name: got[name] for name in released_0_1} == released_0_1


def test_fit_preset_flag_sets_the_preset_and_typed_flags_win(tmp_path):
    from relatedness.cli import main
    from relatedness.datasets import sample_path

    model_dir = tmp_path / "m"
    code = main(["fit", str(sample_path()), "--model", str(model_dir), "--preset", "2026.11",
                 "--feedback", "0"])  # fmt: skip
    assert code == 0
    loaded = RelatedArticles.load(model_dir)
    assert loaded.idf_power == 0.25 and loaded.tokenizer == "runs" and loaded.feedback == 0


def test_preset_2026_11_reproduces_the_lists_release_0_1_showed():
    """tests/data/lists-0.1.0-sample.json: every list (k=5, section_policy="any", ids and
    scores to 6 decimals) that release 0.1.0 (commit ce00325) gave on the bundled sample
    with its defaults. The preset must show exactly those boxes."""
    import json
    import warnings
    from pathlib import Path

    from relatedness.datasets import load_sample

    released = json.loads((Path(__file__).parent / "data" / "lists-0.1.0-sample.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles.from_preset("2026.11", section_policy="any").fit(load_sample())
    got = {
        str(a): [[r.id, round(r.score, 6)] for r in model.related(a, k=5)] for a in model.ids_
    }
    assert got == released


def test_the_newest_preset_is_todays_defaults():
    newest = params.PRESETS[max(params.PRESETS)]
    defaults = {**params.DEFAULTS, "fields": dict(params.DEFAULT_FIELDS)}
    assert {name: defaults[name] for name in newest} == dict(newest)
