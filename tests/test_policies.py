"""Issue 4: newsroom policies, each a parameter of RelatedArticles.

Every policy is checked on a small hand-built corpus with a known answer, then all of them
together by hypothesis properties over random corpora. Each policy must apply identically to
``related``, ``related_to``, ``related_many`` and ``iter_related``, be a ``relatedness fit``
flag, and survive ``save``/``load``.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import io
import json
import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from relatedness import InvalidParameterError, Related, RelatedArticles, UnknownArticleError
from relatedness.articles import read_jsonl
from relatedness.cli import EXIT_OK, main
from relatedness.store import read_manifest

from .conftest import CLASSIC, news_rows, random_corpus, shared_file


def fit(rows, **params) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(**{**CLASSIC, "min_df": 1, **params}).fit(rows)


def ids(results: list[Related]) -> list:
    return [r.id for r in results]


def scores(results: list[Related]) -> dict:
    return {r.id: r.score for r in results}


def row(article_id, section, published, body, **extra) -> dict:
    return {"id": article_id, "section": section, "published": published, "body": body, **extra}


def cosines(model: RelatedArticles) -> np.ndarray:
    """Cosine of every pair of fitted articles (rows of the index are L2-normalised)."""
    x = sp.csr_matrix(model.index_.matrix, dtype=np.float64)
    return (x @ x.T).toarray()


def roundtrip(model: RelatedArticles, tmp_path) -> RelatedArticles:
    model.save(tmp_path / "model")
    return RelatedArticles.load(tmp_path / "model")


# ------------------------------------------------------------------------------ fixtures


def time_rows(section: str = "weather", prefix: str = "") -> list[dict]:
    """A query dated 2024-01-11 and candidates at known age gaps (all cosines < 0.8)."""
    return [
        row(f"{prefix}q", section, "2024-01-11", "storm snow roads north"),
        row(f"{prefix}older10", section, "2024-01-01", "storm snow roads wind"),
        row(f"{prefix}older3", section, "2024-01-08", "storm roads ice"),
        row(f"{prefix}same_day", section, "2024-01-11", "snow north rain"),
        row(f"{prefix}newer10", section, "2024-01-21", "storm north flood"),
        row(f"{prefix}undated", section, None, "snow roads fog"),
    ]


TIME_CANDIDATES = {"older10", "older3", "same_day", "newer10", "undated"}


def dup_rows() -> list[dict]:
    """q and its identical copy; c1/c1b near-copies of each other (cosine >= 0.8), < 0.8 to q."""
    return [
        row("q", "x", None, "storm snow closed roads north wind"),
        row("copy", "x", None, "storm snow closed roads north wind"),
        row("c1", "x", None, "storm snow roads ice", title="Ice on roads"),
        row("c1b", "x", None, "storm snow roads ice", title="Snow"),
        row("c2", "x", None, "north wind rain"),
        row("z", "x", None, "cup final"),
    ]


def ladder_rows() -> list[dict]:
    """q with six same-section stories of distinct relatedness, and stories in two sections."""
    return [
        row("q", "x", "2024-01-10", "storm snow roads north wind ice"),
        row("x1", "x", "2024-01-09", "storm snow roads north fog"),
        row("x2", "x", "2024-01-08", "storm snow roads rain"),
        row("x3", "x", "2024-01-07", "storm snow coast"),
        row("x4", "x", "2024-01-06", "storm police court"),
        row("x5", "x", "2024-01-05", "ice hockey final"),
        row("y1", "y", "2024-01-09", "storm snow roads closed"),
        row("y2", "y", "2024-01-08", "north wind farm energy"),
        row("z1", "z", "2024-01-07", "snow ski resort"),
        row("z2", "z", "2024-01-06", "budget vote tax"),
    ]


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_age", 0),
        ("max_age", -1.0),
        ("max_age", "7"),
        ("recency_half_life", 0),
        ("recency_half_life", float("nan")),
        ("section_overrides", {"politics": {"half_life": 3}}),
        ("section_overrides", {"politics": {"max_age": 0}}),
        ("section_overrides", {"politics": 14}),
        ("allow_newer", 1),
        ("duplicate_threshold", 0),
        ("duplicate_threshold", 1.5),
        ("diversity", 1.5),
        ("diversity", -0.1),
        ("max_per_section", 0),
        ("max_per_section", 1.5),
        ("exclude_ids", "p1"),
        ("exclude_ids", [1.5]),
        ("exclude_sections", "sport"),
        ("exclude_sections", [1]),
        ("pinned", {"a": "b"}),
        ("pinned", {"a": [None]}),
        ("pinned", ["a", "b"]),
        ("blocked_pairs", [("a",)]),
        ("blocked_pairs", [("a", "b", "c")]),
        ("blocked_pairs", ("a", "b")),
        ("fallback", ("sideways",)),
        ("fallback", "any"),
        ("tag_weight", -0.5),
        ("tag_weight", None),
    ],
)
def test_bad_policy_parameter_raises_at_fit_naming_it(name, value):
    model = RelatedArticles(**{name: value})  # __init__ only stores
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        model.fit(news_rows())


def test_good_policy_parameters_are_accepted():
    model = fit(
        news_rows(),
        max_age=30,
        recency_half_life=7.5,
        section_overrides={"politics": {"max_age": None, "recency_half_life": 14}},
        allow_newer=False,
        duplicate_threshold=1.0,
        diversity=1.0,
        max_per_section=1,
        exclude_ids=["p1", "nope"],
        exclude_sections={"sport"},
        pinned={"p2": ["b1"], "unknown": ["p1"]},
        blocked_pairs=[["p1", "p3"], ("b1", "unknown")],
        fallback=("same_section", "any", "relax_time", "latest"),
        tag_weight=0.0,
    )
    assert model.n_articles_ == len(news_rows())


# ------------------------------------------------------------------------------ time rules


def test_max_age_drops_older_stories_beyond_the_window_and_keeps_the_boundary():
    got = set(ids(fit(time_rows(), k=10, duplicate_threshold=None, max_age=3).related("q")))
    assert "older10" not in got
    assert {"older3", "same_day", "undated"} <= got  # older3 is exactly 3 days older: kept
    tighter = set(ids(fit(time_rows(), k=10, duplicate_threshold=None, max_age=2.5).related("q")))
    assert "older3" not in tighter and "undated" in tighter


def test_max_age_also_bounds_newer_stories():
    got = ids(fit(time_rows(), k=10, duplicate_threshold=None, max_age=3).related("q"))
    assert "newer10" not in got


def test_allow_newer_false_drops_newer_stories_only():
    base = set(ids(fit(time_rows(), k=10, duplicate_threshold=None).related("q")))
    assert base == TIME_CANDIDATES
    archive = fit(time_rows(), k=10, duplicate_threshold=None, allow_newer=False)
    assert set(ids(archive.related("q"))) == TIME_CANDIDATES - {"newer10"}  # same day is kept
    # The oldest dated story may only link to the undated one.
    assert set(ids(archive.related("older10"))) <= {"undated"}
    assert "q" in ids(archive.related("newer10"))


def test_half_life_halves_the_score_at_one_half_life_exactly():
    base = scores(fit(time_rows(), k=10, duplicate_threshold=None).related("q"))
    decayed = fit(time_rows(), k=10, duplicate_threshold=None, recency_half_life=10)
    got = decayed.related("q")
    ratio = {i: s / base[i] for i, s in scores(got).items()}
    assert ratio["older10"] == pytest.approx(0.5, abs=1e-12)
    assert ratio["newer10"] == pytest.approx(0.5, abs=1e-12)  # decay is symmetric in time
    assert ratio["older3"] == pytest.approx(0.5**0.3, abs=1e-12)
    assert ratio["same_day"] == 1.0
    assert ratio["undated"] == 1.0
    # The list is ranked by the decayed score.
    assert [r.score for r in got] == sorted((r.score for r in got), reverse=True)


def test_undated_article_is_exempt_as_query_and_as_candidate():
    plain = fit(time_rows(), k=10, duplicate_threshold=None)
    strict = fit(
        time_rows(),
        k=10,
        duplicate_threshold=None,
        max_age=1,
        allow_newer=False,
        recency_half_life=1,
    )
    assert strict.related("undated") == plain.related("undated")  # as the query
    assert ids(plain.related("undated"))  # (not trivially empty)
    got = scores(strict.related("q"))  # as a candidate of a dated query
    assert got["undated"] == scores(plain.related("q"))["undated"]
    assert set(got) == {"same_day", "undated"}


def test_section_override_changes_its_section_only():
    rows = time_rows("weather", "w-") + time_rows("politics", "p-")
    base = fit(rows, k=10, duplicate_threshold=None)
    model = fit(
        rows,
        k=10,
        duplicate_threshold=None,
        section_overrides={"politics": {"recency_half_life": 10}},
    )
    assert model.related("w-q") == base.related("w-q")
    got, before = scores(model.related("p-q")), scores(base.related("p-q"))
    assert got["p-older10"] / before["p-older10"] == pytest.approx(0.5, abs=1e-12)
    assert got["p-same_day"] == before["p-same_day"]


def test_section_override_none_turns_a_default_rule_off():
    rows = time_rows("weather", "w-") + time_rows("politics", "p-")
    model = fit(
        rows,
        k=10,
        duplicate_threshold=None,
        max_age=3,
        recency_half_life=10,
        section_overrides={"weather": {"max_age": None, "recency_half_life": None}},
    )
    plain = fit(rows, k=10, duplicate_threshold=None)
    assert model.related("w-q") == plain.related("w-q")  # both rules off for weather
    p = scores(model.related("p-q"))
    assert "p-older10" not in p  # politics keeps the window
    assert p["p-older3"] == pytest.approx(scores(plain.related("p-q"))["p-older3"] * 0.5**0.3)


def test_section_override_follows_the_section_of_the_box_not_of_the_candidate():
    rows = time_rows("weather", "w-") + time_rows("politics", "p-")
    params = {"k": 20, "duplicate_threshold": None, "section_policy": "any"}
    base = fit(rows, **params)
    model = fit(rows, **params, section_overrides={"politics": {"recency_half_life": 10}})
    assert model.related("w-q") == base.related("w-q")  # politics candidates undecayed here
    got, before = scores(model.related("p-q")), scores(base.related("p-q"))
    assert got["w-older10"] / before["w-older10"] == pytest.approx(0.5, abs=1e-12)


# ------------------------------------------------------------------------------ duplicates


def test_default_threshold_drops_the_copy_of_the_article_both_ways():
    model = fit(dup_rows(), k=10)
    assert model.duplicate_threshold == 0.8
    assert "copy" not in ids(model.related("q"))
    assert "q" not in ids(model.related("copy"))
    assert ids(model.related("q")) == ids(model.related("copy"))


def test_a_list_holds_one_story_of_a_near_duplicate_pair():
    model = fit(dup_rows(), k=10)
    cos = cosines(model)
    c1, c1b = model.ids_.index("c1"), model.ids_.index("c1b")
    assert cos[c1, c1b] >= 0.8 > cos[0, c1]
    got = ids(model.related("q"))
    assert len({"c1", "c1b"} & set(got)) == 1
    assert "c2" in got


def test_threshold_none_keeps_copies():
    model = fit(dup_rows(), k=10, duplicate_threshold=None)
    got = ids(model.related("q"))
    assert got[0] == "copy"
    assert {"c1", "c1b", "c2"} <= set(got)


def test_duplicate_threshold_is_at_or_above():
    model = fit(dup_rows(), k=10, duplicate_threshold=None)
    cosine = model.explain("q", "c2").cosine
    at = fit(dup_rows(), k=10, duplicate_threshold=cosine)
    above = fit(dup_rows(), k=10, duplicate_threshold=float(np.nextafter(cosine, 2.0)))
    assert "c2" not in ids(at.related("q"))
    assert "c2" in ids(above.related("q"))


def test_pinned_story_counts_for_the_duplicate_rule():
    model = fit(dup_rows(), k=10, pinned={"q": ["c1b"]})
    got = model.related("q")
    assert got[0].id == "c1b" and got[0].pinned
    assert "c1" not in ids(got)


# ------------------------------------------------------------------------------ diversity, quota


def _mmr(candidates: list, relevance: dict, sim, diversity: float, k: int) -> list:
    chosen: list = []
    remaining = list(candidates)
    while remaining and len(chosen) < k:
        if chosen:
            values = [
                (1 - diversity) * relevance[c] - diversity * max(sim(c, s) for s in chosen)
                for c in remaining
            ]
            pick = remaining[int(np.argmax(values))]
        else:
            pick = remaining[0]
        remaining.remove(pick)
        chosen.append(pick)
    return chosen


def test_diversity_moves_dissimilar_stories_up_by_mmr():
    rows = [
        row("q", "x", None, "storm snow roads north"),
        row("a1", "x", None, "storm snow roads"),
        row("a2", "x", None, "storm snow roads ice"),  # close to a1
        row("b", "x", None, "north fog rain"),  # shares little with q, nothing with a1
        row("z", "x", None, "cup final coach"),
    ]
    plain = fit(rows, k=3, duplicate_threshold=None).related("q")
    diverse = fit(rows, k=3, duplicate_threshold=None, diversity=0.5)
    got = diverse.related("q")
    assert ids(plain) == ["a1", "a2", "b"]
    assert ids(got) == ["a1", "b", "a2"]
    # Same stories, same (ranking) scores; only the order changed.
    assert scores(got) == scores(plain)
    relevance = scores(plain)
    expected = _mmr(ids(plain), relevance, lambda a, b: diverse.explain(a, b).cosine, 0.5, 3)
    assert ids(got) == expected


def test_diversity_zero_is_the_plain_greedy_ranking(rng):
    """No MMR: walk the full ranking best first, skipping near-duplicates of chosen stories."""
    rows = random_corpus(rng, 60)
    full = fit(rows, k=len(rows), duplicate_threshold=None)
    model = fit(rows, k=5, diversity=0.0)
    cos = cosines(model)
    at = {a: i for i, a in enumerate(model.ids_)}
    lists = model.related_many(model.ids_)
    for a, lst in lists.items():
        expected: list = []
        for b in ids(full.related(a)):
            if len(expected) == 5:
                break
            if cos[at[a], at[b]] < 0.8 and all(cos[at[b], at[c]] < 0.8 for c in expected):
                expected.append(b)
        assert ids(lst) == expected, a
    diverse = fit(rows, k=5, diversity=0.7).related_many(model.ids_)
    assert diverse != lists  # the parameter does act on this corpus


@pytest.mark.parametrize("diversity", [0.0, 0.3])
@pytest.mark.parametrize("threshold", [None, 0.8])
def test_regression_choosing_a_list_compared_the_whole_pool_pairwise(diversity, threshold):
    """The greedy pass once asked for the pool's full cosine matrix. A pool grows until the
    list fills (quotas, copies), up to the whole archive: 100k calibrated articles with
    diversity and max_per_section grew a 6 GiB process that never finished. Only each pick
    against the chosen stories (or, with diversity, each chosen story against the pool)
    is needed, and the choice must not change."""
    from relatedness.engine import postpass as policies

    rng = np.random.default_rng(7)
    n, k = 400, 10
    x = rng.random((n, 12)) ** 4
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    dense = x @ x.T
    asked = []

    def similarity(row, others):
        asked.append(len(others))
        return dense[row, np.asarray(others, dtype=np.int64)]

    pool = np.arange(1, n)
    scores = np.sort(rng.random(n - 1))[::-1]
    sections = rng.integers(0, 3, n)
    got = policies.select(
        pool, scores, k, similarity=similarity, duplicate_threshold=threshold,
        max_per_section=4, sections=sections, diversity=diversity, held=[0],
    )  # fmt: skip
    assert sum(asked) <= (k + 1) * n  # not n * n
    # Brute force: the same walk over the full matrix.
    chosen_pos, chosen, per = [0], [], {int(sections[0]): 1}
    remaining = list(range(1, n))
    while remaining and len(chosen) < k:
        if diversity and chosen_pos:
            mmr = [
                (1 - diversity) * scores[r - 1] - diversity * dense[r, chosen_pos].max()
                for r in remaining
            ]
            pick = remaining[int(np.argmax(mmr))]
        else:
            pick = remaining[0]
        remaining.remove(pick)
        if per.get(int(sections[pick]), 0) >= 4:
            continue
        if threshold is not None and dense[pick, chosen_pos].max() >= threshold:
            continue
        chosen.append(pick)
        chosen_pos.append(pick)
        per[int(sections[pick])] = per.get(int(sections[pick]), 0) + 1
    assert got[0] == chosen
    assert got[1] == [float(scores[p - 1]) for p in chosen]


def test_max_per_section_with_any_policy_still_fills_the_list():
    rows = ladder_rows()
    base = fit(rows, k=3, section_policy="any", duplicate_threshold=None).related("q")
    assert [r.section for r in base].count("x") >= 2
    got = fit(rows, k=3, section_policy="any", duplicate_threshold=None, max_per_section=1).related(
        "q"
    )
    assert len(got) == 3
    assert sorted(r.section for r in got) == ["x", "y", "z"]
    assert got[0].id == base[0].id


def test_max_per_section_two_with_prefer():
    got = fit(
        ladder_rows(), k=5, section_policy="prefer", duplicate_threshold=None, max_per_section=2
    ).related("q")
    sections = [r.section for r in got]
    assert len(got) == 5
    assert sections[:2] == ["x", "x"]
    assert max(collections.Counter(sections).values()) == 2


# ------------------------------------------------------------------------------ exclusions


def test_exclude_ids_never_appear_and_the_list_is_still_filled():
    rows = ladder_rows()
    base = ids(fit(rows, k=6, duplicate_threshold=None).related("q"))
    hidden = base[:2]
    model = fit(rows, k=3, duplicate_threshold=None, exclude_ids=tuple(hidden))
    assert ids(model.related("q")) == base[2:5]
    for article_id, lst in model.related_many(model.ids_).items():
        assert not set(hidden) & set(ids(lst)), article_id
    # An excluded story still has its own box.
    assert model.related(hidden[0])


def test_exclude_sections_never_appear_and_the_list_is_still_filled():
    rows = ladder_rows()
    base = fit(rows, k=10, section_policy="any", duplicate_threshold=None).related("q")
    model = fit(rows, k=4, section_policy="any", duplicate_threshold=None, exclude_sections=("y",))
    assert ids(model.related("q")) == [r.id for r in base if r.section != "y"][:4]
    for lst in model.related_many(model.ids_).values():
        assert all(r.section != "y" for r in lst)


def test_per_call_exclude_in_related_and_related_to():
    model = fit(ladder_rows(), k=3, duplicate_threshold=None)
    base = ids(model.related("q", k=6))
    assert ids(model.related("q", exclude=[base[0], "unknown"])) == base[1:4]
    assert ids(model.related("q", exclude=base[1])) == [base[0], *base[2:4]]
    text = "storm snow roads north wind ice"
    full = ids(model.related_to({"body": text, "section": "x"}, k=6))
    got = ids(model.related_to({"body": text, "section": "x"}, exclude=full[:2]))
    assert got == full[2:5]
    assert model.related("q") == model.related("q", exclude=[])  # nothing sticks


# ------------------------------------------------------------------------------ editorial


def test_pinned_first_flagged_and_counted_toward_k():
    rows = ladder_rows()
    model = fit(rows, k=3, duplicate_threshold=None, pinned={"q": ["z2", "x3"]})
    plain = fit(rows, k=3, duplicate_threshold=None)
    base = plain.related("q", k=6)
    got = model.related("q")
    assert ids(got) == ["z2", "x3", *[i for i in ids(base) if i != "x3"][:1]]
    assert [r.pinned for r in got] == [True, True, False]
    # A pinned story keeps its real score (z2 shares nothing with q).
    assert got[0].score == 0.0
    assert got[1].score == scores(base)["x3"]
    assert ids(model.related("q", k=1)) == ["z2"]
    # Pins belong to one box only.
    for article_id in model.ids_:
        if article_id != "q":
            assert model.related(article_id) == plain.related(article_id)


def test_pinned_that_is_excluded_or_removed_is_not_shown():
    rows = ladder_rows()
    plain = ids(fit(rows, k=6, duplicate_threshold=None).related("q"))
    params = {"k": 3, "duplicate_threshold": None, "pinned": {"q": ["z2", "x3", "y2"]}}
    excluded = fit(rows, **params, exclude_ids=("z2",))
    assert ids(excluded.related("q"))[:2] == ["x3", "y2"]
    rest = [i for i in plain if i != "x3"]
    assert ids(excluded.related("q", exclude=["x3"])) == ["y2", *rest[:2]]
    by_section = fit(rows, **params, exclude_sections=("z",))
    assert "z2" not in ids(by_section.related("q"))
    removed = fit(rows, **params).remove(["x3", "y2"])
    got = removed.related("q")
    assert ids(got) == ["z2", *[i for i in plain if i not in ("x3", "y2")][:2]]
    assert [r.pinned for r in got] == [True, False, False]


def test_pinned_applies_to_related_to_with_a_known_id():
    rows = ladder_rows()
    model = fit(rows, k=3, duplicate_threshold=None, pinned={"q": ["z2"]})
    got = model.related_to(rows[0])
    assert got == model.related("q")
    assert got[0].id == "z2" and got[0].pinned


def test_blocked_pairs_act_in_both_directions_and_lists_stay_full():
    rows = ladder_rows()
    plain = fit(rows, k=3, duplicate_threshold=None)
    base = ids(plain.related("q", k=6))
    for pair in [("q", base[0]), (base[0], "q")]:
        model = fit(rows, k=3, duplicate_threshold=None, blocked_pairs=[pair])
        assert ids(model.related("q")) == base[1:4]
        assert "q" not in ids(model.related(base[0]))
        assert "q" in ids(plain.related(base[0]))
        # Every other box is unchanged.
        for article_id in model.ids_:
            if article_id not in ("q", base[0]):
                assert model.related(article_id) == plain.related(article_id)


# ------------------------------------------------------------------------------ fallback


def lonely_rows() -> list[dict]:
    """A one-article section ("volcano") and a section whose stories share no words."""
    return [
        row("v1", "volcano", "2024-01-05", "volcano ash snow roads"),
        row("w1", "weather", "2024-01-04", "snow roads storm"),
        row("w2", "weather", "2024-01-03", "ash cloud flights"),
        row("g1", "misc", "2024-01-05", "budget vote"),
        row("g2", "misc", "2024-01-09", "cup final"),
        row("g3", "misc", None, "court judge"),
        row("g4", "misc", "2024-01-09", "opera season"),
        row("g5", "misc", "2024-01-02", "court ruling"),  # related to g3 only
    ]


def test_fallback_any_fills_a_one_article_section_from_other_sections():
    assert fit(lonely_rows(), k=3).related("v1") == []  # fallback=() returns fewer
    got = fit(lonely_rows(), k=3, fallback=("any",)).related("v1")
    assert ids(got) == ids(fit(lonely_rows(), k=3, section_policy="any").related("v1"))
    assert {r.section for r in got} == {"weather"} and len(got) == 2


def test_fallback_latest_gives_newest_same_section_stories_with_score_zero():
    model = fit(lonely_rows(), k=3, fallback=("latest",))
    got = model.related("g1")
    # Newest first; g2/g4 share a date (then by id); undated g3 is last.
    assert ids(got) == ["g2", "g4", "g5"]
    assert [r.score for r in got] == [0.0, 0.0, 0.0]
    assert not any(r.pinned for r in got)
    assert ids(model.related("g1", k=10)) == ["g2", "g4", "g5", "g3"]
    # Ranked stories come first, the newest others fill up after them.
    assert ids(model.related("g3")) == ["g5", "g2", "g4"]
    assert [r.score > 0 for r in model.related("g3")] == [True, False, False]
    assert model.related("v1") == []  # no other story in its section


def test_fallback_steps_run_in_order():
    model = fit(lonely_rows(), k=4, fallback=("any", "latest"))
    got = model.related("w2")
    assert ids(got)[0] == "v1"  # "any": shares "ash"
    assert [r.score > 0 for r in got] == [True, False, False, False][: len(got)]
    assert ids(got)[1:] == ["w1"]  # "latest": the only other weather story
    assert fit(lonely_rows(), k=4, fallback=("same_section",)).related_many(
        ["w2", "g1", "v1"]
    ) == fit(lonely_rows(), k=4).related_many(["w2", "g1", "v1"])


def test_fallback_relax_time_fills_from_outside_the_window():
    params = {"k": 10, "duplicate_threshold": None, "max_age": 3, "allow_newer": False}
    strict = ids(fit(time_rows(), **params).related("q"))
    relaxed = ids(fit(time_rows(), **params, fallback=("relax_time",)).related("q"))
    assert relaxed[: len(strict)] == strict
    assert set(relaxed[len(strict) :]) == {"older10", "newer10"}


def test_fallback_relax_time_keeps_the_decay():
    params = {"k": 10, "duplicate_threshold": None, "max_age": 3, "recency_half_life": 10}
    model = fit(time_rows(), **params, fallback=("relax_time",))
    got = scores(model.related("q"))
    plain = scores(fit(time_rows(), k=10, duplicate_threshold=None).related("q"))
    assert got["older10"] == pytest.approx(plain["older10"] * 0.5, abs=1e-12)
    assert got["older10"] == pytest.approx(model.explain("q", "older10").score, abs=1e-12)


def _latest_rows() -> list[dict]:
    return [
        row("q", "x", "2024-01-05", "volcano lava"),
        row("x_new", "x", "2024-01-09", "budget vote"),
        row("x_old", "x", "2024-01-01", "cup final"),
        row("x_ok", "x", "2024-01-04", "court judge"),
    ]


def test_fallback_latest_respects_allow_newer():
    got = ids(fit(_latest_rows(), k=3, allow_newer=False, fallback=("latest",)).related("q"))
    assert got == ["x_ok", "x_old"]


def test_fallback_latest_respects_max_age():
    model = fit(_latest_rows(), k=3, max_age=2, allow_newer=False, fallback=("latest",))
    assert "x_old" not in ids(model.related("q"))


def test_fallback_latest_respects_duplicate_threshold():
    rows = [
        row("q", "x", "2024-01-05", "volcano lava ash"),
        row("twin", "x", "2024-01-04", "volcano lava ash"),
        row("a", "x", "2024-01-03", "budget vote tax"),
        row("a_copy", "x", "2024-01-02", "budget vote tax"),
    ]
    got = ids(fit(rows, k=3, fallback=("latest",)).related("q"))
    assert "twin" not in got
    assert not {"a", "a_copy"} <= set(got)


def test_fallback_latest_respects_max_per_section():
    rows = [
        row("q", "x", None, "storm snow roads"),
        row("x1", "x", None, "storm snow"),
        row("x2", "x", None, "budget vote"),
        row("y1", "y", None, "snow roads ice"),
    ]
    model = fit(rows, k=3, section_policy="any", max_per_section=1, fallback=("latest",))
    got = model.related("q")
    assert max(collections.Counter(r.section for r in got).values()) <= 1


# ------------------------------------------------------------------------------ tags


def tag_rows() -> list[dict]:
    return [
        row("q", "x", None, "storm snow roads north", tags=["Weather", "North"]),
        row("both", "x", None, "storm snow fog", tags=["north", "weather"]),
        row("half", "x", None, "storm roads ice", tags=["weather"]),
        row("none", "x", None, "snow rain", tags=[]),
        row("other", "x", None, "north coast", tags=["Sport"]),
        row("tags_only", "x", None, "budget vote tax", tags=["Weather", "North"]),
    ]


def test_tag_weight_adds_weight_times_tag_cosine_to_related_stories_only():
    # Tags out of the TF-IDF fields, so only the bonus sees them.
    params = {"k": 10, "duplicate_threshold": None, "fields": {"title": 0.5, "body": 1.0}}
    base = scores(fit(tag_rows(), **params).related("q"))
    got = scores(fit(tag_rows(), **params, tag_weight=0.3).related("q"))
    assert set(base) == set(got) == {"both", "half", "none", "other"}
    assert got["both"] - base["both"] == pytest.approx(0.3, abs=1e-12)
    assert got["half"] - base["half"] == pytest.approx(0.3 / math.sqrt(2), abs=1e-12)
    assert got["none"] == base["none"]
    assert got["other"] == base["other"]
    # Tags alone never make a story related, whatever the weight.
    heavy = fit(tag_rows(), **params, tag_weight=5.0)
    assert "tags_only" not in ids(heavy.related("q"))
    assert "q" not in ids(heavy.related("tags_only"))


def test_tag_bonus_never_revives_an_out_of_window_story():
    rows = [
        row("q", "x", "2024-01-10", "storm snow", tags=["weather"]),
        row("old", "x", "2024-01-01", "storm snow ice", tags=["weather"]),
        row("ok", "x", "2024-01-09", "storm rain"),
    ]
    params = {"k": 5, "duplicate_threshold": None, "fields": {"title": 0.5, "body": 1.0}}
    assert set(ids(fit(rows, **params, tag_weight=2.0).related("q"))) == {"old", "ok"}
    assert ids(fit(rows, **params, max_age=3, tag_weight=2.0).related("q")) == ["ok"]


# ------------------------------------------------------------------------------ explain


def test_explain_terms_plus_tags_add_up_to_the_reported_score():
    rows = [
        {**r, "title": r["body"].split()[0].title()}  # title words also occur in the body
        for r in time_rows()
    ]
    for r, tags in zip(
        rows, [["Storm"], ["storm", "x"], [], ["STORM"], ["y"], ["storm"]], strict=True
    ):
        r["tags"] = tags
    model = fit(
        rows,
        k=10,
        duplicate_threshold=None,
        recency_half_life=10,
        tag_weight=0.25,
        fields={"title": 0.5, "body": 1.0},
    )
    got = model.related("q")
    assert len(got) == 5
    for r in got:
        e = model.explain("q", r.id)
        assert sum(t.contribution for t in e.terms) + e.tags == pytest.approx(r.score, abs=1e-9)
        assert e.score == pytest.approx(r.score, abs=1e-12)
        assert {t.field for t in e.terms} <= {"title", "body", "tags"}
        assert all(t.contribution > 0 for t in e.terms)
    e = model.explain("q", "older10")
    assert e.decay == pytest.approx(0.5, abs=1e-15)
    assert e.tags == pytest.approx(0.25 / math.sqrt(2), abs=1e-12)
    assert e.score == pytest.approx(e.cosine * 0.5 + e.tags, abs=1e-12)
    assert {t.term for t in e.terms} == {"storm", "snow", "road"}
    assert model.explain("q", "undated").decay == 1.0


def title_tag_rows() -> list[dict]:
    """Related stories that share words with q through their title or tags only."""
    return [
        row(
            "q",
            "x",
            None,
            "The finance minister resigned after the budget vote.",
            title="Minister resigns over budget",
            tags=["Politics", "Budget"],
        ),
        row("g", "x", None, "Rain fell.", title="Rain", tags=["politics", "budget"]),
        row(
            "t",
            "x",
            None,
            "Storm snow closed roads in the north.",
            title="Minister resigns",
            tags=["Weather"],
        ),
        row("b", "x", None, "The minister watched the cup final.", title="Cup"),
    ]


def test_explain_adds_up_when_terms_come_from_title_and_tags_only():
    model = fit(title_tag_rows(), k=5, duplicate_threshold=None)
    assert ids(model.related("q")) == ["g", "t", "b"]
    for r in model.related("q"):
        e = model.explain("q", r.id)
        assert sum(t.contribution for t in e.terms) + e.tags == pytest.approx(r.score, abs=1e-9)


def test_explain_fields_are_where_the_term_occurs():
    model = fit(title_tag_rows(), k=5, duplicate_threshold=None)
    fields = {(t.term, t.field) for t in model.explain("q", "t").terms}
    assert fields == {("minist", "title"), ("resign", "title")}


def test_related_explain_true_attaches_explanations():
    model = fit(ladder_rows(), k=3, duplicate_threshold=None, pinned={"q": ["z2"]})
    plain = model.related("q")
    got = model.related("q", explain=True)
    assert all(r.explanation is None for r in plain)
    assert ids(got) == ids(plain)
    for r in got:
        assert r.explanation == model.explain("q", r.id)
        assert r.explanation.score == pytest.approx(r.score, abs=1e-12)
    many = model.related_many(["q"], explain=True)["q"]
    assert many == got
    assert model.related_to(ladder_rows()[0], explain=True) == got


# ------------------------------------------------------------------------------ by section


def test_related_by_section_groups_by_section_ordered_by_best_score():
    rows = ladder_rows()
    model = fit(rows, k=10, duplicate_threshold=None, section_policy="any")
    full = model.related("q")
    groups = model.related_by_section("q", k_per_section=2)
    assert set(groups) == {"x", "y", "z"}
    for name, lst in groups.items():
        assert ids(lst) == [r.id for r in full if r.section == name][:2]
        assert {r.section for r in lst} == {name}
    best = [lst[0].score for lst in groups.values()]
    assert best == sorted(best, reverse=True)
    same = fit(rows, k=3, duplicate_threshold=None).related("q")
    assert model.related_by_section("q", k_per_section=3)["x"] == same
    hidden = fit(rows, k=10, duplicate_threshold=None, exclude_sections=("y",), exclude_ids=("x1",))
    groups = hidden.related_by_section("q")
    assert "y" not in groups and "x1" not in ids(groups["x"])
    assert "q" not in {r.id for lst in groups.values() for r in lst}
    # A section with no related story is left out.
    assert "misc" not in fit(lonely_rows()).related_by_section("v1")


# ------------------------------------------------------------------------------ remove


def test_remove_hides_everywhere_immediately_and_survives_save_load(tmp_path):
    rows = ladder_rows()
    model = fit(rows, k=3, duplicate_threshold=None, section_policy="any", pinned={"q": ["x1"]})
    base = ids(fit(rows, k=10, duplicate_threshold=None, section_policy="any").related("q"))
    assert base[0] == "x1"
    assert model.remove(["x1"]) is model
    assert model.removed_ == {"x1"}
    expected = [i for i in base if i != "x1"][:3]
    assert ids(model.related("q")) == expected
    assert not any(r.pinned for r in model.related("q"))
    assert model.related("x1") == []
    lists = model.related_many(model.ids_)
    assert all("x1" not in ids(lst) for lst in lists.values())
    assert dict(model.iter_related(batch_size=3)) == lists
    assert "x1" not in ids(model.related_to("storm snow roads north fog", k=10))
    assert all("x1" not in ids(lst) for lst in model.related_by_section("q").values())
    loaded = roundtrip(model, tmp_path)
    assert loaded.removed_ == {"x1"}
    assert loaded.related_many(loaded.ids_) == lists
    with pytest.raises(UnknownArticleError, match="'nope'"):
        model.remove(["nope"])


# ------------------------------------------------------------------------------ every path


POLICY_CASES = {
    "defaults": {},
    "max_age": {"max_age": 5},
    "half_life": {"recency_half_life": 3},
    "overrides": {
        "max_age": 40,
        "section_overrides": {"politics": {"recency_half_life": 2, "max_age": None}},
    },
    "no_newer": {"allow_newer": False},
    "duplicates_off": {"duplicate_threshold": None},
    "duplicates_low": {"duplicate_threshold": 0.3, "section_policy": "any"},
    "diversity": {"diversity": 0.6, "section_policy": "any"},
    "quota": {"max_per_section": 1, "section_policy": "prefer"},
    "exclude_ids": {"exclude_ids": ("p2", "b2")},
    "exclude_sections": {"exclude_sections": ("sport",), "section_policy": "any"},
    "pinned": {"pinned": {"p1": ["s1", "b3"], "w1": ["r1"]}},
    "blocked": {"blocked_pairs": (("p1", "p3"), ("s2", "s1"))},
    "fallback_any": {"fallback": ("any",)},
    "fallback_latest": {"fallback": ("latest",), "max_age": 2},
    "fallback_relax": {"fallback": ("relax_time", "any"), "max_age": 1, "allow_newer": False},
    "tags": {"tag_weight": 0.5, "section_policy": "any"},
    "everything": {
        "section_policy": "prefer",
        "max_age": 30,
        "recency_half_life": 10,
        "allow_newer": False,
        "duplicate_threshold": 0.6,
        "diversity": 0.3,
        "max_per_section": 2,
        "exclude_ids": ("b2",),
        "exclude_sections": ("culture",),
        "pinned": {"p1": ["s2"]},
        "blocked_pairs": (("p1", "p3"),),
        "fallback": ("any", "latest"),
        "tag_weight": 0.2,
    },
}


def tagged_news_rows() -> list[dict]:
    rows = news_rows()
    tags = {"p1": ["Budget", "Tax"], "p3": ["tax"], "b1": ["Rates"], "b2": ["rates", "Tax"]}
    for r in rows:
        r["tags"] = tags.get(r["id"], [])
    return rows


@pytest.mark.parametrize("case", list(POLICY_CASES))
def test_every_path_gives_the_same_lists(case):
    rows = tagged_news_rows()
    model = fit(rows, k=3, **POLICY_CASES[case])
    many = model.related_many(model.ids_)
    assert list(many) == model.ids_
    assert dict(model.iter_related(batch_size=4)) == many
    assert dict(model.iter_related(k=3, batch_size=1)) == many
    for r in rows:
        assert model.related(r["id"]) == many[r["id"]]
        assert model.related_to(r) == many[r["id"]], r["id"]
    assert any(many.values())
    # The compiled (numba) and the dense scipy scoring paths apply the policies alike.
    model.index_.use_kernels = False
    assert model.related_many(model.ids_) == many


@pytest.mark.parametrize("case", list(POLICY_CASES))
def test_every_policy_survives_save_load(case, tmp_path):
    model = fit(tagged_news_rows(), k=3, **POLICY_CASES[case]).remove(["b1"])
    loaded = roundtrip(model, tmp_path)
    params, got = model.get_params(), loaded.get_params()
    assert [tuple(p) for p in got.pop("blocked_pairs")] == [
        tuple(p) for p in params.pop("blocked_pairs")
    ]
    assert got == params
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)
    assert loaded.related_to("tax cuts budget vote") == model.related_to("tax cuts budget vote")


def test_int_ids_in_pinned_blocked_and_excluded_survive_save_load(tmp_path):
    rows = [{**r, "id": i + 1} for i, r in enumerate(ladder_rows())]
    model = fit(
        rows,
        k=3,
        duplicate_threshold=None,
        pinned={1: [10, 9]},
        blocked_pairs=[(2, 1)],
        exclude_ids=(3,),
    )
    got = model.related(1)
    assert ids(got)[:2] == [10, 9] and 2 not in ids(got) and 3 not in ids(got)
    loaded = roundtrip(model, tmp_path)
    assert loaded.pinned == {1: [10, 9]}
    assert [tuple(p) for p in loaded.blocked_pairs] == [(2, 1)]
    assert loaded.exclude_ids == (3,)
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)
    manifest = read_manifest(tmp_path / "model")
    assert manifest["params"]["pinned"] == [[1, [10, 9]]]
    assert manifest["params"]["blocked_pairs"] == [[2, 1]]


# ------------------------------------------------------------------------------ find_duplicates


def test_find_duplicates_groups_and_canonical_member():
    body = "storm snow closed roads north wind"
    rows = [
        row("b", "x", "2024-01-05", body),
        row("a", "y", None, body),  # undated: last, whatever its id
        row("d", "x", "2024-01-02", body),
        row("c", "x", "2024-01-02", body),  # same date as d: smaller id first
        row("m", "x", None, "cup final coach team"),
        row("k", "x", None, "cup final coach team"),
        row("solo", "x", None, "budget vote"),
    ]
    model = fit(rows)
    assert model.find_duplicates() == [["c", "d", "b", "a"], ["k", "m"]]
    assert model.find_duplicates(threshold=1.0 - 1e-6) == [["c", "d", "b", "a"], ["k", "m"]]
    with pytest.raises(InvalidParameterError, match="'threshold' parameter"):
        model.find_duplicates(threshold=0)


# ------------------------------------------------------------------------------ properties


def _day(value: str | None) -> int | None:
    return None if value is None else dt.date.fromisoformat(value).toordinal()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(12, 40),
    section_policy=st.sampled_from(["same", "any", "prefer"]),
    k=st.integers(1, 6),
    duplicate_threshold=st.sampled_from([None, 0.5, 0.8]),
    diversity=st.sampled_from([0.0, 0.5]),
    max_per_section=st.sampled_from([None, 1, 2]),
    max_age=st.sampled_from([None, 1, 3]),
    allow_newer=st.booleans(),
    fallback=st.sampled_from([(), ("any",), ("latest",)]),
    data=st.data(),
)
def test_list_invariants_under_random_policies(
    seed,
    n,
    section_policy,
    k,
    duplicate_threshold,
    diversity,
    max_per_section,
    max_age,
    allow_newer,
    fallback,
    data,
):
    rows = random_corpus(np.random.default_rng(seed), n)
    all_ids = [r["id"] for r in rows]
    excluded = data.draw(st.sets(st.sampled_from(all_ids), max_size=4), label="exclude_ids")
    removed = data.draw(st.sets(st.sampled_from(all_ids), max_size=4), label="removed")
    model = fit(
        rows,
        k=k,
        section_policy=section_policy,
        duplicate_threshold=duplicate_threshold,
        diversity=diversity,
        max_per_section=max_per_section,
        max_age=max_age,
        allow_newer=allow_newer,
        fallback=fallback,
        exclude_ids=tuple(sorted(excluded)),
    ).remove(sorted(removed))
    cos = cosines(model)
    at = {a: i for i, a in enumerate(all_ids)}
    section = {r["id"]: r["section"] for r in rows}
    day = {r["id"]: _day(r["published"]) for r in rows}
    empty = {a for a in all_ids if not cos[at[a], at[a]]}
    hidden = excluded | removed | empty
    thr, tol = duplicate_threshold, 1e-9

    lists = model.related_many(all_ids)
    assert dict(model.iter_related(batch_size=7)) == lists
    for a in all_ids[:3]:
        assert model.related(a) == lists[a]
    model.index_.use_kernels = False  # the dense scipy path gives the same lists
    assert model.related_many(all_ids) == lists

    def in_window(a, b) -> bool:
        if day[a] is None or day[b] is None:
            return True
        return (max_age is None or day[a] - day[b] <= max_age) and (allow_newer or day[b] <= day[a])

    for a, lst in lists.items():
        got = ids(lst)
        if a in removed:
            assert got == []
            continue
        assert a not in got
        assert not hidden & set(got), (a, got)
        assert len(set(got)) == len(got) <= k
        assert not any(r.pinned for r in lst)
        # Ranked entries (score > 0) first, then "latest" entries (score 0).
        ranked = [r for r in lst if r.score > 0]
        assert lst[: len(ranked)] == ranked
        assert len(ranked) == len(lst) or "latest" in fallback
        latest = got[len(ranked) :]
        assert {section[b] for b in latest} <= {section[a]}
        if section_policy == "same" and "any" not in fallback:
            assert {section[b] for b in got} <= {section[a]}
        if diversity == 0:
            own = [r.score for r in ranked if r.section == section[a]]
            other = [r.score for r in ranked if r.section != section[a]]
            assert own == sorted(own, reverse=True)
            assert other == sorted(other, reverse=True)
            if section_policy == "any":  # (the "any" fallback step has nothing to add)
                plain = [r.score for r in ranked]
                assert plain == sorted(plain, reverse=True)
            else:  # same-section part first (prefer, or "same" then the "any" fallback)
                assert [r.section == section[a] for r in ranked] == (
                    [True] * len(own) + [False] * len(other)
                )
        # Removal policies hold for every entry, ranked and "latest" alike.
        kept = got
        if thr is not None:
            for i, b in enumerate(kept):
                assert cos[at[a], at[b]] < thr + tol, (a, b)
                assert all(cos[at[b], at[c]] < thr + tol for c in kept[:i]), (a, b)
        assert all(in_window(a, b) for b in kept), (a, kept)
        if max_per_section is not None:
            assert max(collections.Counter(section[b] for b in kept).values(), default=0) <= (
                max_per_section
            )
        # No starvation: a short list has no eligible candidate left.
        if len(got) < k:
            wide = section_policy != "same" or "any" in fallback
            for c in all_ids:
                if c == a or c in hidden or c in got:
                    continue
                if not wide and section[c] != section[a]:
                    continue
                by_date = "latest" in fallback and section[c] == section[a]
                if not by_date and cos[at[a], at[c]] <= tol:
                    continue
                if thr is not None and (
                    cos[at[a], at[c]] >= thr - tol
                    or any(cos[at[b], at[c]] >= thr - tol for b in got)
                ):
                    continue
                if not in_window(a, c) or (
                    max_age is not None and day[a] and day[c] and day[c] - day[a] > max_age
                ):
                    continue
                if max_per_section is not None and (
                    sum(section[b] == section[c] for b in got) >= max_per_section
                ):
                    continue
                msg = f"{a}: {got} is short but {c} was eligible"
                raise AssertionError(msg)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    policy=st.sampled_from(["same", "any", "prefer"]),
    k=st.integers(1, 5),
    max_age=st.sampled_from([None, 1, 3]),
    half_life=st.sampled_from([None, 1.0, 4.0]),
    tag_weight=st.sampled_from([0.0, 0.5]),
)
def test_explain_matches_every_ranked_score(seed, policy, k, max_age, half_life, tag_weight):
    rng = np.random.default_rng(seed)
    rows = random_corpus(rng, 25)
    for r in rows:
        r["tags"] = [str(t) for t in rng.choice(["a", "b", "c"], size=int(rng.integers(0, 3)))]
    model = fit(
        rows,
        k=k,
        section_policy=policy,
        max_age=max_age,
        recency_half_life=half_life,
        tag_weight=tag_weight,
    )
    for a, lst in model.related_many(model.ids_).items():
        for r in lst:
            e = model.explain(a, r.id)
            assert e.score == pytest.approx(r.score, rel=0, abs=1e-12)
            assert e.score == pytest.approx(e.cosine * e.decay + e.tags, rel=0, abs=1e-12)


# ------------------------------------------------------------------------------ CLI


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in tagged_news_rows()), encoding="utf-8")
    return path


def _cli_lists(tmp_path, corpus_file, flags: list[str]) -> tuple[dict, dict]:
    model = tmp_path / "model"
    # The classic model (the expected scores are plain cosines), set through the CLI's flags.
    classic = ["--ngram-max", "1", "--idf-power", "1", "--feedback", "0"]
    code, _, err = run(
        "fit", str(corpus_file), "--model", str(model), "--min-df", "1", *classic, *flags
    )
    assert code == EXIT_OK, err
    manifest = read_manifest(model)
    out_file = tmp_path / "lists.jsonl"
    code, _, err = run("precompute", "--model", str(model), "--out", str(out_file))
    assert code == EXIT_OK, err
    lists = {
        line["id"]: line["related"]
        for line in map(json.loads, out_file.read_text(encoding="utf-8").splitlines())
    }
    code, out, err = run("related", "p1", "--model", str(model), "--format", "json")
    assert code == EXIT_OK, err
    assert json.loads(out)["related"] == lists["p1"]
    return manifest["params"], lists


DATES = {r["id"]: _day(r["published"]) for r in news_rows()}
SECTIONS = {r["id"]: r["section"] for r in news_rows()}


def _plain(a, b) -> float:
    """The score of (a, b) without any policy."""
    return fit(tagged_news_rows()).explain(a, b).cosine


def _dated_pairs(lists):
    for a, lst in lists.items():
        for r in lst:
            if DATES[a] is not None and DATES[r["id"]] is not None:
                yield a, r


CLI_CASES = {
    "max_age": (
        ["--max-age", "3"],
        {"max_age": 3.0},
        lambda lists: all(DATES[a] - DATES[r["id"]] <= 3 for a, r in _dated_pairs(lists)),
    ),
    "half_life": (
        ["--half-life", "10"],
        {"recency_half_life": 10.0},
        # b2 is one day newer than b1.
        lambda lists: (
            lists["b1"][0]["id"] == "b2"
            and lists["b1"][0]["score"] == pytest.approx(_plain("b1", "b2") * 0.5**0.1, abs=2e-6)
        ),
    ),
    "no_newer": (
        ["--no-newer"],
        {"allow_newer": False},
        lambda lists: all(DATES[r["id"]] <= DATES[a] for a, r in _dated_pairs(lists)),
    ),
    "duplicate_threshold_none": (
        ["--duplicate-threshold", "none"],
        {"duplicate_threshold": None},
        lambda lists: lists["p2"][0]["id"] == "p4",
    ),
    "duplicate_threshold": (
        ["--duplicate-threshold", "0.9"],
        {"duplicate_threshold": 0.9},
        lambda lists: "p4" not in [r["id"] for r in lists["p2"]],
    ),
    "diversity": (["--diversity", "0.5"], {"diversity": 0.5}, lambda lists: True),
    "max_per_section": (
        ["--max-per-section", "1", "--section-policy", "any"],
        {"max_per_section": 1, "section_policy": "any"},
        lambda lists: all(
            len({SECTIONS[r["id"]] for r in lst}) == len(lst) for lst in lists.values()
        ),
    ),
    "exclude_id": (
        ["--exclude-id", "p2", "--exclude-id", "b2"],
        {"exclude_ids": ["p2", "b2"]},
        lambda lists: not {"p2", "b2"} & {r["id"] for lst in lists.values() for r in lst},
    ),
    "exclude_section": (
        ["--exclude-section", "business", "--section-policy", "any"],
        {"exclude_sections": ["business"]},
        lambda lists: all(r["section"] != "business" for lst in lists.values() for r in lst),
    ),
    "tag_weight": (
        ["--tag-weight", "0.5"],
        {"tag_weight": 0.5},
        # b1 ["Rates"] and b2 ["rates", "Tax"]: tag cosine 1/sqrt(2).
        lambda lists: (
            lists["b1"][0]["id"] == "b2"
            and lists["b1"][0]["score"]
            == pytest.approx(_plain("b1", "b2") + 0.5 / math.sqrt(2), abs=2e-6)
        ),
    ),
    "fallback": (
        ["--fallback", "any, latest"],
        {"fallback": ["any", "latest"]},
        lambda lists: lists["w1"] != [] and lists["r1"] == [],
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_policy_flag_is_recorded_and_obeyed(case, tmp_path, corpus_file):
    flags, expected, obeyed = CLI_CASES[case]
    params, lists = _cli_lists(tmp_path, corpus_file, flags)
    for name, value in expected.items():
        assert params[name] == value, name
    assert obeyed(lists)
    # The CLI lists are the API's lists under the parameters the saved model holds.
    model = fit(tagged_news_rows(), **RelatedArticles.load(tmp_path / "model").get_params())
    assert {a: [r.to_dict() for r in lst] for a, lst in model.related_many(model.ids_).items()} == (
        lists
    )


POLICY_PARAMS = (
    "max_age",
    "recency_half_life",
    "section_overrides",
    "allow_newer",
    "duplicate_threshold",
    "diversity",
    "max_per_section",
    "exclude_ids",
    "exclude_sections",
    "pinned",
    "blocked_pairs",
    "fallback",
    "tag_weight",
)


def test_cli_defaults_record_every_policy(tmp_path, corpus_file):
    params, lists = _cli_lists(tmp_path, corpus_file, [])
    assert {name: params[name] for name in POLICY_PARAMS} == {
        "max_age": None,
        "recency_half_life": None,
        "section_overrides": None,
        "allow_newer": True,
        "duplicate_threshold": 0.8,
        "diversity": 0.0,
        "max_per_section": None,
        "exclude_ids": [],
        "exclude_sections": [],
        "pinned": None,
        "blocked_pairs": [],
        "fallback": [],
        "tag_weight": 0.0,
    }
    assert "p4" not in [r["id"] for r in lists["p2"]]


def test_cli_exclude_id_with_int_ids(tmp_path):
    path = tmp_path / "int.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": i, "body": body}) + "\n"
            for i, body in enumerate(["storm snow roads", "storm snow", "snow roads", "storm"])
        ),
        encoding="utf-8",
    )
    model = tmp_path / "m"
    code, _, err = run(
        "fit", str(path), "--model", str(model), "--min-df", "1", "--exclude-id", "1"
    )
    assert code == EXIT_OK, err
    params = read_manifest(model)["params"]
    assert params["exclude_ids"] == [1]
    code, out, _ = run("related", "0", "--model", str(model), "--format", "json")
    assert code == EXIT_OK
    got = [r["id"] for r in json.loads(out)["related"]]
    assert got and 1 not in got


@pytest.mark.parametrize(
    ("flags", "name"),
    [
        (["--fallback", "sideways"], "fallback"),
        (["--diversity", "1.5"], "diversity"),
        (["--max-age", "0"], "max_age"),
        (["--max-per-section", "0"], "max_per_section"),
        (["--tag-weight", "-1"], "tag_weight"),
    ],
)
def test_cli_bad_policy_flag_is_a_one_line_usage_error(flags, name, tmp_path, corpus_file):
    code, out, err = run("fit", str(corpus_file), "--model", str(tmp_path / "m"), *flags)
    assert code == 2
    assert f"'{name}' parameter" in err
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------------------ real data


@pytest.mark.shared_data
def test_bbc_twins_never_in_each_others_list_and_grouped_by_find_duplicates():
    rows = read_jsonl(shared_file("bbc.jsonl"))
    by_body = collections.defaultdict(list)
    for r in rows:
        by_body[hashlib.sha256(r["body"].encode()).hexdigest()].append(r["id"])
    pairs = [group for group in by_body.values() if len(group) == 2]
    assert len(pairs) == 133

    model = fit(rows, k=10, min_df=2)  # default duplicate_threshold (0.8)
    assert model.duplicate_threshold == 0.8
    twins = {a for pair in pairs for a in pair}
    lists = model.related_many(sorted(twins))
    for a, b in pairs:
        assert b not in ids(lists[a]) and a not in ids(lists[b]), (a, b)
        assert lists[a] and lists[b]
        assert model.explain(a, b).cosine >= 0.8  # what keeps them out

    groups = model.find_duplicates()
    group_of = {a: n for n, group in enumerate(groups) for a in group}
    published = {r["id"]: r["published"] for r in rows}

    def canonical(a):  # earliest published (undated last), then the smallest id
        return (published[a] is None, published[a] or "", a)

    for a, b in pairs:
        assert a in group_of and group_of[a] == group_of.get(b), (a, b)
    for group in groups:
        assert group[0] == min(group, key=canonical)
        assert group == sorted(group, key=canonical)
    assert [g[0] for g in groups] == sorted(g[0] for g in groups)
