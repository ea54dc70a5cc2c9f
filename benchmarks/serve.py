"""The HTTP service under load: N concurrent clients over loopback against ``relatedness serve``.

Usage::

    python benchmarks/serve.py --corpus ../shared/data/bbc.jsonl            # BBC, 8 clients
    python benchmarks/serve.py --n 100000 --requests 8000                  # synthetic 100k
    python benchmarks/serve.py --model DIR --clients 16 --workers 2

The model is fitted (or read from ``--model``) and saved, then served by ``relatedness serve`` in
a subprocess: the deployment path, memory-mapped and warmed. Each client is a thread with one
keep-alive connection (``http.client``, the lightest client in the standard library) sending a
bounded number of requests, 90% ``GET /related/{id}?k=K`` for random ids and 10% ``POST
/related?k=K`` with a random article's title and first paragraph. Every answer must be 200; the
GET answers are compared with the in-process ``model.related`` lists (a sample, ``--check``).
Beside it, the same request mix called in-process on the same model, one at a time.

Prints p50/p90/p99/max latency, requests/s and errors for both, as a table and as one JSON line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from relatedness import RelatedArticles  # noqa: E402
from relatedness.articles import iter_jsonl  # noqa: E402


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99),
            "max_ms": ordered[-1] * 1000, "mean_ms": statistics.fmean(ordered) * 1000}  # fmt: skip


def _plan(model: RelatedArticles, articles: list[dict], n: int, seed: int) -> list[tuple]:
    """The bounded request mix: ("GET", id) or ("POST", article), 90/10."""
    rng = random.Random(seed)
    plan = []
    for _ in range(n):
        if rng.random() < 0.9:
            plan.append(("GET", model.ids_[rng.randrange(model.n_articles_)]))
        else:
            source = articles[rng.randrange(len(articles))]
            body = str(source.get("body", "")).split("\n\n")[0]
            plan.append(("POST", {"title": source.get("title", ""), "body": body,
                                  "section": source.get("section", "")}))  # fmt: skip
    return plan


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(port: int, plan: list[tuple], k: int, out: dict[str, Any]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies, errors, answers = [], [], {}
    for method, what in plan:
        started = time.perf_counter()
        try:
            if method == "GET":
                connection.request("GET", f"/related/{quote(str(what), safe='')}?k={k}")
            else:
                connection.request("POST", f"/related?k={k}", body=json.dumps(what),
                                   headers={"Content-Type": "application/json"})  # fmt: skip
            response = connection.getresponse()
            body = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                errors.append(f"{method} {response.status}")
            elif method == "GET" and what not in answers:
                answers[what] = json.loads(body)["related"]
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{method} {type(exc).__name__}")
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.close()
    out.update(latencies=latencies, errors=errors, answers=answers)


def _serve(model_dir: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "relatedness.cli", "serve", "--model", str(model_dir),
         "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None:
            msg = f"relatedness serve exited with {process.returncode}"
            raise SystemExit(msg)
        time.sleep(0.2)
    process.kill()
    msg = "relatedness serve did not answer /healthz"
    raise SystemExit(msg)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", type=Path, help="a JSON Lines corpus to fit")
    source.add_argument("--n", type=int, help="fit a synthetic corpus of this size")
    parser.add_argument("--model", type=Path, help="serve this saved model (with --corpus: "
                        "its articles for the POST bodies)")  # fmt: skip
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=4000, help="in all (default 4000)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", type=int, default=200, help="GET answers compared (default 200)")
    args = parser.parse_args(argv)

    if args.corpus is not None:
        articles = list(iter_jsonl(args.corpus))
        label = args.corpus.name
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from corpus import generate

        articles = list(generate(args.n, seed=args.seed))
        label = f"synthetic n={args.n}"
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is not None:
            model_dir = args.model
        else:
            started = time.perf_counter()
            fitted = RelatedArticles().fit(articles)
            print(f"fit {len(articles)} articles: {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)  # fmt: skip
            model_dir = Path(tmp) / "model"
            fitted.save(model_dir)
            del fitted
        model = RelatedArticles.load(model_dir, mmap=True).warm_up()
        plan = _plan(model, articles, args.requests, args.seed)

        # In-process, one call at a time: the floor the service adds its cost to.
        latencies = []
        for method, what in plan:
            started = time.perf_counter()
            if method == "GET":
                json.dumps([r.to_dict() for r in model.related(what, k=args.k)])
            else:
                json.dumps([r.to_dict() for r in model.related_to(what, k=args.k)])
            latencies.append(time.perf_counter() - started)
        in_process = {**_percentiles(latencies), "req_per_s": len(plan) / sum(latencies)}

        port = _free_port()
        server = _serve(model_dir, port, args.workers)
        try:
            _client(port, plan[: min(50, len(plan))], args.k, {})  # warm the connections' path
            shares = [plan[i :: args.clients] for i in range(args.clients)]
            outs: list[dict[str, Any]] = [{} for _ in shares]
            threads = [threading.Thread(target=_client, args=(port, share, args.k, out))
                       for share, out in zip(shares, outs, strict=True)]  # fmt: skip
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        all_latencies = [x for out in outs for x in out["latencies"]]
        errors = [e for out in outs for e in out["errors"]]
        answers = {i: a for out in outs for i, a in out["answers"].items()}
        checked = list(answers)[: args.check]
        wrong = [i for i in checked
                 if answers[i] != [r.to_dict() for r in model.related(i, k=args.k)]]  # fmt: skip
        served = {**_percentiles(all_latencies), "req_per_s": len(all_latencies) / wall}

    result = {
        "corpus": label, "n_articles": model.n_articles_, "clients": args.clients,
        "workers": args.workers, "requests": len(plan), "k": args.k,
        "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
        "checked": len(checked), "wrong_lists": len(wrong),
        "served": served, "in_process": in_process,
    }  # fmt: skip
    print(f"\n{label}: {model.n_articles_} articles, {len(plan)} requests (90% GET, 10% POST), "
          f"k={args.k}, {args.clients} clients, {args.workers} worker(s)")  # fmt: skip
    print("| path | p50 ms | p90 ms | p99 ms | max ms | req/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in (("HTTP, loopback", served), ("in-process, one at a time", in_process)):
        print(f"| {name} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | {row['p99_ms']:.2f} | "
              f"{row['max_ms']:.1f} | {row['req_per_s']:.0f} |")  # fmt: skip
    print(f"errors: {len(errors)}; lists checked against model.related: {len(checked)}, "
          f"different: {len(wrong)}")  # fmt: skip
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
