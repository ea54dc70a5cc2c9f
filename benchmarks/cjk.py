"""Word segmenters against character n-grams for Japanese and Chinese (docs/cjk.md).

Does a word segmenter (fugashi with unidic-lite for Japanese, jieba for Chinese) rank better
than the character n-grams the library builds in? Measured on ``../shared/data/livedoor_ja.jsonl``
(skipped when absent; labels = category) and on Chinese stories written for this project
(``benchmarks/zh_stories.py``, 40 stories in 4 topics, and the 12 test fixtures of
``tests/test_languages.py``).

Systems (``lib-*``: :class:`relatedness.RelatedArticles`, ``section_policy="any"``,
``duplicate_threshold=None``, otherwise the shipped defaults; ``sk-*``: scikit-learn's
``TfidfVectorizer(sublinear_tf=True, min_df=2, max_df=0.5)`` and exact cosine top-k):

- ``lib-shipped``: the library as shipped (``tokenizer="standard"``, ``ngram_range=(1, 2)``:
  character 2- and 3-grams);
- ``lib-bigrams``: the same with ``ngram_range=(1, 1)`` (character bigrams only);
- ``lib-words``, ``lib-words+pairs``, ``lib-words+bigrams``, ``lib-words+grams``,
  ``lib-words+pairs+grams``: the segmenter's words in place of (or beside) the n-grams;
- ``sk-bigrams``, ``sk-grams``: ``analyzer="char"`` with ``ngram_range`` (2, 2) and (2, 3);
- ``sk-words``, ``sk-words+pairs``: the segmenter's words (and adjacent word pairs).

The library has no segmenter (the measurement did not justify one: docs/cjk.md), so the
``lib-words*`` systems swap the segmenter in for this process only: the ``"runs"`` tokenizer's
split is replaced by the segmenter (plus the n-grams the system names), which the fit's
counting and the analyzer both call.

Usage::

    pip install fugashi unidic-lite jieba
    python benchmarks/cjk.py                          # both languages, every system
    python benchmarks/cjk.py --only ja --systems lib-shipped lib-words+grams
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import quality  # noqa: E402  (benchmarks/quality.py: load, bare, score, _exact)
import zh_stories  # noqa: E402

_WORD = re.compile(r"[^\W_]+")

SYSTEMS = (
    "lib-shipped", "lib-bigrams", "lib-words", "lib-words+pairs", "lib-words+bigrams",
    "lib-words+grams", "lib-words+pairs+grams", "sk-bigrams", "sk-grams", "sk-words",
    "sk-words+pairs",
)  # fmt: skip


@cache
def _fugashi() -> Any:
    import fugashi

    return fugashi.Tagger("-Owakati")  # unidic-lite, the dictionary fugashi finds first


def words(text: str, language: str) -> list[str]:
    """The segmenter's words of ``text`` (lower-cased, letters and digits only)."""
    text = text.lower()
    if language == "japanese":
        pieces = _fugashi().parse(text).split() if text.strip() else []
    else:
        import jieba

        pieces = jieba.lcut(text)
    return [w for w in pieces if _WORD.fullmatch(w)]


def segmented(text: str, language: str, system: str) -> list[str]:
    """The terms of a ``*words*`` system: words, then word pairs, then character n-grams."""
    from relatedness.features.analysis import char_grams

    found = words(text, language)
    out = list(found)
    if "pairs" in system:
        out.extend(a + " " + b for a, b in zip(found, found[1:], strict=False))
    if system.endswith("+grams"):
        out.extend(char_grams(text, 3))
    elif system.endswith("+bigrams"):
        out.extend(char_grams(text, 2))
    return out


def _swap_in_segmenter(language: str, system: str) -> Callable[[], None]:
    """Make ``tokenizer="runs"`` segment (this process only); returns the undo."""
    from relatedness.features import analysis, counting

    saved = (analysis.raw_tokens, counting.raw_tokens, analysis.is_term, counting.is_term)
    original_is_term = analysis.is_term

    def raw_tokens(text: str, tokenizer: str = "standard") -> list[str]:
        return segmented(text, language, system)

    def is_term(token: str, tokenizer: str = "standard") -> bool:
        return original_is_term(token, "standard")  # a one-character word is a word

    analysis.raw_tokens = counting.raw_tokens = raw_tokens  # type: ignore[assignment]
    analysis.is_term = counting.is_term = is_term  # type: ignore[assignment]

    def undo() -> None:
        analysis.raw_tokens, counting.raw_tokens, analysis.is_term, counting.is_term = saved

    return undo


def library(rows: list[dict], language: str, system: str, k: int, **extra: Any) -> Any:
    from relatedness import RelatedArticles

    params: dict[str, Any] = {
        "k": k, "section_policy": "any", "duplicate_threshold": None, "language": language,
        **extra,
    }  # fmt: skip
    undo = None
    if system == "lib-bigrams":
        params["ngram_range"] = (1, 1)
    elif system != "lib-shipped":
        # The system's terms include its pairs: no word pairs on top.
        params.update(tokenizer="runs", ngram_range=(1, 1))
        undo = _swap_in_segmenter(language, system)
    try:
        start = time.perf_counter()
        model = RelatedArticles(**params).fit(quality.bare(rows))
        fit = time.perf_counter() - start
        _, indices = model.kneighbors(k=k)
    finally:
        if undo is not None:
            undo()
    ids = model.ids_
    return {ids[i]: [ids[j] for j in row if j >= 0] for i, row in enumerate(indices)}, fit


def scikit(rows: list[dict], language: str, system: str, k: int, min_df: int = 2) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    options: dict[str, Any] = {"sublinear_tf": True, "min_df": min_df, "dtype": np.float32}
    if min_df > 1:
        options["max_df"] = 0.5
    texts = [r.get("title", "") + "\n" + r["body"] for r in rows]
    start = time.perf_counter()
    if system in ("sk-bigrams", "sk-grams"):
        grams = (2, 2) if system == "sk-bigrams" else (2, 3)
        x = TfidfVectorizer(analyzer="char", ngram_range=grams, **options).fit_transform(texts)
    else:
        x = TfidfVectorizer(
            analyzer=lambda text: segmented(text, language, system), **options
        ).fit_transform(texts)
    fit = time.perf_counter() - start
    saved, quality.K = quality.K, k
    try:
        return quality._exact(x, [r["id"] for r in rows]), fit
    finally:
        quality.K = saved


def p_at(lists: dict, rows: list[dict], k: int) -> float:
    labels = {r["id"]: set(r["labels"]) for r in rows}
    return float(np.mean([
        sum(1 for x in lists[r["id"]][:k] if labels[x] & labels[r["id"]]) / k for r in rows
    ]))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", choices=("ja", "zh"), default=["ja", "zh"])
    parser.add_argument("--systems", nargs="*", choices=SYSTEMS, default=list(SYSTEMS))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    import logging

    logging.getLogger("jieba").setLevel(logging.WARNING)
    from tests.test_languages import CHINESE

    from relatedness.evaluate import evaluate_lists

    fixtures = [
        {"id": f"{t}-{i}", "title": "", "body": b, "labels": [t]}
        for t, bodies in CHINESE.items()
        for i, b in enumerate(bodies)
    ]
    runs: list[tuple[str, str, list[dict], int, int]] = []
    livedoor = quality.DATA / "livedoor_ja.jsonl"
    if "ja" in args.only and livedoor.exists():
        runs.append(("livedoor_ja", "japanese", quality.load(livedoor, 0), 10, 2))
    elif "ja" in args.only:
        print(f"no {livedoor}: Japanese skipped")
    if "zh" in args.only:
        # Tiny corpora: every term counts (min_df=1), k = half a topic.
        runs.append(("zh_stories", "chinese", zh_stories.rows(), 5, 1))
        runs.append(("zh_test_fixtures", "chinese", fixtures, 3, 1))
    print(f"{'corpus':18} {'n':>5} {'system':22} {'P@k':>6} {'MAP@k':>6} {'nDCG@k':>6} "
          f"{'k':>3} {'fit s':>6}", flush=True)  # fmt: skip
    for name, language, rows, k, min_df in runs:
        library(rows[:50], language, "lib-shipped", k)  # warm-up: imports, compiled code
        words(rows[0]["body"], language)  # the segmenter's dictionary
        for system in args.systems:
            extra = {"min_df": 1} if min_df == 1 else {}
            if system.startswith("lib-"):
                lists, fit = library(rows, language, system, k, **extra)
            else:
                lists, fit = scikit(rows, language, system, k, min_df)
            labels = {r["id"]: set(r["labels"]) for r in rows}
            found = evaluate_lists(lists, labels, k)
            print(f"{name:18} {len(rows):5d} {system:22} {p_at(lists, rows, k):6.4f} "
                  f"{found['map_at_k']:6.4f} {found['ndcg_at_k']:6.4f} {k:3d} {fit:6.1f}",
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
