"""The engine backends' one contract, tested once for both (implicit's mixin pattern).

A backend (``relatedness.engine.reference.run``, ``relatedness.engine.compiled.run``) takes a
candidate set, query rows, each query's own position, ``k``, an ``allowed`` mask and the
queries' :class:`~relatedness.engine.Rules`, and returns per query the top-``k`` index rows
and scores. The contract, checked against a brute-force oracle written from the docs:

- a cosine is the float64 sum of the pair's products; only scores > 0; never the query's own
  position, a row outside ``allowed`` or in the query's ``exclude_rows``;
- a copy (cosine >= ``duplicate_threshold``) is dropped; so is a dated pair further apart than
  ``max_age``, or a newer candidate when ``allow_newer`` is off (undated pairs are exempt);
- the score is the cosine times ``2 ** (-|gap| / half_life)`` (dated pairs) plus
  ``tag_weight * cosine(tag sets)`` for a candidate the other rules kept;
- order: score descending, then the smaller tie-break rank; at most ``k``.

Every test below runs for each backend; the two must also agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relatedness.engine import Rules
from relatedness.engine import compiled as compiled_backend
from relatedness.engine import reference as reference_backend
from relatedness.engine.candidates import CandidateSet, Settings, SharedPools


def corpus(seed: int, n: int = 60, n_terms: int = 40, n_tags: int = 6):
    """Normalised float32 rows with the nasty ones: copies, an empty row, equal scores."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n, n_terms)) < 0.15) * rng.integers(1, 4, (n, n_terms))
    dense[1] = dense[0]  # an identical copy
    dense[2] = 0  # no indexable text
    dense[3] = dense[4] = 0
    dense[3, :2] = dense[4, :2] = 1  # equal scores with many queries: the tie rule decides
    norms = np.linalg.norm(dense, axis=1)
    norms[norms == 0] = 1
    matrix = sp.csr_matrix((dense / norms[:, None]).astype(np.float32))
    tiebreak = rng.permutation(n).astype(np.int64)
    times = rng.uniform(0, 100, n)
    times[rng.random(n) < 0.2] = np.nan  # undated stories
    tag_dense = (rng.random((n, n_tags)) < 0.3).astype(float)
    counts = tag_dense.sum(axis=1, keepdims=True)
    tags = sp.csr_matrix(tag_dense / np.sqrt(np.maximum(counts, 1)))
    return matrix, tiebreak, times, tags, rng


def oracle(cands, queries, exclude, k, allowed, rules, tags_of_set):
    """Rank every candidate of every query with explicit loops, from the docstring's rules."""
    q64 = sp.csr_matrix(queries, dtype=np.float64)
    x64 = sp.csr_matrix(cands.matrix[cands.global_rows], dtype=np.float64)
    cosines = (q64 @ x64.T).toarray()
    out = []
    for i in range(queries.shape[0]):
        ranked = []
        for j in range(cands.size):
            row = int(cands.global_rows[j])
            cos = min(cosines[i, j], 1.0)  # the contract: a cosine is at most 1 (issue 17, 9)
            if j == exclude[i] or cos <= 0 or (allowed is not None and not allowed[row]):
                continue
            if rules is None:
                ranked.append((cos, j))
                continue
            if rules.exclude_rows is not None and row in set(rules.exclude_rows[i].tolist()):
                continue
            if rules.duplicate_threshold is not None and cos >= rules.duplicate_threshold:
                continue
            score = cos
            if rules.times is not None:
                gap = rules.times[i] - cands.times[j]
                if not math.isnan(gap):
                    age = math.inf if rules.max_age is None else rules.max_age[i]
                    if abs(gap) > age or (not rules.allow_newer and gap < 0):
                        continue
                    if rules.half_life is not None and math.isfinite(rules.half_life[i]):
                        score = score * float(np.exp2(-abs(gap) / rules.half_life[i]))
            if rules.tag_weight and rules.tags is not None and score > 0:
                shared = float((rules.tags[i] @ tags_of_set[j].T).toarray()[0, 0])
                score = score + rules.tag_weight * shared
            if score > 0:
                ranked.append((score, j))
        ranked.sort(key=lambda p: (-p[0], cands.tiebreak[p[1]]))
        top = ranked[:k]
        out.append(([int(cands.global_rows[j]) for _, j in top], [s for s, _ in top]))
    return out


def random_rules(rng, m: int, n_rows: int, tags: sp.csr_matrix, kinds: set[str]) -> Rules:
    times = rng.uniform(0, 100, m)
    times[rng.random(m) < 0.2] = np.nan
    return Rules(
        times=times if kinds & {"window", "newer", "decay"} else None,
        max_age=rng.choice([5.0, 20.0, np.inf], m) if "window" in kinds else None,
        half_life=rng.choice([3.0, 30.0, np.inf], m) if "decay" in kinds else None,
        allow_newer="newer" not in kinds,
        tags=tags[rng.integers(0, tags.shape[0], m)] if "tags" in kinds else None,
        tag_weight=0.3 if "tags" in kinds else 0.0,
        duplicate_threshold=0.9 if "copies" in kinds else None,
        exclude_rows=[rng.choice(n_rows, rng.integers(0, 4), replace=False) for _ in range(m)]
        if "exclusions" in kinds
        else None,
    )


KINDS = ["window", "newer", "decay", "tags", "copies", "exclusions"]


class BackendContract:
    """The contract tests; a subclass names its backend."""

    backend = staticmethod(reference_backend.run)

    def run(self, cands, queries, exclude, k, allowed=None, rules=None, *, own_rows=False,
            working_memory=256.0, pools=None):  # fmt: skip
        pools = SharedPools() if pools is None else pools
        return self.backend(
            cands, queries, exclude, k, allowed, rules, own_rows=own_rows,
            settings=Settings(working_memory, 2, pools, pair_once=True),
        )  # fmt: skip

    def assert_oracle(self, got, want):
        assert len(got) == len(want)
        for (rows, scores), (w_rows, w_scores) in zip(got, want, strict=True):
            assert rows.tolist() == w_rows
            np.testing.assert_allclose(scores, w_scores, rtol=1e-12, atol=0)

    def candidates(self, seed, section_rows=None):
        matrix, tiebreak, times, tags, rng = corpus(seed)
        cands = CandidateSet(0, matrix, section_rows, tiebreak, times, tags)
        tags_of_set = tags if section_rows is None else tags[section_rows]
        return cands, matrix, tags, tags_of_set, rng

    @pytest.mark.parametrize("k", [1, 4, 200])
    @pytest.mark.parametrize("working_memory", [1e-9, 256.0])
    def test_plain_top_k_equals_the_oracle(self, k, working_memory):
        cands, matrix, _, tags_of_set, _ = self.candidates(0)
        exclude = np.arange(matrix.shape[0])
        got = self.run(cands, matrix, exclude, k, working_memory=working_memory)
        self.assert_oracle(got, oracle(cands, matrix, exclude, k, None, None, tags_of_set))

    @pytest.mark.parametrize("kind", KINDS)
    def test_each_rule_equals_the_oracle(self, kind):
        cands, matrix, tags, tags_of_set, rng = self.candidates(1)
        m = matrix.shape[0]
        rules = random_rules(rng, m, m, tags, {kind})
        allowed = rng.random(m) < 0.8
        exclude = np.arange(m)
        got = self.run(cands, matrix, exclude, 5, allowed, rules)
        self.assert_oracle(got, oracle(cands, matrix, exclude, 5, allowed, rules, tags_of_set))

    # One test method, two classes: the executors differ on purpose (one per backend).
    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.differing_executors]
    )
    @given(
        seed=st.integers(0, 10_000),
        kinds=st.sets(st.sampled_from(KINDS)),
        k=st.integers(1, 12),
        section=st.booleans(),
        memory=st.sampled_from([1e-9, 0.001, 256.0]),
    )
    def test_any_rules_any_set_any_block_size_equal_the_oracle(
        self, seed, kinds, k, section, memory
    ):
        matrix, tiebreak, times, tags, rng = corpus(seed)
        n = matrix.shape[0]
        rows = np.sort(rng.choice(n, 35, replace=False)) if section else None
        cands = CandidateSet(0, matrix, rows, tiebreak, times, tags)
        # Queries: some of the set's own rows (excluded by position) and some outsiders.
        picked = rng.choice(n, 12, replace=False)
        position = {int(r): p for p, r in enumerate(cands.global_rows)}
        exclude = np.array([position.get(int(r), -1) for r in picked], dtype=np.int64)
        queries = matrix[picked]
        rules = random_rules(rng, len(picked), n, tags, kinds) if kinds else None
        allowed = rng.random(n) < 0.85
        tags_of_set = tags if rows is None else tags[rows]
        got = self.run(cands, queries, exclude, k, allowed, rules, working_memory=memory)
        self.assert_oracle(got, oracle(cands, queries, exclude, k, allowed, rules, tags_of_set))

    def test_equal_scores_follow_the_tie_rank(self):
        cands, matrix, _, _, _ = self.candidates(2)
        query = matrix[[3]]  # rows 3 and 4 are equal; many rows tie with them
        ((rows, scores),) = self.run(cands, query, np.array([-1]), 60)
        for a, b, sa, sb in zip(rows[:-1], rows[1:], scores[:-1], scores[1:], strict=True):
            assert sa > sb or (sa == sb and cands.tiebreak[a] < cands.tiebreak[b])

    def test_an_empty_query_or_set_returns_nothing(self):
        cands, matrix, _, _, _ = self.candidates(3)
        ((rows, scores),) = self.run(cands, matrix[[2]], np.array([2]), 5)  # the empty row
        assert rows.tolist() == [] and scores.tolist() == []
        assert self.run(cands, matrix[:0], np.empty(0, np.int64), 5) == []

    @pytest.mark.parametrize("kinds", [set(), {"window"}, {"decay", "copies"}])
    def test_own_rows_and_shared_pools_give_the_same_lists(self, kinds):
        """A batch of the set's own rows may score each pair once (pair-once kernel, shared
        pools): the lists are the per-query ones."""
        cands, matrix, tags, _, rng = self.candidates(4)
        m = matrix.shape[0]
        rules = random_rules(rng, m, m, tags, kinds) if kinds else None
        if rules is not None and rules.times is not None:
            rules = Rules(**{**rules.__dict__, "times": cands.times.copy()})
        exclude = np.arange(m)
        want = self.run(cands, matrix, exclude, 4, None, rules)
        assert _same(self.run(cands, matrix, exclude, 4, None, rules, own_rows=True), want)
        pools = SharedPools()
        with pools.active():
            for start in (0, 20, 40):
                part = slice(start, start + 20)
                got = self.run(
                    cands, matrix[part], exclude[part], 4, None,
                    None if rules is None else rules.take(part), own_rows=True, pools=pools,
                )  # fmt: skip
                assert _same(got, want[part])


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        x[0].tolist() == y[0].tolist() and x[1].tobytes() == y[1].tobytes()
        for x, y in zip(a, b, strict=True)
    )


class TestReferenceBackend(BackendContract):
    backend = staticmethod(reference_backend.run)


class TestCompiledBackend(BackendContract):
    backend = staticmethod(compiled_backend.run)

    @pytest.fixture(autouse=True)
    def _numba(self):
        pytest.importorskip("numba")


@pytest.mark.parametrize("seed", range(6))
def test_the_two_backends_agree_bit_for_bit(seed):
    """Same lists and the same float64 scores, under every rule at once."""
    pytest.importorskip("numba")
    matrix, tiebreak, times, tags, rng = corpus(seed, n=120)
    rules = random_rules(rng, 120, 120, tags, set(KINDS) - {"newer"})
    allowed = rng.random(120) < 0.9
    runs = []
    for backend in (reference_backend.run, compiled_backend.run):
        cands = CandidateSet(-1, matrix, None, tiebreak, times, tags)
        runs.append(
            backend(
                cands, matrix, np.arange(120), 6, allowed, rules, own_rows=True,
                settings=Settings(0.01, 2, SharedPools(), pair_once=True),
            )
        )  # fmt: skip
    assert _same(*runs)
