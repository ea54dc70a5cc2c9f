"""The 1M run: fit + precompute of a million calibrated articles, timed, with peak memory.

Issue 3's target: 1M calibrated articles (10 sections, dates spread over 10 years),
``section_policy="same"``, a 2-year window (``max_age=730`` days): fit + precompute in
<= 10 minutes with a peak RSS <= 8 GiB. Run it once by hand and report it; it is not in CI.

What is measured, in ONE child process (so its memory is its own):

1. open the JSON Lines corpus (``relatedness.articles.iter_jsonl``: read line by line as
   the fit consumes it, as ``relatedness fit`` does, so the reading is timed in the fit;
   ``--read-all`` reads the whole file into a list of dicts first, ``read_jsonl``, as a
   caller holding its archive in memory would);
2. ``RelatedArticles(section_policy="same", max_age=730, n_jobs=2).fit(rows)``, every other
   parameter at its default (k=5, duplicate_threshold=0.8, working_memory=256, ...);
3. ``model.save(model_dir)`` (a data team fits once and precomputes from the saved model);
4. ``precompute(model_dir, out, format="sqlite")`` in this process (the saved model,
   memory-mapped): its index scores each pair once, each section's pools in one pass on both
   cores (``--backend loky`` or ``threading`` for ``n_jobs=2`` worker processes or threads,
   where every batch scores its own rows); SQLite is what a site serves from
   (``--format jsonl`` for sharded JSON Lines instead).

Between the save and precompute the fitted model is dropped and glibc's freed heap is
returned (``malloc_trim``; ``--no-trim`` to skip), as if fit and precompute were two commands.

Peak memory is reported three ways: the child's own ``VmHWM`` (what the issue asks for), the
``VmHWM`` of its worker processes (the fit's background stemmer and the precompute's loky
workers are separate processes with their own peaks), and the peak of the whole process tree
per stage, sampled every 0.5 s by the parent (sum of RSS, which counts the shared
memory-mapped model once per process, and sum of PSS, which splits shared pages between the
processes that map them). The sampler runs in the parent because the child must stay
single-threaded: the fit only forks its background stemmer from a one-thread process. The
same samples give the CPU seconds of the tree per stage, a better yardstick than wall time on
a shared machine.

Generating the corpus is timed separately and is not part of the measured run; pass
``--corpus PATH`` to keep the file (it is generated there when missing, reused otherwise).

Usage::

    python benchmarks/million.py --n 50000                  # try small sizes first
    python benchmarks/million.py --n 200000 --corpus corpus-200k.jsonl
    python benchmarks/million.py --corpus corpus-1m.jsonl   # 1,000,000 (generated once)
    python benchmarks/million.py --n 200000 --backend threading --format jsonl
    python benchmarks/million.py --corpus corpus-1m.jsonl --fit-only   # fit memory only
    python benchmarks/million.py --corpus corpus-1m.jsonl --classic    # the fast model
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MIB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------ memory


def _status_kib(pid: int | str, key: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB (``VmHWM``, ``VmRSS``); 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (one scan of ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                # "pid (comm) state ppid ...": comm may hold spaces, so split after the ")".
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def _rss_pss(pid: int) -> tuple[int, int]:
    """Resident and proportional set size of one process, in bytes (0 when it is gone)."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
            rss = int(handle.read().split()[1]) * PAGE
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return rss, pss


class TreeSampler(threading.Thread):
    """Samples the memory and CPU time of a process tree; keeps the peak per stage.

    It runs in the parent, not in the measured child: the child must stay single-threaded,
    because the fit only forks its background stemmer from a process with one thread.

    Parameters
    ----------
    root : int
        The measured process; its descendants are found at every sample.
    stage_file : Path
        Where the child writes the name of its current stage.
    interval : float
        Seconds between samples.
    """

    def __init__(self, root: int, stage_file: Path, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.stage_file = stage_file
        self.interval = interval
        self.stage = "start"
        self.peaks: dict[str, dict[str, float]] = {}
        self.hwm_kib: dict[int, int] = {}  # last VmHWM seen of every descendant
        self.cpu: dict[int, float] = {}  # last CPU seconds seen of every process
        self.cpu_at: dict[str, float] = {"start": 0.0}  # tree CPU when each stage started
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> None:
        """Take one sample now."""
        with contextlib.suppress(OSError):
            stage = self.stage_file.read_text(encoding="ascii").strip()
            if stage and stage != self.stage:
                self.stage = stage
                self.cpu_at[stage] = sum(self.cpu.values())
        rss = pss = 0
        procs = _descendants(self.root)
        for pid in procs:
            r, p = _rss_pss(pid)
            rss, pss = rss + r, pss + p
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_seconds(pid))
            if pid != self.root:
                self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), _status_kib(pid, "VmHWM"))
        if not rss:
            return  # the child has exited
        peak = self.peaks.setdefault(self.stage, {"tree_rss_mib": 0.0, "tree_pss_mib": 0.0})
        peak["tree_rss_mib"] = max(peak["tree_rss_mib"], rss / MIB)
        peak["tree_pss_mib"] = max(peak["tree_pss_mib"], pss / MIB)
        peak["processes"] = max(peak.get("processes", 0), len(procs))

    def stage_cpu(self) -> dict[str, float]:
        """CPU seconds of the process tree per stage (to the stage's last sample; a worker
        that lived less than ``interval`` may be missed)."""
        ends = [*list(self.cpu_at.values())[1:], sum(self.cpu.values())]
        return {k: end - v for (k, v), end in zip(self.cpu_at.items(), ends, strict=True)}

    def stop(self) -> None:
        """End sampling."""
        self._stop_event.set()
        self.join()


# ------------------------------------------------------------------------------ child side


def _budget(model: Any) -> dict[str, float]:
    """Bytes of the fitted matrix and an estimate of the per-section inverted copies.

    ``SimilarityIndex._inverted`` builds, per section and lazily, the transposed rows as a
    float32 CSR (``relatedness.engine.kernels.inverted_index``): 4 bytes of data and one index per
    non-zero, plus an ``indptr`` over the whole vocabulary per section. Every process that
    scores (each loky worker) holds its own copies, one per section it meets.
    """
    import numpy as np

    index = model.index_
    matrix = index.matrix
    nnz, n_terms = int(matrix.nnz), int(matrix.shape[1])
    n_sections = len(index.groups)
    idx_bytes = np.dtype(np.int32 if max(nnz, n_terms) < 2**31 else np.int64).itemsize
    built = [m for key, m in index._transposed.items() if key[0] == "inverted"]
    return {
        "n_terms": n_terms,
        "nnz": nnz,
        "matrix_mib": (matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes) / MIB,
        "inverted_est_mib": (nnz * (4 + idx_bytes) + n_sections * (n_terms + 1) * idx_bytes) / MIB,
        "inverted_built_mib": sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in built)
        / MIB,
    }


def _size(path: Path) -> int:
    """Bytes of a file, or of every file below a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_child(config: dict[str, Any]) -> dict[str, Any]:
    """The measured run (read, fit, save, precompute); returns its numbers.

    Parameters
    ----------
    config : dict
        ``corpus``, ``work`` (directory for the model and the output), ``format``,
        ``backend``, ``jobs``, ``shard_size``, ``max_age``, ``stage_file``, ``progress``,
        ``trim``, ``precompute`` (False: stop after the save).
    """
    import gc
    import warnings

    warnings.simplefilter("ignore")
    from relatedness import RelatedArticles
    from relatedness.articles import iter_jsonl, read_jsonl
    from relatedness.precompute import precompute
    from relatedness.features.parallel import trim_heap as _trim_heap

    work = Path(config["work"])
    stage_file = Path(config["stage_file"])

    def enter(name: str) -> None:
        # Read by the parent's TreeSampler (no thread here: see its docstring).
        stage_file.write_text(name + "\n", encoding="ascii")

    model_dir = work / "model"
    out = work / ("related.sqlite" if config["format"] == "sqlite" else "related")
    times: dict[str, float] = {}
    rss_after: dict[str, float] = {}

    def stage(name: str, start: float) -> float:
        now = time.perf_counter()
        times[name] = now - start
        rss_after[name] = _status_kib("self", "VmRSS") / 1024
        return now

    t = start = time.perf_counter()
    enter("read")
    # Streamed (the default): the file is read as the fit goes, inside the fit's time.
    rows = read_jsonl(config["corpus"]) if config.get("read_all") else iter_jsonl(config["corpus"])
    t = stage("read", t)
    enter("fit")
    # --classic: the fast model (words only, classic idf, no feedback), see the README.
    classic = {"ngram_range": (1, 1), "idf_power": 1.0, "feedback": 0}
    model = RelatedArticles(
        section_policy="same",
        max_age=config["max_age"],
        n_jobs=config["jobs"],
        **(classic if config.get("classic") else {}),
    ).fit(rows)
    del rows
    gc.collect()
    t = stage("fit", t)
    budget = _budget(model)
    n, n_empty = model.n_articles_, model.n_empty_
    enter("save")
    model.save(model_dir)
    del model
    gc.collect()
    if config["trim"]:
        # The fit frees millions of small strings; glibc keeps the holes unless trimmed (a
        # data team fitting and precomputing in two commands gets this from the exit).
        _trim_heap()
    t = stage("save", t)
    enter("precompute")
    summary = None
    if config["precompute"]:
        summary = precompute(
            str(model_dir),
            out,
            format=config["format"],
            # inline: one process, whose index scores each pair once on both cores
            n_jobs=1 if config["backend"] == "inline" else config["jobs"],
            backend=None if config["backend"] == "inline" else config["backend"],
            shard_size=config["shard_size"],
            progress=config["progress"],
        )
    t = stage("precompute", t)
    enter("done")
    return {
        "n": n,
        "n_empty_rows": n_empty,
        "seconds": times,
        "total_s": t - start,
        "child_vmhwm_mib": _status_kib("self", "VmHWM") / 1024,
        "child_rss_after_mib": rss_after,
        "budget": budget,
        "empty_lists": None if summary is None else summary.n_empty_lists,
        "shards": None if summary is None else summary.shards,
        "output_bytes": _size(out) if out.exists() else 0,
        "model_bytes": _size(model_dir),
    }


# ------------------------------------------------------------------------------ parent side


def _uptime() -> str:
    """The load averages, as ``uptime`` prints them."""
    with open("/proc/loadavg", encoding="ascii") as handle:
        return "load average " + ", ".join(handle.read().split()[:3])


def _machine() -> str:
    try:
        sys.path.insert(0, str(HERE))
        from run import _machine as machine

        text = machine()
    except ImportError:  # run.py needs the bench extra's imports (numpy, scipy)
        import platform

        text = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            total = int(handle.readline().split()[1]) / 2**20
        text += f", {total:.0f} GiB RAM"
    except (OSError, ValueError):
        pass
    return text


def _generate(path: Path, n: int, seed: int) -> float:
    """Write the calibrated corpus to ``path``; return the seconds it took."""
    sys.path.insert(0, str(HERE))
    from corpus import write_jsonl

    start = time.perf_counter()
    write_jsonl(path, n, seed=seed, n_sections=10, years=10)
    return time.perf_counter() - start


def _report(result: dict[str, Any]) -> None:
    n, secs = result["n"], result["seconds"]
    fit_pre = secs["fit"] + secs["precompute"]
    print(
        f"articles: {n:,} ({result['n_empty_rows']} with no indexable text), "
        f"{result['shards']} shards, {result['empty_lists']} empty lists"
    )
    cpu = result["tree_cpu_s"]
    print("stage         wall s   articles/s   CPU s (process tree)")
    for name in ("read", "fit", "save", "precompute"):
        rate = n / max(secs[name], 1e-9)
        print(f"{name:<12} {secs[name]:7.1f}   {rate:10,.0f}   {cpu.get(name, 0.0):7.1f}")
    print(
        f"fit + precompute {fit_pre:8.1f} s ({fit_pre / 60:.1f} min); read + fit + save + "
        f"precompute {result['total_s']:8.1f} s ({result['total_s'] / 60:.1f} min), "
        f"{n / result['total_s']:,.0f} articles/s"
    )
    workers = result["worker_vmhwm_mib"]
    print(
        f"peak RSS: child VmHWM {result['child_vmhwm_mib']:,.0f} MiB; descendants VmHWM "
        f"{', '.join(f'{w:,.0f}' for w in workers[:4]) or '-'} MiB "
        f"({len(workers)} processes: stemmer, loky workers, resource trackers)"
    )
    after = result["child_rss_after_mib"]
    print(
        "child RSS after each stage (MiB): " + ", ".join(f"{k} {v:,.0f}" for k, v in after.items())
    )
    print(
        "process tree peak per stage (MiB, sampled): "
        + "; ".join(
            f"{k} rss {v['tree_rss_mib']:,.0f} / pss {v['tree_pss_mib']:,.0f} "
            f"({v['processes']:.0f} procs)"
            for k, v in result["tree_peaks"].items()
            if k != "start"
        )
    )
    b = result["budget"]
    print(
        f"memory budget: matrix {b['matrix_mib']:,.0f} MiB (data+indices+indptr, "
        f"{b['nnz']:,} non-zeros, {b['n_terms']:,} terms); inverted float32 copies "
        f"~{b['inverted_est_mib']:,.0f} MiB per scoring process (all 10 sections)"
    )
    print(
        f"output: {result['output_bytes'] / MIB:,.0f} MiB; saved model: "
        f"{result['model_bytes'] / MIB:,.0f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="articles to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--corpus",
        type=Path,
        help="JSONL corpus: reused if it exists, "
        "else generated there and kept (default: a temp file)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where the model and output go (default: a temp directory, removed afterwards)",
    )
    parser.add_argument("--format", default="sqlite", choices=("sqlite", "jsonl"))
    parser.add_argument(
        "--backend",
        default="inline",
        choices=("inline", "fork", "loky", "threading"),
        help="precompute: inline = one process, each pair scored once on both cores (default); "
        "fork = the same pass, then --jobs forked workers write the lists",
    )
    parser.add_argument("--jobs", type=int, default=2, help="fit and precompute n_jobs")
    parser.add_argument("--shard-size", type=int, default=10_000)
    parser.add_argument("--max-age", type=float, default=730.0, help="window in days")
    parser.add_argument("--interval", type=float, default=0.5, help="memory sample period")
    parser.add_argument("--progress", action="store_true", help="precompute progress lines")
    parser.add_argument(
        "--no-trim", action="store_true", help="skip malloc_trim between fit and precompute"
    )
    parser.add_argument(
        "--fit-only", action="store_true", help="stop after fit + save (memory studies)"
    )
    parser.add_argument(
        "--read-all",
        action="store_true",
        help="read the corpus into a list of dicts before the fit (default: streamed)",
    )
    parser.add_argument(
        "--classic",
        action="store_true",
        help="the fast model: ngram_range=(1, 1), idf_power=1.0, feedback=0",
    )
    args = parser.parse_args(argv)

    print(f"machine: {_machine()}")
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    print(f"command: python benchmarks/million.py {shown}")
    print(f"before: {_uptime()}")
    with tempfile.TemporaryDirectory(prefix="million-", dir=args.workdir) as tmp:
        corpus = args.corpus or Path(tmp) / "corpus.jsonl"
        if corpus.exists():
            print(f"corpus: reusing {corpus} ({corpus.stat().st_size / MIB:,.0f} MiB)")
        else:
            seconds = _generate(corpus, args.n, args.seed)
            print(
                f"corpus: generated {args.n:,} articles in {seconds:.1f} s "
                f"({corpus.stat().st_size / MIB:,.0f} MiB; not part of the run)"
            )
        stage_file = Path(tmp) / "stage"
        config = {
            "corpus": str(corpus),
            "work": tmp,
            "format": args.format,
            "backend": args.backend,
            "jobs": args.jobs,
            "shard_size": args.shard_size,
            "max_age": args.max_age,
            "progress": args.progress,
            "trim": not args.no_trim,
            "precompute": not args.fit_only,
            "classic": args.classic,
            "read_all": args.read_all,
            "stage_file": str(stage_file),
        }
        print(
            f"run: RelatedArticles(section_policy='same', max_age={args.max_age:g}, "
            f"n_jobs={args.jobs}) + save + precompute(model_dir, format={args.format!r}, "
            + (
                "n_jobs=1 [inline]"
                if args.backend == "inline"
                else f"backend={args.backend!r}, n_jobs={args.jobs}"
            )
            + f", shard_size={args.shard_size})"
            + (" [--fit-only: precompute skipped]" if args.fit_only else "")
            + (
                " [--read-all: the file read into a list first]"
                if args.read_all
                else " [the fit reads the file line by line: reading is in the fit's time]"
            )
            + (
                " [--classic: ngram_range=(1, 1), idf_power=1.0, feedback=0]"
                if args.classic
                else ""
            )
        )
        code = (
            f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import million; "
            f"print(json.dumps(million.run_child({config!r})))"
        )
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        sampler = TreeSampler(child.pid, stage_file, args.interval)
        sampler.start()
        stdout, _ = child.communicate()
        sampler.stop()
        wall = time.perf_counter() - start
        print(f"after: {_uptime()}")
        if child.returncode != 0:
            print(
                f"child failed with exit code {child.returncode} after {wall:.0f} s "
                "(-9: killed, e.g. by the OOM killer)"
            )
            return 1
        result = json.loads(stdout.strip().splitlines()[-1])
        workers = [kib / 1024 for kib in sampler.hwm_kib.values() if kib]
        result["worker_vmhwm_mib"] = sorted(workers, reverse=True)
        result["tree_peaks"] = {k: v for k, v in sampler.peaks.items() if k != "done"}
        result["tree_cpu_s"] = sampler.stage_cpu()
        _report(result)
        print(f"child wall (with imports) {wall:.1f} s")
        print(f"json: {json.dumps(result)}")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
