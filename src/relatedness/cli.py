"""The ``relatedness`` command: fit, related, precompute, demo.

Only parsing, printing and mapping errors to exit codes lives here:
0 ok, 1 unexpected error, 2 bad input or usage, 3 invalid model file. Every error is one line
on stderr, without a traceback (set ``RELATEDNESS_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

from . import __version__, params
from .exceptions import InvalidParameterError, ModelFormatError, RelatednessError

__all__ = ["main"]

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT, EXIT_BAD_MODEL = 0, 1, 2, 3
#: As a Unix tool killed by SIGPIPE (128 + 13), without a message.
EXIT_BROKEN_PIPE = 141
DEFAULT_MODEL_DIR = Path("models") / "default"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relatedness",
        description="Related-article lists for news archives (exact cosine over TF-IDF).",
    )
    parser.add_argument("--version", action="version", version=f"relatedness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = sub.add_parser("fit", help="fit a model on articles (.jsonl or .csv) and save it")
    fit.add_argument("articles", help="articles file: JSON Lines (.jsonl) or CSV with a header")
    fit.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL_DIR,
        help=f"model directory to write (default: {DEFAULT_MODEL_DIR})",
    )
    fit.add_argument(
        "--preset",
        choices=tuple(params.PRESETS),
        default=None,
        help="start from the ranking of an earlier release (see the CHANGELOG); the "
        "parameter flags given win",
    )
    _add_key_flags(fit, loads=False)
    # The parameter flags come from the table (relatedness.params), in its order.
    _add_param_flags(fit, "fit")
    fit.add_argument(
        "--rejects",
        type=Path,
        default=None,
        help="with --skip-invalid: write the left-out rows here (JSON Lines; default: "
        "rejects.jsonl in the model directory)",
    )
    policy = fit.add_argument_group("newsroom policies (recorded in the saved model)")
    _add_param_flags(policy, "policy")
    policy.add_argument(
        "--policy-file",
        type=Path,
        default=None,
        metavar="JSON",
        help="a JSON object of policy parameters (pinned, blocked_pairs, section_overrides, "
        "...); flags given on the command line win",
    )

    related = sub.add_parser("related", help="print the related list of one article")
    related.add_argument("id", help="article id")
    related.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    _add_key_flags(related)
    related.add_argument("--k", type=int, default=None)
    related.add_argument("--format", choices=("text", "json", "html"), default="text")
    related.add_argument(
        "--explain", action="store_true", help="show the shared terms behind each score"
    )

    pre = sub.add_parser(
        "precompute", help="write every article's related list (atomic, resumable, parallel)"
    )
    pre.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    _add_key_flags(pre)
    pre.add_argument(
        "--out", type=Path, required=True,
        help="output: a .jsonl file (one file), a directory (sharded jsonl/csv/parquet, "
        "see docs/batch.md) or a .sqlite database",
    )
    pre.add_argument("--format", choices=("jsonl", "csv", "parquet", "sqlite"), default=None,
                     help="default: from --out (.sqlite -> sqlite, otherwise jsonl)")
    pre.add_argument("--k", type=int, default=None)
    pre.add_argument("--ids", type=Path, default=None,
                     help="file with one article id per line: precompute only those")
    pre.add_argument("--shard-size", type=int, default=10_000)
    pre.add_argument("--resume", action="store_true",
                     help="keep verified shards of an interrupted run")
    pre.add_argument("--jobs", type=int, default=1, help="parallel workers (default 1)")
    pre.add_argument("--backend", choices=("loky", "threading", "fork", "dask"), default=None)
    pre.add_argument("--scheduler", default=None,
                     help="Dask scheduler address (tcp://host:8786); default: a LocalCluster")
    pre.add_argument("--quiet", action="store_true", help="no progress output")

    upd = sub.add_parser(
        "update", help="add/remove articles and rewrite only the lists that change"
    )
    upd.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    _add_key_flags(upd)
    upd.add_argument("--add", type=Path, default=None, help="new articles (.jsonl or .csv)")
    upd.add_argument("--remove", type=Path, default=None,
                     help="file with one article id per line to take down")
    upd.add_argument("--out", type=Path, required=True,
                     help="diff file (.jsonl): the changed lists, then the removed ids")
    upd.add_argument("--apply", type=Path, default=None,
                     help="SQLite database from precompute to update in place")
    upd.add_argument("--k", type=int, default=None)

    evaluate = sub.add_parser(
        "evaluate", help="measure list quality on labelled articles (and the baselines)"
    )
    evaluate.add_argument("articles", help="articles file (.jsonl or .csv)")
    evaluate.add_argument("--label", default="auto",
                          help="label field used as relevance proxy: auto (labels, else "
                          "section), section or labels (default: auto)")
    evaluate.add_argument("--k", type=int, default=10)
    evaluate.add_argument("--format", choices=("table", "json"), default="table")
    evaluate.add_argument("--baselines", action="store_true",
                          help="also score the scikit-learn TF-IDF and More-Like-This baselines")

    _add_serve_parser(sub)

    demo = sub.add_parser("demo", help="fit on the bundled Wikinews sample and show a few boxes")
    demo.add_argument("--k", type=int, default=4)
    demo.add_argument("--articles", type=int, default=3, help="how many boxes to show")
    return parser


def _add_key_flags(command: argparse.ArgumentParser, *, loads: bool = True) -> None:
    """``--key-file`` (sign on save, verify on load) and, where a model is read,
    ``--require-signature``; docs/security.md says when to use them."""
    command.add_argument(
        "--key-file", type=Path, default=None, metavar="FILE",
        help="signing key (HMAC-SHA256): a saved model is signed, a loaded one verified; "
        "default: $RELATEDNESS_KEY if set",
    )  # fmt: skip
    if loads:
        command.add_argument(
            "--require-signature", action="store_true",
            help="refuse a model without a signature the key verifies",
        )  # fmt: skip


def _key(args: argparse.Namespace) -> bytes | None:
    from .store import resolve_key

    return resolve_key(args.key_file)


def _load(args: argparse.Namespace, *, mmap: bool = False) -> Any:
    """The model of ``--model``, verified as ``--key-file``/``--require-signature`` say."""
    from .recommender import RelatedArticles

    return RelatedArticles.load(
        args.model, key=_key(args), require_signature=args.require_signature, mmap=mmap
    )


def _add_param_flags(group: Any, which: Literal["fit", "policy"]) -> None:
    """The flags of the table's parameters; an untyped flag leaves the library's default."""
    for _, flag in params.flags(which):
        options = dict(flag.options)
        options.setdefault("default", argparse.SUPPRESS)
        group.add_argument(flag.option, **options)


def _param_values(args: argparse.Namespace) -> tuple[dict[str, Any], set[str]]:
    """The parameters the flags set, and the names of those typed on the command line."""
    values: dict[str, Any] = {}
    typed: set[str] = set()
    for name, flag in [*params.flags("fit"), *params.flags("policy")]:
        if not hasattr(args, flag.dest):
            continue
        value = getattr(args, flag.dest)
        values[name] = value if flag.value is None else flag.value(value)
        if "default" not in flag.options:
            typed.add(name)
    return values, typed


def _cmd_fit(args: argparse.Namespace, out: TextIO) -> int:
    from .articles import iter_jsonl, load_articles
    from .recommender import RelatedArticles

    start = time.perf_counter()
    values, typed = _param_values(args)
    on_invalid: Literal["raise", "skip"] = values.get("on_invalid", "raise")
    read_problems: list[str] = []
    rows: Iterable[dict]
    if Path(args.articles).suffix.lower() in (".jsonl", ".ndjson", ".json"):
        # Streamed into the fit: a large archive is never held as a list of dicts as well
        # as the fit's articles. Invalid lines are reported once the file has been read.
        lines = iter_jsonl(args.articles, on_invalid=on_invalid, problems=read_problems)
        first = next(lines, None)
        rows = lines if first is None else itertools.chain([first], lines)
    else:
        listed = load_articles(args.articles, on_invalid=on_invalid, problems=read_problems)
        rows, first = listed, (listed[0] if listed else None)
    int_ids = model_ids_are_int([] if first is None else [first])
    if int_ids and "exclude_ids" in values:
        values["exclude_ids"] = tuple(_as_int(i) for i in values["exclude_ids"])
    if args.preset is None:
        model = RelatedArticles(**values)
    else:
        model = RelatedArticles.from_preset(args.preset, **values)
    if args.policy_file is not None:
        _apply_policy_file(model, args.policy_file, int_ids, typed)
    key = _key(args)  # before the fit: a bad key file fails in a second, not after an hour
    model.fit(rows)
    model.save(args.model, key=key)
    if on_invalid == "skip":
        _write_rejects(args, read_problems, model.rejects_)
    seconds = time.perf_counter() - start
    print(
        f"fitted {model.n_articles_} articles ({model.n_empty_} without indexable text, "
        f"{len(model.vectorizer_.vocabulary_)} terms, {len(model.section_names_)} sections) "
        f"in {seconds:.1f}s; model saved to {args.model}",
        file=out,
    )
    return EXIT_OK


def _apply_policy_file(model: Any, path: Path, int_ids: bool, typed: set[str]) -> None:
    """Set list parameters from a JSON object; flags typed on the command line win."""
    from .exceptions import InvalidParameterError

    try:
        policies = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: not a readable JSON file ({exc})"
        raise InvalidParameterError(msg) from None
    allowed = params.LIST_PARAMS
    unknown = sorted(set(policies) - set(allowed)) if isinstance(policies, dict) else []
    if not isinstance(policies, dict) or unknown:
        msg = f"{path}: expected a JSON object with keys among {allowed}; unknown keys: {unknown}"
        raise InvalidParameterError(msg)
    if isinstance(policies.get("pinned"), dict) and int_ids:
        # JSON object keys are always strings; the corpus uses int ids.
        policies["pinned"] = {_as_int(key): v for key, v in policies["pinned"].items()}
    for name in ("blocked_pairs", "fallback", "exclude_ids", "exclude_sections"):
        if isinstance(policies.get(name), list):
            policies[name] = tuple(tuple(v) if isinstance(v, list) else v for v in policies[name])
    model.set_params(**{name: v for name, v in policies.items() if name not in typed})


def _write_rejects(args: argparse.Namespace, read_problems: list[str], rejects: list) -> None:
    """The rows --skip-invalid left out, one JSON line each, written atomically."""
    from .atomic import atomic_write

    path = args.rejects or (args.model / "rejects.jsonl")
    with atomic_write(path, "w", encoding="utf-8") as handle:
        for problem in read_problems:
            handle.write(json.dumps({"stage": "read", "reason": problem}) + "\n")
        for reject in rejects:
            row = {"stage": "validate", "line": reject.position, "id": reject.id,
                   "reason": reject.reason}  # fmt: skip
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def model_ids_are_int(rows: list[dict]) -> bool:
    """Whether a corpus uses int ids (JSON Lines can; CSV never does)."""
    return (
        bool(rows)
        and isinstance(rows[0].get("id"), int)
        and not isinstance(rows[0].get("id"), bool)
    )


def _as_int(raw: str) -> int | str:
    try:
        return int(raw)
    except ValueError:
        return raw


def _coerce_id(model: Any, raw: str) -> str | int:
    if model.ids_ and isinstance(model.ids_[0], int):
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


def _print_box(out: TextIO, title: str, related: list, heading: str) -> None:
    print(f"{heading}: {title}", file=out)
    if not related:
        print("   (no related articles)", file=out)
    for rank, r in enumerate(related, start=1):
        when = f"  {r.published.isoformat()[:10]}" if r.published else ""
        section = f"  [{r.section}]" if r.section else ""
        print(f"{rank:>3}. {r.score:.3f}  {r.title}{section}{when}", file=out)
        print(f"          {r.snippet}", file=out)
        if r.explanation is not None:
            top = ", ".join(
                f"{t.term} ({t.field}) {t.contribution:.3f}" for t in r.explanation.terms[:6]
            )
            print(f"          why: {top}", file=out)
    print(file=out)


def _cmd_related(args: argparse.Namespace, out: TextIO) -> int:
    model = _load(args)
    article_id = _coerce_id(model, args.id)
    related = model.related(article_id, k=args.k, explain=args.explain)
    if args.format == "json":
        payload = {"id": article_id, "related": [r.to_dict() for r in related]}
        print(json.dumps(payload, ensure_ascii=False, indent=2), file=out)
    elif args.format == "html":
        from .render import render_html

        print(render_html(related), file=out, end="")
    else:
        title = model.titles_[model.ids_.index(article_id)]  # related() checked the id
        _print_box(out, title, related, f"Related to {article_id}")
    return EXIT_OK


def _read_ids(path: Path, model: Any) -> list:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [_coerce_id(model, line.strip()) for line in lines if line.strip()]


def _cmd_precompute(args: argparse.Namespace, out: TextIO) -> int:
    from .batch.job import precompute, write_jsonl

    fmt = args.format or ("sqlite" if args.out.suffix in (".sqlite", ".db") else "jsonl")
    single_file = fmt == "jsonl" and args.out.suffix == ".jsonl" and args.format is None
    if single_file and not (args.ids or args.resume or args.jobs != 1 or args.backend):
        model = _load(args)
        summary = write_jsonl(model, args.out, k=args.k)
    else:
        model = _load(args, mmap=True)
        summary = precompute(
            model,
            args.out,
            format=fmt,
            k=args.k,
            ids=_read_ids(args.ids, model) if args.ids else None,
            shard_size=args.shard_size,
            resume=args.resume,
            n_jobs=args.jobs,
            backend=args.backend,
            scheduler=args.scheduler,
            progress=False if args.quiet else None,
            model_dir=args.model,
        )
    print(
        f"wrote {summary.n_articles} lists ({summary.n_empty_lists} empty) to {summary.path} "
        f"in {summary.seconds:.1f}s",
        file=out,
    )
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace, out: TextIO) -> int:
    from . import evaluate as ev
    from .articles import check_articles, load_articles
    from .recommender import RelatedArticles

    rows = load_articles(args.articles)
    articles = check_articles(rows)
    # Sections are never a ranking hint here: with "same" the label proxy would be trivial.
    model = RelatedArticles(k=args.k, section_policy="any").fit(articles)
    labels = ev.labels_from(rows, label=args.label)
    result = ev.evaluate_model(model, articles, k=args.k, labels=labels)
    results = {"relatedness": result}
    if args.baselines:
        for name, lists in (
            ("sklearn TfidfVectorizer", ev.tfidf_baseline(articles, args.k)),
            ("More-Like-This imitation", ev.mlt_baseline(articles, args.k)),
        ):
            results[name] = ev.evaluate_lists(lists, labels, args.k)
    if args.format == "json":
        print(json.dumps(results, indent=2, default=str), file=out)
    else:
        for name, values in results.items():
            print(f"{name}\n{ev.format_table(values)}\n", file=out)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from .datasets import SAMPLE_LICENSE, load_sample
    from .recommender import RelatedArticles

    start = time.perf_counter()
    articles = load_sample()
    model = RelatedArticles(k=args.k).fit(articles)
    seconds = time.perf_counter() - start
    print(
        f"Fitted {model.n_articles_} Wikinews articles ({SAMPLE_LICENSE}) in {seconds:.1f}s.\n",
        file=out,
    )
    # Evenly spaced stories, so the demo shows different years and topics.
    step = max(1, model.n_articles_ // max(1, args.articles))
    for row in range(0, step * args.articles, step)[: args.articles]:
        article_id = model.ids_[row]
        _print_box(out, model.titles_[row], model.related(article_id), "Related to")
    return EXIT_OK


def _cmd_update(args: argparse.Namespace, out: TextIO) -> int:
    from .articles import load_articles
    from .batch.update import update_model

    removed = []
    if args.remove:
        lines = args.remove.read_text(encoding="utf-8").splitlines()
        removed = [line.strip() for line in lines if line.strip()]
    summary = update_model(
        args.model,
        add=load_articles(args.add) if args.add else None,
        remove=removed,
        out=args.out,
        apply=args.apply,
        k=args.k,
        key=_key(args),
        require_signature=args.require_signature,
    )
    if summary.already_applied:
        print(f"this update is already in {args.model}; nothing to do", file=out)
        return EXIT_OK
    note = ""
    report = summary.report
    if report is not None:
        note = (
            f"; added {len(report.added)} ({len(report.new_terms)} new terms, "
            f"out-of-vocabulary {report.oov_rate:.1%}, idf drift {report.idf_drift:.3f}"
            f"{', refit recommended' if report.needs_refit else ''})"
        )
    print(
        f"removed {len(summary.removed)}{note}; rewrote {summary.changed} lists "
        f"(of {summary.checked} checked) to {args.out}"
        + (f" and applied them to {args.apply}" if args.apply else ""),
        file=out,
    )
    return EXIT_OK


def _add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="serve related lists over HTTP, with the widget (pip install "
        "'relatedness[serve]'); SIGHUP reloads the model"
    )
    serve.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR,
                       help="model directory (or a symlink a deploy switches)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--key-file", type=Path, default=None,
                       help="the model's signing secret (default: $RELATEDNESS_KEY)")
    serve.add_argument("--require-signature", action="store_true",
                       help="refuse a model without a valid manifest.sig")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="an origin allowed to call from browsers (repeat; default none)")


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from .serve.runner import serve  # Starlette and uvicorn only when serving

    if args.workers < 1 or not 0 <= args.port <= 65535:
        msg = "--workers must be >= 1 and --port in 0..65535."
        raise InvalidParameterError(msg)
    serve(args.model, host=args.host, port=args.port, workers=args.workers,
          key_file=args.key_file, require_signature=args.require_signature,
          cors_origins=tuple(args.cors_origin))  # fmt: skip
    return EXIT_OK


_COMMANDS = {
    "fit": _cmd_fit,
    "related": _cmd_related,
    "precompute": _cmd_precompute,
    "evaluate": _cmd_evaluate,
    "update": _cmd_update,
    "demo": _cmd_demo,
    "serve": _cmd_serve,
}


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the error
        return int(exc.code or 0)
    debug = bool(os.environ.get("RELATEDNESS_DEBUG"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = _COMMANDS[args.command](args, out)
        except BrokenPipeError:  # `relatedness related ... | head`: the reader has gone
            _quiet_stdout()
            code = EXIT_BROKEN_PIPE
        except ModelFormatError as exc:
            _error(err, f"invalid model: {exc}", debug)
            code = EXIT_BAD_MODEL
        except KeyboardInterrupt as exc:  # SIGTERM in precompute: clean stop, documented code
            _error(err, "interrupted; rerun with --resume to continue", debug)
            code = int(getattr(exc, "exit_code", 130))
        except (RelatednessError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            text = str(exc) if not isinstance(exc, OSError) else f"{exc.strerror}: {exc.filename}"
            _error(err, text, debug)
            code = EXIT_BAD_INPUT
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
            _error(
                err,
                f"unexpected {type(exc).__name__}: {exc} (set RELATEDNESS_DEBUG=1 for a traceback)",
                debug,
            )
            code = EXIT_UNEXPECTED
    for warning in caught:
        print(f"relatedness: warning: {warning.message}", file=err)
    return code


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (tests pass a StringIO)
        pass


def _error(err: TextIO, text: str, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc(file=err)
    print(f"relatedness: error: {text}", file=err)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
