"""Compare the synthetic benchmark corpus with real news (BBC) on the numbers that set its cost.

Usage::

    python benchmarks/calibrate.py [--bbc PATH] [--n 2225 10000 100000] [--seed 0] [--stemmed]
    python benchmarks/calibrate.py --scores [--data DIR] [--n 2225 100000]

``--scores`` prints the score-structure table instead (see :func:`score_structure`): for each
real corpus found in ``--data`` and for the synthetic corpus at each ``--n``, the classic
model's median best and 10th-best cosine, the near-duplicate share, sum df**2 per article and
the median length; the synthetic medians must be within ``SCORE_BAND`` of BBC's (exit 1
otherwise).

Both corpora go through the same reference analyzer,
``TfidfVectorizer(stop_words="english", sublinear_tf=True, dtype=np.float32)`` on
``title + " " + body``, and one row per corpus reports:

- ``vocab``: number of terms; ``heaps``: Heaps' exponent from the vocabulary of a random
  eighth of the articles vs all of them (BBC ~0.5);
- ``dist mean``/``dist med``: distinct terms per article (non-zeros per row);
- ``words med``: median body length in whitespace-separated words;
- ``W``: ``sum_t df_t**2 / N**2``, the all-pairs product's multiply-adds per N**2;
  ``W stem``: the same after Snowball stemming, as the library's analyzer does (``--stemmed``);
- ``top-20 df``: document-frequency fractions of the terms ranked 1, 5 and 20;
- ``cos in/out``: mean cosine between two articles of the same section / of different
  sections (how topical the sections are);
- ``W/W_bbc``: must be within 0.75-1.25 at every N (the exit status is 1 otherwise).

The BBC file is not part of the repository; without it only the synthetic rows are printed
and the ratio uses the BBC W recorded in ``corpus.BBC``.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    CountVectorizer,
    TfidfVectorizer,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402  (sibling script, not a package)

#: Default location of the BBC reference: ../shared/data next to the repository.
DEFAULT_BBC = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc.jsonl"
#: Accepted band for W_syn / W_bbc and for distinct terms per article.
BAND = (0.75, 1.25)
#: Accepted band for the synthetic median best / 10th-best cosine over BBC's.
SCORE_BAND = (0.85, 1.15)
#: Cosine at and above which two articles count as near-duplicates (the library's default
#: ``duplicate_threshold``).
NEAR_DUPLICATE = 0.8
#: Real corpora of the score-structure table (file stem in ``--data``) and their language.
REAL_CORPORA = {
    "bbc": "english",
    "fakebr_pt": "portuguese",
    "huffpost_headlines_en": "english",
    "saudinewsnet_ar": "arabic",
}


def load_jsonl(path: Path) -> list[dict]:
    """Read a JSON Lines file into a list of dicts."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def stemmed_w(docs: Sequence[str]) -> float:
    """W after Snowball stemming of the reference analyzer's tokens (the library stems).

    Stemming merges inflections ("year"/"years"), which raises W: 8.4 -> 11.2 on BBC.
    """
    from nltk.stem.snowball import SnowballStemmer

    tokens = TfidfVectorizer(stop_words="english").build_analyzer()
    stem = functools.lru_cache(maxsize=None)(SnowballStemmer("english").stem)
    x = CountVectorizer(analyzer=lambda doc: [stem(t) for t in tokens(doc)]).fit_transform(docs)
    df = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    return float((df**2).sum() / x.shape[0] ** 2)


def measure(rows: Sequence[dict], seed: int = 0, stemmed: bool = False) -> dict[str, Any]:
    """Vectorize ``rows`` with the reference analyzer and return the calibration numbers.

    Parameters
    ----------
    rows : sequence of dict
        Articles with ``title``, ``body`` and ``section``.
    seed : int, default 0
        Seed of the random subset used for the Heaps exponent.
    stemmed : bool, default False
        Also compute ``W_stem``, W after Snowball stemming (slower).

    Returns
    -------
    dict
        ``n, vocab, heaps, dist_mean, dist_median, words_median, W, W_stem, top, cos_in,
        cos_out`` (``W_stem`` is NaN unless ``stemmed``).
    """
    docs = [r["title"] + " " + r["body"] for r in rows]
    vec = TfidfVectorizer(stop_words="english", sublinear_tf=True, dtype=np.float32)
    x = vec.fit_transform(docs).tocsr()
    n, vocab = x.shape
    df = np.bincount(x.indices, minlength=vocab).astype(np.float64)
    nnz = np.diff(x.indptr)
    words = np.array([len(r["body"].split()) for r in rows])

    # Heaps: terms seen in a random eighth of the articles vs in all of them.
    sub = np.random.default_rng(seed).permutation(n)[: max(n // 8, 1)]
    v_sub = np.count_nonzero(np.bincount(x[sub].indices, minlength=vocab))
    heaps = np.log(vocab / v_sub) / np.log(n / len(sub)) if len(sub) < n else float("nan")

    # Mean pairwise cosine inside and across sections from per-section sums of unit rows:
    # sum over pairs of x_i . x_j = |sum x|^2 - sum |x_i|^2 (rows of x are L2-normalized).
    names, section = np.unique([r["section"] for r in rows], return_inverse=True)
    ind = sp.csr_matrix((np.ones(n), (section, np.arange(n))), shape=(len(names), n))
    sums = (ind @ x.astype(np.float64)).toarray()
    gram = sums @ sums.T
    sizes = np.bincount(section).astype(np.float64)
    self_dot = np.bincount(section, weights=np.asarray(x.multiply(x).sum(axis=1)).ravel())
    in_pairs = sizes * (sizes - 1)
    cos_in = (np.diag(gram) - self_dot).sum() / in_pairs.sum()
    out_pairs = np.outer(sizes, sizes).sum() - (sizes**2).sum()
    cos_out = (gram.sum() - np.diag(gram).sum()) / out_pairs if out_pairs else float("nan")

    top = np.sort(df)[::-1] / n
    top = np.concatenate((top, np.full(20, np.nan)))  # tiny corpora: fewer than 20 terms
    return {
        "n": n,
        "vocab": vocab,
        "heaps": heaps,
        "dist_mean": nnz.mean(),
        "dist_median": float(np.median(nnz)),
        "words_median": float(np.median(words)),
        "W": float((df**2).sum() / n**2),
        "W_stem": stemmed_w(docs) if stemmed else float("nan"),
        "top": (top[0], top[4], top[19]),
        "cos_in": cos_in,
        "cos_out": cos_out,
    }


def classic_model(language: str = "english") -> Any:
    """The classic model of the kernel benchmarks: words, plain idf, no feedback, any section.

    ``duplicate_threshold=None`` so that near-duplicates stay in the lists and are counted.
    """
    from relatedness import RelatedArticles

    return RelatedArticles(
        ngram_range=(1, 1),
        idf_power=1.0,
        feedback=0,
        section_policy="any",
        duplicate_threshold=None,
        language=language,
    )


def score_structure(rows: Sequence[dict], language: str = "english", k: int = 10) -> dict:
    """Score structure of a corpus under the classic model (the article itself excluded).

    Parameters
    ----------
    rows : sequence of dict
        Articles (``id``, ``title``, ``body``, ``section``, ...).
    language : str, default "english"
        Analyzer language.
    k : int, default 10
        The k-th best cosine is reported.

    Returns
    -------
    dict
        ``n``; ``best``, ``kth``: median over articles of the best and k-th best cosine;
        ``dup_share``: share of articles with a neighbour at cosine >= NEAR_DUPLICATE;
        ``dup_pairs``: such pairs per article (among each article's top k); ``sdf2``:
        sum df**2 / N over the model's vocabulary (the all-pairs product's multiply-adds per
        article); ``words``: median body words.
    """
    import warnings

    model = classic_model(language)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty-text articles: they just get empty lists
        model.fit(rows)
    scores, _ = model.kneighbors(k=k)
    x = model.index_.matrix
    df = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    n = len(rows)
    return {
        "n": n,
        "best": float(np.median(scores[:, 0])),
        "kth": float(np.median(scores[:, k - 1])),
        "dup_share": float((scores[:, 0] >= NEAR_DUPLICATE).mean()),
        "dup_pairs": float((scores >= NEAR_DUPLICATE).sum() / 2 / n),
        "sdf2": float((df**2).sum() / n),
        "words": float(np.median([len(r["body"].split()) for r in rows])),
    }


SCORE_HEADER = (
    f"| corpus | N | median best | median 10th-best | near-dup share | near-dup pairs/article "
    f"| sum df^2 / N | median words |\n| {' | '.join(['---'] * 8)} |"
)


def format_scores(name: str, m: dict) -> str:
    """One Markdown row of the score-structure table."""
    return (
        f"| {name} | {m['n']:,} | {m['best']:.3f} | {m['kth']:.3f} | {m['dup_share']:.3f} "
        f"| {m['dup_pairs']:.3f} | {m['sdf2']:,.0f} | {m['words']:.0f} |"
    )


def scores_main(args: argparse.Namespace) -> int:
    """Print the score-structure table; return 1 if a synthetic median is out of SCORE_BAND."""
    print(SCORE_HEADER, flush=True)
    ref = None
    for name, language in REAL_CORPORA.items():
        path = args.data / f"{name}.jsonl"
        if not path.is_file():
            continue
        m = score_structure(load_jsonl(path), language)
        ref = m if name == "bbc" else ref
        print(format_scores(name, m), flush=True)
    failures = []
    for n in args.n:
        m = score_structure(list(corpus.generate(n, seed=args.seed, n_sections=args.sections)))
        print(format_scores(f"synthetic (seed {args.seed})", m), flush=True)
        for what in ("best", "kth") if ref else ():
            ratio = m[what] / ref[what]
            if not SCORE_BAND[0] <= ratio <= SCORE_BAND[1]:
                failures.append(f"N={n}: median {what} ratio {ratio:.2f} outside {SCORE_BAND}")
    for f in failures:
        print("FAIL", f)
    if ref is None:
        print(f"(no bbc.jsonl in {args.data}: no band check)")
    elif not failures:
        print(f"OK: median best and 10th-best within {SCORE_BAND} of BBC at every N")
    return 1 if failures else 0


def check_vocabulary(rows: Sequence[dict]) -> list[str]:
    """Stop words in synthetic text that the generator did not mean to emit (should be none).

    A pseudo-word that spells an English stop word would silently vanish in the analyzer and
    bias the df calibration; ``corpus._RESERVED`` exists to prevent that.
    """
    meant = set(corpus.FUNCTION_WORDS) | set(corpus.TITLE_FUNCTION_WORDS)
    seen: set[str] = set()
    for r in rows:
        seen.update(re.findall(r"\b\w\w+\b", (r["title"] + " " + r["body"]).lower()))
    return sorted((seen & ENGLISH_STOP_WORDS) - meant) + sorted(meant - ENGLISH_STOP_WORDS)


HEADER = (
    f"{'corpus':<10}{'N':>8}{'vocab':>9}{'heaps':>7}{'dist mean':>11}{'dist med':>10}"
    f"{'words med':>11}{'W':>7}{'W stem':>8}  {'top-20 df (#1/#5/#20)':<23}{'cos in/out':>12}"
    f"{'W/W_bbc':>9}{'gen s':>7}"
)


def format_row(name: str, m: dict[str, Any], w_ref: float, seconds: float | None) -> str:
    """One table row."""
    top = "/".join(f"{t:.2f}" for t in m["top"])
    gen = f"{seconds:7.1f}" if seconds is not None else f"{'-':>7}"
    return (
        f"{name:<10}{m['n']:>8}{m['vocab']:>9}{m['heaps']:>7.2f}{m['dist_mean']:>11.1f}"
        f"{m['dist_median']:>10.0f}{m['words_median']:>11.0f}{m['W']:>7.2f}{m['W_stem']:>8.2f}"
        f"  {top:<23}"
        f"{m['cos_in']:>6.3f}/{m['cos_out']:.3f}{m['W'] / w_ref:>8.2f}{gen}"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the calibration table; return 1 if any synthetic row is out of the band."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bbc", type=Path, default=DEFAULT_BBC, help="BBC JSON Lines file")
    ap.add_argument("--n", type=int, nargs="+", default=[2225, 10000, 100000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sections", type=int, default=10)
    ap.add_argument(
        "--stemmed", action="store_true", help="also report W after Snowball stemming (slower)"
    )
    ap.add_argument(
        "--scores", action="store_true", help="print the score-structure table (classic model)"
    )
    ap.add_argument(
        "--data", type=Path, default=DEFAULT_BBC.parent, help="folder of the real corpora"
    )
    args = ap.parse_args(argv)
    if args.scores:
        return scores_main(args)

    print(HEADER)
    if args.bbc.is_file():
        ref = measure(load_jsonl(args.bbc), seed=args.seed, stemmed=args.stemmed)
        w_ref, dist_ref = float(ref["W"]), float(ref["dist_mean"])
        w_stem_ref = float(ref["W_stem"])
        print(format_row("bbc", ref, w_ref, None), flush=True)
    else:
        print(f"(no BBC file at {args.bbc}: ratios use corpus.BBC)", flush=True)
        w_ref, dist_ref = corpus.BBC["W"], corpus.BBC["distinct_mean"]
        w_stem_ref = corpus.BBC["W_stem"]

    failures = []
    for n in args.n:
        t0 = time.perf_counter()
        rows = list(corpus.generate(n, seed=args.seed, n_sections=args.sections))
        seconds = time.perf_counter() - t0
        m = measure(rows, seed=args.seed, stemmed=args.stemmed)
        print(format_row("synthetic", m, w_ref, seconds), flush=True)
        checks = [("W", m["W"], w_ref), ("distinct mean", m["dist_mean"], dist_ref)]
        if args.stemmed:
            checks.append(("W stem", m["W_stem"], w_stem_ref))
        for what, value, ref_value in checks:
            ratio = float(value) / ref_value
            if not BAND[0] <= ratio <= BAND[1]:
                failures.append(f"N={n}: {what} ratio {ratio:.2f} outside {BAND}")
        bad = check_vocabulary(rows[:2000])
        if bad:
            failures.append(f"N={n}: unexpected stop words in synthetic text: {bad[:10]}")
    for f in failures:
        print("FAIL", f)
    if not failures:
        print(f"OK: W and distinct terms/article within {BAND} of BBC at every N")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
