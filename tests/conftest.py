"""Shared fixtures: small corpora that always carry the nasty rows.

Every corpus here includes, like pynndescent's fixtures: an empty article, a whitespace-only
one, two identical ones (a syndicated copy), an HTML-only one, a non-Latin one, and a section
with a single article.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

#: Seed for every random fixture; widen in a nightly job with RELATEDNESS_TEST_SEED=0..99.
SEED = int(os.environ.get("RELATEDNESS_TEST_SEED", "42"))


#: The classic model (words only, idf weights, no feedback): tests that pin a rule against
#: hand-computed cosines fit with these; the tuned defaults have tests of their own.
CLASSIC = {"ngram_range": (1, 1), "idf_power": 1.0, "feedback": 0}


@pytest.fixture
def all_pairs_calls(monkeypatch) -> list[int]:
    """The row count of every ``engine.kernels.all_pairs_topk`` call from here on (each still runs).

    Skips the test when numba is not installed (the kernel is never called then).
    """
    kernels = pytest.importorskip("relatedness.engine.kernels")
    if not kernels.NUMBA_AVAILABLE:
        pytest.skip("numba is not installed")
    # The pair-once path is off by default (slower on real text): these tests turn it on.
    from relatedness.engine import SimilarityIndex

    monkeypatch.setattr(SimilarityIndex, "pair_once", True)
    calls: list[int] = []
    original = kernels.all_pairs_topk

    def counting(*args, **kwargs):
        calls.append(args[0].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(kernels, "all_pairs_topk", counting)
    return calls


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data; skip the test cleanly when it is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{name} not available (../shared/data is absent)")
    return path


NEWS = [
    # politics: a small cluster with a syndicated copy
    ("p1", "politics", "2024-03-01", "Parliament votes on budget",
     "Parliament voted on the budget after a long debate. The finance minister defended tax "
     "cuts and spending on schools."),
    ("p2", "politics", "2024-03-02", "Budget vote: minister defends tax cuts",
     "The finance minister defended the budget and its tax cuts before parliament voted."),
    ("p3", "politics", "2024-03-05", "Election campaign opens",
     "The election campaign opened with rallies. Parties promised tax cuts and new schools."),
    ("p4", "politics", "2024-03-06", "Budget vote: minister defends tax cuts",
     "The finance minister defended the budget and its tax cuts before parliament voted."),
    # business
    ("b1", "business", "2024-02-10", "Bank holds interest rates",
     "The central bank held interest rates at four percent, citing inflation and growth."),
    ("b2", "business", "2024-02-11", "Rates on hold as inflation eases",
     "Interest rates stay on hold while inflation eases, the central bank said."),
    ("b3", "business", None, "Carmaker profits rise",
     "The carmaker reported rising profits as sales of electric cars grew."),
    # sport
    ("s1", "sport", "2024-01-20", "Team wins cup final",
     "The team won the cup final after extra time, the coach praised the players."),
    ("s2", "sport", "2024-01-21", "Coach praises cup winners",
     "The coach praised the players after the cup final win in extra time."),
    # a one-article section
    ("w1", "weather", "2024-01-05", "Storm brings snow",
     "A storm brought heavy snow and closed roads and schools across the north."),
    # nasty rows
    ("e1", "politics", "2024-03-07", "", ""),
    ("e2", "business", "2024-03-07", "   ", "\n\t\u00a0\u200b\ufeff"),
    ("h1", "sport", "2024-01-22", "", "<script>var x = 1;</script><style>.a{}</style>"),
    ("r1", "culture", "2024-02-01", "Московский театр открыл сезон",
     "Московский театр открыл новый сезон премьерой оперы."),
]


def news_rows() -> list[dict]:
    """The fixture corpus as dicts (fresh copies each call)."""
    return [
        {"id": i, "section": s, "published": d, "title": t, "body": b}
        for i, s, d, t, b in NEWS
    ]


@pytest.fixture
def rows() -> list[dict]:
    return news_rows()


@pytest.fixture
def fitted(rows):
    from relatedness import RelatedArticles

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(k=3, min_df=1).fit(rows)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


WORDS = [
    "budget", "tax", "school", "vote", "rate", "bank", "inflation", "growth", "cup", "final",
    "coach", "team", "storm", "snow", "road", "election", "party", "minister", "profit", "sale",
    "car", "theatre", "opera", "season", "court", "judge", "police", "fire", "health", "hospital",
    "doctor", "vaccine", "market", "share", "price", "oil", "gas", "energy", "climate",
]


def random_corpus(rng: np.random.Generator, n: int, n_sections: int = 3) -> list[dict]:
    """Random news-like rows with ties built in: repeated bodies, empties, shared dates."""
    rows = []
    for i in range(n):
        length = int(rng.integers(0, 12))
        body = " ".join(rng.choice(WORDS, size=length))
        if i and rng.random() < 0.15:  # a copy of an earlier article: exact score ties
            body = rows[int(rng.integers(0, i))]["body"]
        rows.append({
            "id": f"a{i:03d}",
            "title": " ".join(rng.choice(WORDS, size=int(rng.integers(0, 4)))),
            "body": body,
            "section": f"s{int(rng.integers(0, n_sections))}",
            "published": None if rng.random() < 0.2 else f"2024-01-{int(rng.integers(1, 4)):02d}",
        })
    return rows
