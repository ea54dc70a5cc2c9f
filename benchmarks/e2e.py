"""End to end batch run: fit + precompute to SQLite, locally and on a Dask LocalCluster.

Reports, on the calibrated synthetic corpus (benchmarks/corpus.py):

* fit + precompute + SQLite, in one process (``--jobs 2`` for the fit's vectorizing),
  wall time and peak RSS of the process;
* the same precompute through a 2-worker ``distributed.LocalCluster`` (joblib's dask backend),
  with the output checked identical to the local one;
* resume overhead: a precompute killed with SIGKILL at about 50% of its shards, then resumed;
  (time to finish after the kill) / (time of an uninterrupted run).

Usage::

    python benchmarks/e2e.py --n 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {here!r})
from relatedness import RelatedArticles
from relatedness.precompute import precompute
mode, corpus, model_dir, out = {mode!r}, {corpus!r}, {model_dir!r}, {out!r}
start = time.perf_counter()
if mode == "fit":
    from relatedness.articles import read_jsonl
    model = RelatedArticles(n_jobs=2).fit(read_jsonl(corpus))
    model.save(model_dir)
    fitted = time.perf_counter() - start
    summary = precompute(model, out, format="sqlite", model_dir=model_dir, progress=False,
                         shard_size={shard})
    extra = {{"fit_s": fitted}}
else:
    kwargs = dict(format="sqlite", model_dir=model_dir, progress=False, shard_size={shard},
                  resume=True)
    if mode == "dask":
        kwargs.update(backend="dask", n_jobs=2)
    summary = precompute(model_dir, out, **kwargs)
    extra = {{}}
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({{"wall_s": time.perf_counter() - start, "rss_mib": int(hwm) / 1024,
                  "n": summary.n_articles, "empty": summary.n_empty_lists,
                  "skipped": summary.skipped_shards, **extra}}))
"""


def _child(mode: str, corpus: str, model_dir: str, out: str, shard: int) -> dict:
    code = _CHILD.format(here=str(HERE), mode=mode, corpus=corpus, model_dir=model_dir, out=out,
                         shard=shard)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-3:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _killed_at_half(model_dir: str, out: str, shard: int, n_shards: int) -> float:
    """Start a precompute, SIGKILL it once half the shards are staged; return its runtime."""
    code = _CHILD.format(here=str(HERE), mode="resume", corpus="", model_dir=model_dir, out=out,
                         shard=shard)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    staging = Path(out).parent
    while proc.poll() is None:
        done = list(staging.rglob("part-*.done"))
        if len(done) >= n_shards // 2:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    proc.wait()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--shard-size", type=int, default=5_000)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from corpus import write_jsonl

    print(f"command: python benchmarks/e2e.py {' '.join(argv or sys.argv[1:])}")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.jsonl")
        write_jsonl(corpus, args.n, seed=0)
        model_dir = os.path.join(tmp, "model")
        local = os.path.join(tmp, "local", "related.sqlite")
        os.makedirs(os.path.dirname(local))
        first = _child("fit", corpus, model_dir, local, args.shard_size)
        print(f"fit + precompute + SQLite, 1 process: {json.dumps(first)}")
        if not args.no_dask:
            remote = os.path.join(tmp, "dask", "related.sqlite")
            os.makedirs(os.path.dirname(remote))
            dask = _child("dask", "", model_dir, remote, args.shard_size)
            same = Path(local).exists() and Path(remote).exists() and _same(local, remote)
            print(f"precompute via 2-worker LocalCluster: {json.dumps(dask)}; identical: {same}")
        plain_dir = os.path.join(tmp, "plain", "related.sqlite")
        os.makedirs(os.path.dirname(plain_dir))
        plain = _child("resume", "", model_dir, plain_dir, args.shard_size)
        killed = os.path.join(tmp, "killed", "related.sqlite")
        os.makedirs(os.path.dirname(killed))
        n_shards = -(-args.n // args.shard_size)
        before = _killed_at_half(model_dir, killed, args.shard_size, n_shards)
        resumed = _child("resume", "", model_dir, killed, args.shard_size)
        overhead = (before + resumed.get("wall_s", float("nan"))) / plain["wall_s"]
        print(f"uninterrupted precompute: {plain['wall_s']:.1f} s; killed at ~50% after "
              f"{before:.1f} s, resume finished in {resumed.get('wall_s', float('nan')):.1f} s "
              f"(skipped {resumed.get('skipped')} shards); total / uninterrupted = {overhead:.2f}; "
              f"identical: {_same(plain_dir, killed)}")
    return 0


def _same(a: str, b: str) -> bool:
    """Same lists in two SQLite outputs (run tables and timestamps aside)."""
    from relatedness.precompute import iter_output

    return list(iter_output(a, verify=False)) == list(iter_output(b, verify=False))


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
