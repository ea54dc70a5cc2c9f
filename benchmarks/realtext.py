"""Speed on real text, through the public API, beside the plain scikit-learn pipeline.

For every labelled corpus in ``../shared/data`` (JSON Lines whose first row has ``labels``;
absent files are skipped), in one run, each system in its own fresh process after an untimed
warm-up (imports, compiled kernels, a small fit):

- ``baseline``: ``TfidfVectorizer(sublinear_tf=True, min_df=2, max_df=0.5, float32)``
  (English stop words for English, character bigrams for Japanese, Chinese, Korean) and
  ``sp_matmul_topn(X, X.T, top_n=11, n_threads=2)`` for every list (``sparse_dot_topn``;
  scikit-learn's brute-force cosine when it is not installed: the table says which), as
  ``../shared/tools/realcheck`` runs it;
- ``defaults``: ``RelatedArticles(k=10, section_policy="any", language=<corpus language>)``
  with every other parameter at the shipped default: ``fit``, then ``kneighbors()`` of every
  article, ``related_many`` of every id (records), ``precompute`` to JSON Lines (one file,
  in a temporary directory), and the kernel alone on the same vectors
  (``sp_matmul_topn`` on the model's own matrix: what the path around the kernel costs);
- ``classic``: the same steps with ``ngram_range=(1, 1), idf_power=1.0, feedback=0``;
- ``preset-2026.11``: the same steps with the 0.1 release's ranking.

Prints seconds per step and the ratio to the baseline's step (below 1.0: relatedness is
faster), and writes them as JSON with ``--json``. Targets (issue 14): where the baseline's
step takes 1 s or more, lists <= 0.5x and fit <= 1.0x the baseline; where it takes less,
the step takes at most 1 s.

Usage::

    python benchmarks/realtext.py [--only bbc fakebr_pt] [--systems defaults classic]
                                  [--max-rows N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from quality import DATA, corpora  # the same labelled corpora, found the same way

SYSTEMS = ("defaults", "classic", "preset-2026.11")

# One measurement, in a fresh interpreter: the corpus, the system and the row limit come in
# as JSON on argv; the figures go out as one JSON line on stdout.
_CHILD = r"""
import json, random, sys, tempfile, time, warnings
warnings.simplefilter("ignore")
import numpy as np
path, system, max_rows = json.loads(sys.argv[1])
LANGS = {"en": "english", "pt": "portuguese", "ar": "arabic", "ja": "japanese",
         "zh": "chinese", "ko": "korean", "fr": "french", "de": "german", "es": "spanish"}
with open(path, encoding="utf-8") as handle:
    rows = [json.loads(line) for line in handle]
if max_rows and max_rows < len(rows):
    keep = sorted(random.Random(0).sample(range(len(rows)), max_rows))
    rows = [rows[i] for i in keep]
lang = rows[0].get("lang", "en")
bare = [{k: r[k] for k in ("id", "title", "body", "published") if k in r} for r in rows]

def topn(x):
    try:
        from sparse_dot_topn import sp_matmul_topn
    except ImportError:
        from sklearn.neighbors import NearestNeighbors
        nn = NearestNeighbors(n_neighbors=min(11, x.shape[0]), metric="cosine",
                              algorithm="brute", n_jobs=2).fit(x)
        nn.kneighbors(x)
        return "sklearn brute force"
    sp_matmul_topn(x, x.T.tocsr(), top_n=11, n_threads=2, sort=True)
    return "sparse_dot_topn"

out = {"n": len(rows)}
if system == "baseline":
    from sklearn.feature_extraction.text import TfidfVectorizer
    options = {"sublinear_tf": True, "min_df": 2, "max_df": 0.5, "dtype": np.float32}
    if lang in ("ja", "zh", "ko"):
        options.update(analyzer="char", ngram_range=(2, 2))
    elif lang == "en":
        options.update(stop_words="english")
    texts = [r.get("title", "") + "\n" + r["body"] for r in rows]
    TfidfVectorizer(**options).fit_transform(texts[:200])  # warm-up
    topn(TfidfVectorizer(**options).fit_transform(texts[:200]))
    start = time.perf_counter()
    x = TfidfVectorizer(**options).fit_transform(texts)
    out["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    out["engine"] = topn(x)
    out["lists"] = time.perf_counter() - start
else:
    from relatedness import RelatedArticles
    from relatedness.batch import precompute
    settings = {"k": 10, "section_policy": "any", "language": LANGS.get(lang, "english")}
    if system == "classic":
        settings.update(ngram_range=(1, 1), idf_power=1.0, feedback=0)
    def make():
        if system == "preset-2026.11":
            return RelatedArticles.from_preset("2026.11", **settings)
        return RelatedArticles(**settings)
    warm = make().fit(bare[:200])  # imports, compiled kernels
    warm.kneighbors()
    start = time.perf_counter()
    model = make().fit(bare)
    out["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    model.kneighbors()
    out["lists"] = time.perf_counter() - start
    start = time.perf_counter()
    model.related_many(model.ids_)
    out["related_many"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        precompute(model, f"{tmp}/related.jsonl", progress=False)
        out["precompute"] = time.perf_counter() - start
    start = time.perf_counter()
    out["engine"] = topn(model.index_.matrix)
    out["kernel"] = time.perf_counter() - start
print(json.dumps(out))
"""


def measure(path: Path, system: str, max_rows: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([str(path), system, max_rows])],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def show(line: str) -> None:
    """Print a table row as soon as it is measured."""
    print(line, flush=True)


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:5.2f}x" if value is not None and base else "   - "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", help="corpus names (file names without .jsonl)")
    parser.add_argument("--systems", nargs="*", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--max-rows", type=int, default=0, help="a seeded sample of each corpus")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    paths = corpora(args.only)
    if not paths:
        show(f"no labelled corpus in {DATA}: nothing to measure")
        return 0
    results: dict[str, dict[str, Any]] = {}
    show(f"{'corpus':24} {'n':>6} {'system':15} {'fit s':>6} {'(x)':>6} {'lists s':>7} "
          f"{'(x)':>6} {'records':>7} {'precomp':>7} {'kernel':>6}  engine")
    for path in paths:
        base = measure(path, "baseline", args.max_rows)
        results[path.stem] = {"baseline": base}
        if "error" in base:
            show(f"{path.stem:24} baseline error: {base['error']}")
            continue
        show(f"{path.stem:24} {base['n']:6d} {'baseline':15} {base['fit']:6.2f} {'':6} "
              f"{base['lists']:7.2f} {'':6} {'':7} {'':7} {'':6}  {base['engine']}")
        for system in args.systems:
            got = measure(path, system, args.max_rows)
            results[path.stem][system] = got
            if "error" in got:
                show(f"{path.stem:24} {system} error: {got['error']}")
                continue
            show(f"{path.stem:24} {got['n']:6d} {system:15} {got['fit']:6.2f} "
                  f"{_ratio(got['fit'], base['fit'])} {got['lists']:7.2f} "
                  f"{_ratio(got['lists'], base['lists'])} {got['related_many']:7.2f} "
                  f"{got['precompute']:7.2f} {got['kernel']:6.2f}  {got['engine']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
