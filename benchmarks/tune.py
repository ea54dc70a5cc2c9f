"""The tuning grid behind relatedness' defaults, with 5-fold numbers (issue 6).

Fits one model per grid point on all articles (labels are never used for fitting), builds
every article's top-10 list with ``section_policy="any"`` (no section hint), and scores the
lists against the section labels with :func:`relatedness.evaluate.grid_search`: the
5-fold "nested" numbers choose the best point on 4/5 of the articles' lists and score it on
the remaining fifth, five times.

Usage::

    python benchmarks/tune.py ../shared/data/bbc.jsonl            # the full grid (~15 min)
    python benchmarks/tune.py ../shared/data/bbc.jsonl --quick    # 8 points around the defaults
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

#: One factor at a time would miss interactions (feedback works best with bigrams and a
#: flatter idf), so the main factors are crossed.
GRID = {
    "title_weight": [0.0, 0.5],
    "ngram_range": [(1, 1), (1, 2)],
    "idf_power": [0.25, 0.5, 1.0],
    "min_df": [2, 3],
    "feedback": [0, 3],
}

#: Around the chosen vector settings: how many neighbours and how much weight.
FEEDBACK_GRID = {
    "title_weight": [0.0],
    "ngram_range": [(1, 2)],
    "idf_power": [0.5],
    "min_df": [3],
    "feedback": [1, 2, 3, 5],
    "feedback_weight": [1.0, 1.5, 2.0],
}

QUICK_GRID = {
    "ngram_range": [(1, 1), (1, 2)],
    "idf_power": [0.5, 1.0],
    "feedback": [0, 3],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("articles", help="a labelled corpus (JSON Lines with 'section')")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="8 points around the defaults")
    parser.add_argument("--json", default=None, help="also write the table here")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    from relatedness.articles import load_articles
    from relatedness.evaluate import grid_search, grid_table
    from relatedness.evaluate.experiments import expand_grid

    articles = load_articles(args.articles)
    if args.quick:
        points = expand_grid(QUICK_GRID)
    else:
        points = expand_grid(GRID)
        points += [p for p in expand_grid(FEEDBACK_GRID) if p not in points]
    print(f"command: python benchmarks/tune.py {' '.join(argv or sys.argv[1:])}")
    print(f"{len(articles)} articles, {len(points)} grid points, k={args.k}, "
          'section_policy="any", other parameters at their defaults\n')
    start = time.perf_counter()
    result = grid_search(articles, points, k=args.k, label="section", progress=print)
    table = grid_table(result)
    nested = result["nested"]
    print(f"\n{time.perf_counter() - start:.0f} s. Best 15 by 5-fold mean P@{args.k}:")
    columns = ["name", "precision_at_k", "map_at_k", "cv_mean_precision_at_k",
               "cv_std_precision_at_k", "cv_mean_map_at_k", "chosen_in_folds"]
    print(table[columns].head(15).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    names = [result["points"][c]["name"] for c in nested["chosen"]]
    print("\nnested 5-fold (choose on 4/5, score on 1/5): "
          f"P@{args.k} {nested['mean']['precision_at_k']:.4f}, "
          f"MAP@{args.k} {nested['mean']['map_at_k']:.4f}; chosen per fold: {names}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"table": table.to_dict(orient="records"), "nested": nested}, out,
                      default=str, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
