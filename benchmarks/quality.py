"""Ranking quality on every labelled real corpus, system by system, in one run.

For every labelled corpus in ``../shared/data`` (JSON Lines whose first row has ``labels``;
absent files are skipped) and every system, the lists of every article (k=10, the article
itself excluded, no section hint: the systems see id, title, body and date only) are scored
against the labels: an article is relevant when it shares a label with the query.

Systems:

- ``defaults``: ``RelatedArticles`` with the shipped defaults (``section_policy="any"`` and
  ``duplicate_threshold=None``, as ``../shared/tools/realcheck`` runs it: the label proxy counts
  a copy as a hit), ``language="auto"`` when the library has it, else the corpus language;
- ``preset-2026.11``: the 0.1 release's ranking (``RelatedArticles.from_preset("2026.11")``:
  word pairs, ``idf ** 0.25``, feedback 3, nltk's stemmer, the old tokenizer);
- ``classic``: words only, classic idf, no feedback;
- ``plain``: ``TfidfVectorizer(sublinear_tf=True, min_df=2, max_df=0.5)`` (English stop words
  for English, character bigrams for Japanese, Chinese, Korean) and exact cosine top-10;
- ``plain+stem+title``: the plain weights on relatedness' cleaning and Snowball stemming, title
  weight 2;
- ``mlt``: the Elasticsearch More-Like-This imitation (``relatedness.evaluate.mlt_baseline``).

Columns: P@10 (``realcheck``'s: mean over labelled articles of relevant-in-top-10 / 10),
MAP@10 and nDCG@10 (``relatedness.evaluate.evaluate_lists``), fit seconds and all-lists seconds
(one process, after a warm-up; for speed ratios use ``benchmarks/realtext.py``).

Usage::

    python benchmarks/quality.py                       # every corpus, every system
    python benchmarks/quality.py --only bbc fakebr_pt --systems defaults plain
    python benchmarks/quality.py --json quality.json   # also write the numbers
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
LANGUAGES = {"en": "english", "pt": "portuguese", "ar": "arabic", "ja": "japanese",
             "zh": "chinese", "ko": "korean", "fr": "french", "de": "german", "es": "spanish"}  # fmt: skip
K = 10

Lists = dict[Any, list[Any]]


def corpora(only: list[str] | None) -> list[Path]:
    """The labelled JSON Lines files of ../shared/data (none when it is absent)."""
    found = []
    for path in sorted(DATA.glob("*.jsonl")):
        if only and path.stem not in only:
            continue
        with open(path, encoding="utf-8") as handle:
            if json.loads(handle.readline()).get("labels"):
                found.append(path)
    return found


def load(path: Path, max_rows: int) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    if max_rows and max_rows < len(rows):
        keep = sorted(random.Random(0).sample(range(len(rows)), max_rows))
        rows = [rows[i] for i in keep]
    return rows


def bare(rows: list[dict]) -> list[dict]:
    """What a system may see: never the section or the labels."""
    return [{k: r[k] for k in ("id", "title", "body", "published") if k in r} for r in rows]


def language_of(rows: list[dict]) -> str:
    return LANGUAGES.get(rows[0].get("lang", "en"), "english")


# ----------------------------------------------------------------------------- systems


def model_lists(rows: list[dict], **params: Any) -> tuple[Lists, float, float]:
    from relatedness import RelatedArticles

    settings = {"section_policy": "any", "duplicate_threshold": None, **params}
    start = time.perf_counter()
    model = RelatedArticles(**settings).fit(bare(rows))
    fit = time.perf_counter() - start
    start = time.perf_counter()
    _, indices = model.kneighbors(k=K)
    seconds = time.perf_counter() - start
    ids = model.ids_
    return {ids[i]: [ids[j] for j in row if j >= 0] for i, row in enumerate(indices)}, fit, seconds


def _exact(x: sp.csr_matrix, ids: list[Any]) -> Lists:
    from relatedness.engine import tiebreak_ranks, topk_block

    x = sp.csr_matrix(x, dtype=np.float64)
    ties = tiebreak_ranks(ids, np.full(len(ids), np.datetime64("NaT"), "datetime64[s]"))
    out: Lists = {}
    transposed = sp.csr_matrix(x.T)
    for start in range(0, x.shape[0], 512):
        stop = min(start + 512, x.shape[0])
        cols, _ = topk_block(x[start:stop], transposed, K, np.arange(start, stop), ties)
        for i, row in zip(range(start, stop), cols, strict=True):
            out[ids[i]] = [ids[j] for j in row if j >= 0]
    return out


def plain(rows: list[dict]) -> tuple[Lists, float, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    lang = rows[0].get("lang", "en")
    options: dict[str, Any] = {
        "sublinear_tf": True,
        "min_df": 2,
        "max_df": 0.5,
        "dtype": np.float32,
    }
    if lang in ("ja", "zh", "ko"):
        options.update(analyzer="char", ngram_range=(2, 2))
    elif lang == "en":
        options.update(stop_words="english")
    start = time.perf_counter()
    x = TfidfVectorizer(**options).fit_transform(
        [r.get("title", "") + "\n" + r["body"] for r in rows]
    )
    fit = time.perf_counter() - start
    start = time.perf_counter()
    lists = _exact(x, [r["id"] for r in rows])
    return lists, fit, time.perf_counter() - start


def mlt(rows: list[dict]) -> tuple[Lists, float, float]:
    from relatedness.evaluate import mlt_baseline

    start = time.perf_counter()
    lists = mlt_baseline(bare(rows), K)
    return lists, 0.0, time.perf_counter() - start


def preset_values(name: str) -> dict[str, Any]:
    """A release's ranking (``relatedness.params.PRESETS``), or the 0.1 values written out
    when the installed library predates presets."""
    try:
        from relatedness.params import PRESETS
    except ImportError:
        fields = {"title": 0.5, "body": 1.0, "tags": 1.0}
        return {"ngram_range": (1, 2), "idf_power": 0.25, "min_df": 3, "feedback": 3,
                "feedback_weight": 1.5, "fields": fields}  # fmt: skip
    return dict(PRESETS[name])


def has_auto() -> bool:
    from relatedness.params import LANGUAGES as accepted

    return "auto" in accepted


SYSTEMS: dict[str, Callable[[list[dict]], tuple[Lists, float, float]]] = {
    "defaults": lambda rows: model_lists(
        rows, language="auto" if has_auto() else language_of(rows)
    ),
    "preset-2026.11": lambda rows: model_lists(
        rows, **{**preset_values("2026.11"), "language": language_of(rows)}
    ),
    "classic": lambda rows: model_lists(
        rows, language=language_of(rows), ngram_range=(1, 1), idf_power=1.0, feedback=0
    ),
    "plain": plain,
    "plain+stem+title": lambda rows: model_lists(
        rows,
        language=language_of(rows),
        ngram_range=(1, 1),
        idf_power=1.0,
        feedback=0,
        min_df=2,
        max_df=0.5,
        fields={"title": 2.0, "body": 1.0, "tags": 1.0},
    ),  # fmt: skip
    "mlt": mlt,
}


# ----------------------------------------------------------------------------- scores


def p_at_10(lists: Lists, labels: dict[Any, set[str]]) -> float:
    """realcheck's P@10: every labelled query, a short list counts its empty slots."""
    found = [
        sum(1 for r in rel[:K] if labels.get(r, set()) & labels[q]) / K
        for q, rel in lists.items()
        if labels.get(q)
    ]
    return float(np.mean(found)) if found else float("nan")


def score(rows: list[dict], lists: Lists) -> dict[str, float]:
    from relatedness.evaluate import evaluate_lists

    labels = {r["id"]: set(r.get("labels") or []) for r in rows}
    result = evaluate_lists(lists, labels, K)
    return {
        "p10": p_at_10(lists, labels),
        "map10": result["map_at_k"],
        "ndcg10": result["ndcg_at_k"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", help="corpus names (file names without .jsonl)")
    parser.add_argument("--systems", nargs="*", choices=list(SYSTEMS), default=list(SYSTEMS))
    parser.add_argument("--max-rows", type=int, default=0, help="a seeded sample of each corpus")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    paths = corpora(args.only)
    if not paths:
        print(f"no labelled corpus in {DATA}: nothing to measure")
        return 0
    results: dict[str, dict[str, Any]] = {}
    print(f"{'corpus':24} {'n':>6} {'system':18} {'P@10':>7} {'MAP@10':>7} {'nDCG@10':>7} "
          f"{'fit s':>6} {'lists s':>7}", flush=True)  # fmt: skip
    for path in paths:
        rows = load(path, args.max_rows)
        model_lists(rows[:200], language=language_of(rows))  # warm-up: imports, compiled code
        for name in args.systems:
            try:
                lists, fit, seconds = SYSTEMS[name](rows)
            except Exception as exc:  # noqa: BLE001 - a table row says what failed
                print(f"{path.stem:24} {len(rows):6d} {name:18} error: {exc}"[:200], flush=True)
                results.setdefault(path.stem, {})[name] = {"error": str(exc)}
                continue
            found = {**score(rows, lists), "fit_s": fit, "lists_s": seconds, "n": len(rows)}
            results.setdefault(path.stem, {})[name] = found
            print(f"{path.stem:24} {len(rows):6d} {name:18} {found['p10']:7.4f} "
                  f"{found['map10']:7.4f} {found['ndcg10']:7.4f} {fit:6.2f} {seconds:7.2f}", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
