"""How much could exact, bound-based pruning skip in the all-pairs top-k? A measurement.

Usage::

    python benchmarks/pruning.py [--data DIR] [--n 2225 20000] [--k 10] [--seed 0]

For BBC (``--data``/bbc.jsonl, when present) and for the synthetic corpus
(``benchmarks/corpus.py``) at each ``--n``, the classic model of ``calibrate.py`` is fitted and
its unit-length rows ``X`` are compared all against all (article itself excluded, any section).
Per query row ``q`` and candidate ``j`` (a *candidate pair* shares at least one term):

- ``maxima`` bound: ``sum_{t in q and j} q_t * max_i x_it`` (per-term maxima, as in
  MaxScore/WAND and L2AP's ``maxw`` bound);
- ``maxima+l2`` bound: the smaller of that and ``|q_S| |x_j,S|`` (Cauchy-Schwarz on the shared
  terms ``S``, the prefix l2 bound of L2AP and L2Knng).

A candidate can be skipped exactly when its bound is below the k-th best score seen so far.
Two thresholds are reported:

- ``running``: candidates are visited in id order and the k-th best of those already scored is
  the threshold (what a kernel would have, with no oracle); every row's pruned top-k is
  asserted equal to brute force (same scores, same ids, tie rule: score desc, then id asc);
- ``final``: the row's true k-th best from the start (an oracle: the most any threshold-based
  scheme could skip with that bound).

Reported as the share of candidate pairs skipped. ``postings`` is the MaxScore view with the
final threshold: the share of the query's postings (sum of df over its terms) lying in
"non-essential" terms, the lowest-bound terms whose bounds sum below the threshold, whose lists
need not be scanned for new candidates (the most an accumulator kernel could save in posting
traffic). Bounds carry a 1e-6 slack so float rounding never prunes a true neighbour.

Needs numpy, scipy and numba (the scan is a loop).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import calibrate  # noqa: E402  (sibling script, not a package)
import corpus  # noqa: E402

#: Slack added to every bound: float32 scores vs float64 bounds never prune a true neighbour.
SLACK = 1e-6
#: Query rows per dense block (block x N float64 matrices, a few of them).
BLOCK = 256


@numba.njit(cache=True)
def _scan(scores, bound, self_col, k):  # pragma: no cover - compiled
    """Visit candidates in id order with a running k-th threshold.

    Returns the top-k ids found (score desc, id asc), the number of candidates (bound > 0)
    and how many were skipped because their bound was below the running threshold.
    """
    top_s = np.full(k, -np.inf)
    top_i = np.full(k, -1, dtype=np.int64)
    n_cand = 0
    n_skip = 0
    for j in range(scores.shape[0]):
        if j == self_col or bound[j] <= 0.0:
            continue
        n_cand += 1
        theta = top_s[k - 1]
        if bound[j] + SLACK < theta:
            n_skip += 1
            continue
        s = scores[j]
        # Ids arrive ascending, so a tie with the k-th loses (tie rule: lower id first).
        if s > theta:
            pos = k - 1
            while pos > 0 and top_s[pos - 1] < s:
                top_s[pos] = top_s[pos - 1]
                top_i[pos] = top_i[pos - 1]
                pos -= 1
            top_s[pos] = s
            top_i[pos] = j
    return top_i, n_cand, n_skip


def measure(x: sp.csr_matrix, k: int = 10) -> dict[str, float]:
    """Pruning shares on unit-row matrix ``x`` (see the module docstring); asserts exactness."""
    x = x.tocsr().astype(np.float64)
    n = x.shape[0]
    maxima = np.asarray(x.max(axis=0).todense()).ravel()
    pattern = x.copy()
    pattern.data[:] = 1.0
    squares = x.multiply(x).tocsr()
    df = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    q_max = x @ sp.diags(maxima)
    totals = dict.fromkeys(("cand", "run1", "run2", "fin1", "fin2", "post", "post_skip"), 0.0)
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        scores = (x[lo:hi] @ x.T).toarray()
        b1 = (q_max[lo:hi] @ pattern.T).toarray()
        l2 = np.sqrt(
            (squares[lo:hi] @ pattern.T).toarray() * (pattern[lo:hi] @ squares.T).toarray()
        )
        b2 = np.minimum(b1, l2)
        for r in range(hi - lo):
            q = lo + r
            s = scores[r].copy()
            s[q] = -np.inf
            cand = b1[r] > 0
            cand[q] = False
            # Brute force: score desc, id asc, among candidates (others score 0: no shared term).
            ids = np.flatnonzero(cand)
            order = ids[np.lexsort((ids, -s[ids]))][:k]
            theta = s[order[-1]] if len(order) == k else -np.inf
            for name, bound in (("1", b1[r]), ("2", b2[r])):
                got, n_cand, n_skip = _scan(s, bound, q, k)
                got = got[got >= 0]
                assert np.array_equal(got, order), f"row {q}: pruned top-k differs (bound {name})"
                totals["run" + name] += n_skip
                totals["fin" + name] += int(np.count_nonzero(bound[cand] + SLACK < theta))
            totals["cand"] += n_cand
            # MaxScore: lowest-bound terms whose bounds sum below theta are non-essential.
            row = slice(x.indptr[q], x.indptr[q + 1])
            contrib = x.data[row] * maxima[x.indices[row]]
            order_t = np.argsort(contrib)
            nonessential = np.cumsum(contrib[order_t]) + SLACK < theta
            post = df[x.indices[row]] - 1  # the article's own posting is not a candidate
            totals["post"] += post.sum()
            totals["post_skip"] += post[order_t][nonessential].sum()
    c = totals["cand"]
    return {
        "n": n,
        "cand_per_row": c / n,
        "run_maxima": totals["run1"] / c,
        "run_l2": totals["run2"] / c,
        "final_maxima": totals["fin1"] / c,
        "final_l2": totals["fin2"] / c,
        "postings": totals["post_skip"] / totals["post"],
    }


HEADER = (
    "| corpus | N | candidates/article | skipped, running: maxima | maxima+l2 "
    "| skipped, final: maxima | maxima+l2 | postings skippable (MaxScore, final) |\n"
    f"| {' | '.join(['---'] * 8)} |"
)


def main(argv: list[str] | None = None) -> int:
    """Print the pruning table (Markdown)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=calibrate.DEFAULT_BBC.parent)
    ap.add_argument("--n", type=int, nargs="+", default=[2225, 20000])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    jobs = []
    bbc = args.data / "bbc.jsonl"
    if bbc.is_file():
        jobs.append(("bbc", lambda: calibrate.load_jsonl(bbc)))
    for n in args.n:
        jobs.append(
            (f"synthetic (seed {args.seed})", lambda n=n: list(corpus.generate(n, seed=args.seed)))
        )
    print(HEADER, flush=True)
    for name, load in jobs:
        t0 = time.perf_counter()
        model = calibrate.classic_model()
        model.fit(load())
        m = measure(model.index_.matrix, args.k)
        print(
            f"| {name} | {m['n']:,} | {m['cand_per_row']:,.0f} | {m['run_maxima']:.1%} "
            f"| {m['run_l2']:.1%} | {m['final_maxima']:.1%} | {m['final_l2']:.1%} "
            f"| {m['postings']:.1%} |",
            flush=True,
        )
        print(
            f"  ({time.perf_counter() - t0:.0f} s, exact: every row equals brute force)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
