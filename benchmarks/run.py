"""Side-by-side benchmark: relatedness against the tools a user would otherwise pick.

One run, one machine, the same vectors for every method:

* **all-pairs exact top-k** (self excluded): relatedness vs sparse_dot_topn (C++, n_threads=2)
  vs scikit-learn ``NearestNeighbors(algorithm="brute", metric="cosine")`` vs
  ``cosine_similarity`` in row chunks + ``argpartition``. Each method runs in its own
  subprocess, so its wall time, CPU seconds and peak RSS are its own; recall@k is measured
  against the exact answer (a returned neighbour counts when its true score reaches the
  k-th best true score, so ties cannot lower recall).
* **section_policy="same"** on the same vectors (10 skewed sections): the restricted work.
* **vectorizing** throughput: relatedness' field-weighted, stemmed TF-IDF vs a plain
  ``TfidfVectorizer`` (no stemming) on the same text.
* **single queries**: ``related(id)`` and ``related_to(text)`` p50/p99 on the fitted model,
  in this process and in a fresh process that loads the saved model (as a server does).

Usage::

    python benchmarks/run.py --n 10000
    python benchmarks/run.py --n 100000 --skip nearest_neighbors cosine_chunks

Baselines come from the ``bench`` extra: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
METHODS = ("relatedness", "sparse_dot_topn", "nearest_neighbors", "cosine_chunks")


# ------------------------------------------------------------------------------ child side


def _topk_rows(scores: np.ndarray, k: int, self_cols: np.ndarray) -> np.ndarray:
    """Top-k columns per row of a dense block, self excluded (for the chunked baselines)."""
    scores[np.arange(len(self_cols)), self_cols] = -np.inf
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(-scores, part, axis=1).argsort(axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _csr_mib(matrix: sp.csr_matrix) -> float:
    return (matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes) / 2**20


def _compute(method: str, X: sp.csr_matrix, k: int, extra: dict) -> np.ndarray:
    """Each row's top-k columns (self excluded) by one method."""
    n = X.shape[0]
    if method == "relatedness":
        from relatedness.engine import SimilarityIndex, tiebreak_ranks

        codes = np.load(extra["codes"]) if extra.get("policy") == "same" else np.zeros(n, int)
        ranks = tiebreak_ranks(list(range(n)), np.full(n, np.datetime64("NaT"), "datetime64[s]"))
        index = SimilarityIndex(X, codes, ranks, working_memory=512)
        rows = np.arange(n)
        found = index.query(X, rows, codes, k, extra.get("policy", "any"), own_rows=True)
        cols = np.full((n, k), -1, dtype=np.int64)
        for i, (r, _) in enumerate(found):
            cols[i, : len(r)] = r
    elif method == "sparse_dot_topn":
        from sparse_dot_topn import sp_matmul_topn

        C = sp_matmul_topn(X, X.T.tocsr(), top_n=k + 1, sort=True, n_threads=2)
        cols = np.full((n, k), -1, dtype=np.int64)
        for i in range(n):
            row = C.indices[C.indptr[i] : C.indptr[i + 1]]
            row = row[row != i][:k]
            cols[i, : len(row)] = row
    elif method == "nearest_neighbors":
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="cosine", n_jobs=2)
        _, idx = nn.fit(X).kneighbors(X)
        cols = np.array([[j for j in row if j != i][:k] for i, row in enumerate(idx)])
    elif method == "cosine_chunks":
        from sklearn.metrics.pairwise import cosine_similarity

        cols = np.empty((n, k), dtype=np.int64)
        step = max(1, (256 * 2**20) // (8 * n))
        for a in range(0, n, step):
            b = min(n, a + step)
            block = cosine_similarity(X[a:b], X, dense_output=True)
            cols[a:b] = _topk_rows(block, k, np.arange(a, b))
    else:
        msg = f"unknown method {method}"
        raise SystemExit(msg)
    return cols


def _csr_mib(matrix: sp.csr_matrix) -> float:
    return (matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes) / 2**20


def _run_method(method: str, matrix_path: str, k: int, out_path: str, extra: dict) -> dict:
    # Warm up on a tiny matrix first: imports and compiled code (numba's machine code is
    # tens of MiB) are the interpreter's, not the data's; the baseline is taken after them.
    tiny = sp.random(2 * k + 2, 50, density=0.3, format="csr", dtype=np.float32, random_state=0)
    start = time.perf_counter()
    _compute(method, tiny, k, {})
    warm_up = time.perf_counter() - start  # reported: a user's first call pays it once
    base = _rss_mib("VmRSS")
    X = sp.load_npz(matrix_path).tocsr()
    n = X.shape[0]
    # What the method cannot do without: the matrix, one inverted (transposed) copy with
    # int32 postings like the kernels build, and the k results (column and score) per row.
    postings = X.nnz * (X.data.itemsize + 4) + (X.shape[1] + 1) * 8
    data_mib = _csr_mib(X) + postings / 2**20 + n * k * 16 / 2**20
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    cols = _compute(method, X, k, extra)
    wall = time.perf_counter() - start
    np.save(out_path, cols)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    return {
        "method": method,
        "wall": wall,
        "cpu": cpu,
        "peak_rss_mib": _peak_rss_mib(),
        "base_rss_mib": base,
        "data_mib": data_mib,
        "warm_up": warm_up,
    }


def _rss_mib(field: str) -> float:
    """A memory line of this process's /proc/self/status (VmRSS, VmHWM), in MiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_rss_mib() -> float:
    """This process's own peak RSS (VmHWM).

    ``ru_maxrss`` is inherited across fork and exec, so a child of a large parent would
    report the parent's peak; VmHWM belongs to the new address space.
    """
    return _rss_mib("VmHWM")


def _query_times(model: Any, ids: list, stories: list[dict]) -> dict[str, tuple[float, float]]:
    """p50/p99 in ms of ``related(id)`` and ``related_to(story)``, under "any" and "same"."""
    out = {}
    for policy in ("any", "same"):
        model.set_params(section_policy=policy)
        # The steady state of a server: every section's search structure built (on its
        # first query otherwise, ~25 ms at 100k), kernels and stemmer loaded.
        model.warm_up()
        model.related_to(stories[0]["body"])
        times = []
        for article_id in ids:
            t = time.perf_counter()
            model.related(article_id)
            times.append(time.perf_counter() - t)
        text_times = []
        for story in stories:
            t = time.perf_counter()
            model.related_to(story)
            text_times.append(time.perf_counter() - t)
        for call, values in (("related(id)", times), ("related_to(text)", text_times)):
            ms = np.array(values) * 1000
            out[f"{policy} {call}"] = (
                float(np.percentile(ms, 50)),
                float(np.percentile(ms, 99)),
            )
    return out


def _serve(model_dir: str, job_path: str) -> dict[str, tuple[float, float]]:
    """A server's view: load the saved model (memory-mapped), then time the same queries."""
    warnings.simplefilter("ignore")
    from relatedness import RelatedArticles

    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    model = RelatedArticles.load(model_dir, mmap=True)
    return _query_times(model, job["ids"], job["stories"])


# ------------------------------------------------------------------------------ parent side


def _child(method: str, matrix: str, k: int, tmp: str, extra: dict) -> dict:
    out = os.path.join(tmp, f"{method}-{extra.get('policy', 'any')}.npy")
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import run; "
        f"print(json.dumps(run._run_method({method!r}, {matrix!r}, {k}, {out!r}, {extra!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"method": method, "error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["cols"] = out
    return result


def _recall(X: sp.csr_matrix, cols: np.ndarray, exact_kth: np.ndarray) -> float:
    """Share of returned neighbours whose true cosine reaches the exact k-th best."""
    n, k = cols.shape
    X64 = sp.csr_matrix(X, dtype=np.float64)
    hits = 0
    for i in range(n):
        row = cols[i][cols[i] >= 0]
        true = (X64[row] @ X64[i].T).toarray().ravel() if len(row) else np.array([])
        hits += int(np.sum(true >= exact_kth[i] - 1e-9))
    return hits / (n * k)


def _exact_kth(X: sp.csr_matrix, k: int) -> np.ndarray:
    """The exact k-th best cosine of each row (self excluded), by brute force in chunks."""
    X64 = sp.csr_matrix(X, dtype=np.float64)
    n = X.shape[0]
    out = np.empty(n)
    step = max(1, (256 * 2**20) // (8 * n))
    for a in range(0, n, step):
        b = min(n, a + step)
        block = (X64[a:b] @ X64.T).toarray()
        block[np.arange(b - a), np.arange(a, b)] = -np.inf
        out[a:b] = -np.partition(-block, k - 1, axis=1)[:, k - 1]
    return out


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if "model name" in line]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


#: The classic model: words only, idf weights, no feedback (the vectors compared here).
CLASSIC = {"ngram_range": (1, 1), "idf_power": 1.0, "feedback": 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], choices=METHODS)
    parser.add_argument("--queries", type=int, default=300, help="single queries to time")
    parser.add_argument("--no-recall", action="store_true", help="skip the brute-force check")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from corpus import generate

    warnings.simplefilter("ignore")
    from sklearn.feature_extraction.text import TfidfVectorizer

    from relatedness import RelatedArticles

    print(f"machine: {_machine()}")
    print(f"command: python benchmarks/run.py {' '.join(argv or sys.argv[1:])}\n")
    rows = list(generate(args.n, seed=args.seed))
    texts = [r["title"] + "\n" + r["body"] for r in rows]

    start = time.perf_counter()
    TfidfVectorizer(dtype=np.float32).fit_transform(texts)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    # The vectors every all-pairs method scores: words only, classic idf, like the plain
    # TfidfVectorizer it is compared with.
    model = RelatedArticles(k=args.k, section_policy="any", n_jobs=2, **CLASSIC).fit(rows)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    tuned = RelatedArticles(k=args.k, section_policy="any", n_jobs=2).fit(rows)
    ours_tuned = time.perf_counter() - start
    # The same features without stemming or cleaning: words and word pairs, min_df=3.
    start = time.perf_counter()
    TfidfVectorizer(dtype=np.float32, ngram_range=(1, 2), min_df=3).fit_transform(texts)
    plain_pairs = time.perf_counter() - start
    print("vectorize (fit, same text)           seconds   articles/s   ratio")
    print(f"  TfidfVectorizer (no stemming)      {plain:8.1f}   {args.n / plain:10.0f}    1.00")
    print(
        f"  relatedness fit (clean+stem+index) {ours:8.1f}   {args.n / ours:10.0f}"
        f"    {plain / ours:4.2f}x"
    )
    print(
        f"  ... tuned defaults (+word pairs)   {ours_tuned:8.1f}   {args.n / ours_tuned:10.0f}"
        f"    {plain / ours_tuned:4.2f}x"
    )
    print(
        f"  TfidfVectorizer(ngram_range=(1, 2), min_df=3)  {plain_pairs:.1f} s: tuned defaults"
        f" at {plain_pairs / ours_tuned:4.2f}x of it"
    )

    X = model.index_.matrix
    with tempfile.TemporaryDirectory() as tmp:
        matrix = os.path.join(tmp, "X.npz")
        sp.save_npz(matrix, X)
        codes = os.path.join(tmp, "codes.npy")
        np.save(codes, model.index_.section_codes)
        results = []
        for method in METHODS:
            if method in args.skip:
                continue
            results.append(_child(method, matrix, args.k, tmp, {}))
        same = _child("relatedness", matrix, args.k, tmp, {"policy": "same", "codes": codes})
        same["method"] = "relatedness, section_policy=same"

        kth = None if args.no_recall else _exact_kth(X, args.k)
        base = next((r for r in results if r["method"] == "sparse_dot_topn" and "wall" in r), None)
        print(f"\nall-pairs exact top-{args.k}, n={args.n}  (ratio = wall / sparse_dot_topn wall;")
        print("  wall excludes each method's one-time warm-up: imports, compiled-code loading)")
        print(
            "  method                              wall s    cpu s   articles/s  peak RSS MiB"
            "  recall@k  ratio"
        )
        for r in [*results, same]:
            if "error" in r:
                print(f"  {r['method']:<34} failed: {r['error']}")
                continue
            cols = np.load(r["cols"])
            recall = (
                "    -   "
                if kth is None or "same" in r["method"]
                else (f"{_recall(X, cols, kth):8.4f}")
            )
            ratio = f"{r['wall'] / base['wall']:5.2f}" if base else "  -  "
            print(
                f"  {r['method']:<34} {r['wall']:7.1f} {r['cpu']:8.1f} {args.n / r['wall']:11.0f}"
                f" {r['peak_rss_mib']:13.0f}  {recall}  {ratio}"
            )
        print("\nall-pairs memory: peak RSS above the warmed-up interpreter's (imports and")
        print("compiled code, measured before the matrix is loaded) vs data = matrix + one")
        print("int32 inverted copy + k results (column, score) per row")
        for r in [*results, same]:
            if "error" not in r:
                above = r["peak_rss_mib"] - r["base_rss_mib"]
                print(
                    f"  {r['method']:<34} {above:8.0f} MiB vs {r['data_mib']:6.0f} MiB"
                    f" = {above / r['data_mib']:4.2f}x   (warm-up {r['warm_up']:.2f} s)"
                )

    ids = model.ids_
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(len(ids), size=min(args.queries, len(ids)), replace=False)
    wanted = [ids[i] for i in picks]
    # Unseen stories: an article's text, title and section under no id.
    stories = [
        {f: rows[i][f] for f in ("title", "body", "section")}
        for i in picks[: max(1, len(picks) // 3)]
    ]
    print(f"\nsingle queries on the {args.n:,}-article index (ms, default k and other policies)")
    print("  this process: the one that generated the corpus and fitted both models; server:")
    print("  a fresh process that loads the saved model (mmap) and holds nothing else")
    print(
        "  model                        sections  call               this p50  p99"
        "   server p50  p99"
    )
    with tempfile.TemporaryDirectory() as tmp:
        job = os.path.join(tmp, "job.json")
        with open(job, "w", encoding="utf-8") as handle:
            json.dump({"ids": wanted, "stories": stories}, handle)
        for name, label, m in (
            ("classic", "classic (words, no feedback)", model),
            ("tuned", "tuned defaults", tuned),
        ):
            here = _query_times(m, wanted, stories)
            model_dir = m.save(os.path.join(tmp, name))
            code = (
                f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import run; "
                f"print(json.dumps(run._serve({str(model_dir)!r}, {job!r})))"
            )
            done = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            )
            server = json.loads(done.stdout.strip().splitlines()[-1])
            for key, (p50, p99) in here.items():
                s50, s99 = server[key]
                policy, call = key.split(" ", 1)
                print(
                    f"  {label:<28} {policy:<9} {call:<18} {p50:7.2f} {p99:6.2f}"
                    f"   {s50:9.2f} {s99:6.2f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
