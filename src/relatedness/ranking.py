"""The query planner: from a query to the box's list, under every newsroom policy.

One :class:`Ranker` serves a fitted :class:`~relatedness.archive.Archive`. For a batch of
queries (rows of the archive, or unseen articles) it applies, in this order and identically for
``related``, ``related_to``, ``related_many`` and batch jobs:

1. **pins and blocks**: editor-pinned stories are held first; blocked pairs are excluded;
2. **feedback** (Rocchio): a plain-cosine first pass finds each query's copies and its first
   neighbours, and the query is expanded with their mean (:func:`~relatedness.engine.rocchio`);
3. **top-k** through the engine's door under the query's :class:`~relatedness.engine.Rules`;
4. the **post-pass** (one story per duplicate pair, section quotas, MMR), growing the pool
   while a list is short (:func:`~relatedness.engine.grow`);
5. **fallbacks** for lists still short of ``k`` (every section, no window, the latest stories);
6. the :class:`~relatedness.results.Related` records, with explanations when asked.

The list rules come in a :class:`Policy` on every call (the façade's current parameters); what
is built once per fit (the index, the masks of excluded and removed stories, pins and blocked
pairs) lives on the ranker.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from .archive import Archive, warn_cut
from .articles import Article, Query, as_datetime, merge_sections, section_key
from .engine import (
    Rules,
    SectionPolicy,
    SimilarityIndex,
    choose,
    days_since_epoch,
    duplicate_groups,
    grow,
    outside_window,
    rocchio,
    select,
    take_rows,
    tiebreak_ranks,
    time_rules,
)
from .engine.postpass import row_cosines
from .exceptions import DuplicateIdError, InvalidArticleError, UnknownArticleError
from .features.growth import Grown, Growth
from .features.growth import grow as grow_vocabulary
from .features.tags import tag_rows
from .results import ArticleId, Explanation, Related, TermContribution, UpdateReport
from .validation import check_exclude, shown

__all__ = ["Policy", "Ranker"]


@dataclass(frozen=True)
class Policy:
    """The list rules of one call: the model's parameters that choose a list.

    See :class:`~relatedness.RelatedArticles` for each one's meaning.
    """

    k: int
    section_policy: SectionPolicy
    max_age: float | None
    recency_half_life: float | None
    section_overrides: Mapping[str, Mapping[str, float | None]] | None
    allow_newer: bool
    duplicate_threshold: float | None
    diversity: float
    max_per_section: int | None
    fallback: Sequence[str]
    tag_weight: float
    feedback: int
    feedback_weight: float

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Policy:
        """The policy in a mapping of parameters (extra keys are ignored)."""
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})

    @property
    def uses_time(self) -> bool:
        """Some rule reads publication times."""
        return (
            self.max_age is not None
            or self.recency_half_life is not None
            or bool(self.section_overrides)
            or not self.allow_newer
        )

    @property
    def post_pass(self) -> bool:
        """Some rule chooses within a ranked pool (copies, diversity, quotas)."""
        return (
            self.duplicate_threshold is not None
            or self.diversity > 0
            or self.max_per_section is not None
        )


#: Per query: the rows the ranking chose and their scores.
Chosen = tuple[list[int], list[float]]


class Ranker:
    """The query planner over one fitted archive.

    Parameters
    ----------
    archive : Archive
    working_memory : float
        MiB a dense block of scores may use (see the engine).
    exclude_ids, exclude_sections, pinned, blocked_pairs
        The model's parameters of the same names, turned into row masks and row lists once.
    """

    def __init__(
        self,
        archive: Archive,
        *,
        working_memory: float,
        exclude_ids: Iterable[ArticleId] = (),
        exclude_sections: Iterable[str] = (),
        pinned: Mapping[ArticleId, Sequence[ArticleId]] | None = None,
        blocked_pairs: Iterable[tuple[ArticleId, ArticleId]] = (),
    ) -> None:
        self.archive = archive
        ids = archive.ids
        self.n = len(ids)
        self.row_of = {article_id: row for row, article_id in enumerate(ids)}
        self.section_names = sorted(set(archive.sections))
        self.section_code = {name: code for code, name in enumerate(self.section_names)}
        #: A section as a query or a rule may spell it -> its name in the archive.
        self.section_named = {section_key(name): name for name in self.section_names}
        codes = np.array([self.section_code[s] for s in archive.sections], dtype=np.int64)
        stamps = np.array(
            [
                np.datetime64("NaT") if p is None else np.datetime64(as_datetime(p), "s")
                for p in archive.published
            ],
            dtype="datetime64[s]",
        )
        tag_matrix, self.tag_vocabulary = tag_rows(archive.tags)
        self.index = SimilarityIndex(
            archive.matrix,
            codes,
            tiebreak_ranks(ids, stamps),
            working_memory,
            times=days_since_epoch(archive.published),
            tags=tag_matrix,
        )
        self.empty = np.diff(archive.matrix.indptr) == 0
        visible = ~self.empty
        for article_id in exclude_ids:
            row = self.row_of.get(article_id)
            if row is not None:
                visible[row] = False
        hidden = {section_key(s) for s in exclude_sections}
        if hidden:
            visible &= np.array([section_key(s) not in hidden for s in archive.sections])
        #: Rows that may appear in a list.
        self.visible = visible
        self.blocked: dict[int, list[int]] = {}
        for a, b in blocked_pairs:
            ra, rb = self.row_of.get(a), self.row_of.get(b)
            if ra is not None and rb is not None:
                self.blocked.setdefault(ra, []).append(rb)
                self.blocked.setdefault(rb, []).append(ra)
        self.pinned: dict[int, list[int]] = {}
        for article_id, items in (pinned or {}).items():
            row = self.row_of.get(article_id)
            if row is not None:
                rows = [self.row_of[i] for i in items if i in self.row_of]
                self.pinned[row] = list(dict.fromkeys(r for r in rows if r != row))
        #: Ids taken down: in no list, and their own list is empty.
        self.removed: set[ArticleId] = set()
        self.remove([self.row_of[i] for i in archive.removed if i in self.row_of])

    # ------------------------------------------------------------------ ids and rows

    def row(self, article_id: Any) -> int:
        """The row of an id, or :class:`UnknownArticleError` (with a hint on the id type)."""
        if isinstance(article_id, bool):  # True == 1 as a dict key: never take it for id 1
            msg = f"article id {article_id!r} is a bool, not an article id; pass a str or int id."
            raise UnknownArticleError(msg)
        try:
            return self.row_of[article_id]
        except (KeyError, TypeError):
            pass
        hint = ""
        alternative: Any = None
        if isinstance(article_id, str) and article_id.strip().lstrip("-").isdigit():
            alternative = int(article_id)
        elif isinstance(article_id, int) and not isinstance(article_id, bool):
            alternative = str(article_id)
        if alternative is not None and alternative in self.row_of:
            hint = f"; an {type(alternative).__name__} id {alternative!r} exists"
        msg = f"article id {shown(article_id)} is not in the model{hint}."
        raise UnknownArticleError(msg)

    def known_rows(self, ids: Iterable[Any] | None) -> list[int]:
        """Rows of the ids the archive holds (others are ignored), e.g. per-call exclusions."""
        return [self.row_of[i] for i in check_exclude(ids) if i in self.row_of]

    def remove(self, rows: Iterable[int]) -> None:
        """Take rows out of every list at once."""
        for row in rows:
            self.removed.add(self.archive.ids[row])
            self.visible[row] = False

    def current_archive(self) -> Archive:
        """The archive as it stands, removals included (what a save writes)."""
        removed = sorted(self.removed, key=self.row_of.__getitem__)
        return replace(self.archive, removed=removed)

    # ------------------------------------------------------------------ rules

    def rules(
        self,
        policy: Policy,
        times: np.ndarray,
        sections: Sequence[str],
        tags: sp.csr_matrix | None,
        exclude_rows: list[np.ndarray],
        *,
        relax_time: bool = False,
        removal_only: bool = False,
    ) -> Rules:
        """The engine's rules for a batch of queries.

        ``removal_only`` keeps only the rules that remove candidates (window, ``allow_newer``,
        exclusions): plain cosine order, as the feedback pass needs. With feedback on, copies
        of the query are found on its own vector by that pass and arrive in
        ``exclude_rows``, so the engine's duplicate rule (which compares ranking scores) is
        off.
        """
        max_age = half_life = None
        if policy.uses_time:
            max_age, half_life = time_rules(
                sections, policy.max_age, policy.recency_half_life, policy.section_overrides
            )
            if relax_time:  # the "relax_time" fallback drops the window, keeps the decay
                max_age = np.full(len(sections), np.inf)
        dedupe = policy.duplicate_threshold
        return Rules(
            times=times if policy.uses_time else None,
            max_age=max_age,
            half_life=None if removal_only else half_life,
            allow_newer=policy.allow_newer or relax_time,
            tags=tags if policy.tag_weight and not removal_only else None,
            tag_weight=0.0 if removal_only else float(policy.tag_weight),
            duplicate_threshold=None if policy.feedback or removal_only else dedupe,
            # No exclusion at all is no rule (the engine then skips the check per query).
            exclude_rows=exclude_rows if any(len(rows) for rows in exclude_rows) else None,
        )

    def query_arrays(self, rows: np.ndarray, policy: Policy) -> tuple[list[str], np.ndarray, Any]:
        """Sections, times and (when the tag bonus is on) tag rows of index rows."""
        sections = [self.archive.sections[r] for r in rows.tolist()]
        # Tags only matter to the tag bonus: skip slicing them (scipy overhead) otherwise.
        all_tags = self.index.tags
        tags = all_tags[rows] if policy.tag_weight and all_tags is not None else None
        return sections, self.index.times[rows], tags

    def held_and_excluded(
        self, self_rows: np.ndarray, allowed: np.ndarray, k: int, editorial: bool
    ) -> tuple[list[list[int]], list[np.ndarray]]:
        """Per query: its pinned rows (shown first) and the rows the ranking must skip."""
        if not self.pinned and not self.blocked:  # the common case, without a loop per query
            nothing = np.empty(0, dtype=np.int64)
            return [[] for _ in range(len(self_rows))], [nothing] * len(self_rows)
        held: list[list[int]] = []
        exclude_rows: list[np.ndarray] = []
        for own in self_rows.tolist():
            pins = self.pinned.get(own, []) if own >= 0 and editorial else []
            blocked = self.blocked.get(own, []) if own >= 0 else []
            # A blocked pair wins over a pin: "never together" is the safety rule.
            pins = [r for r in pins if allowed[r] and r not in blocked][:k]
            held.append(pins)
            exclude_rows.append(np.array(pins + blocked, dtype=np.int64))
        return held, exclude_rows

    # ------------------------------------------------------------------ feedback

    def _plain_pass(
        self,
        raw: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        policy_name: SectionPolicy,
        allowed: np.ndarray,
        rules: Rules,
        threshold: float | None,
        n_neighbours: int,
        own_rows: bool = False,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Plain-cosine pass: per query, its copies and its first ``n_neighbours`` others.

        Copies (cosine >= ``threshold``) outrank every other story, so a pool that holds one
        story below the threshold, or every candidate, holds all of them; a pool full of
        copies is fetched again, larger.
        """

        def fetch(pending: np.ndarray, pool: int) -> list:
            return self._engine(
                raw, pending, self_rows, codes, pool, policy_name, allowed, rules, own_rows
            )

        def settle(pending: np.ndarray, found: Sequence, full: list[bool]) -> list:
            answers: list[Any] = []
            for (rows, scores), cut in zip(found, full, strict=True):
                is_copy = (
                    scores >= threshold if threshold is not None else np.zeros(len(rows), bool)
                )
                others = rows[~is_copy]
                if cut and len(others) < max(n_neighbours, 1):
                    answers.append(None)
                else:
                    answers.append((rows[is_copy], others[:n_neighbours]))
            return answers

        found = grow(raw.shape[0], fetch, settle, n_neighbours + 5, self.n)
        return [c for c, _ in found], [n for _, n in found]

    def feedback_neighbours(self, rows: np.ndarray, policy: Policy) -> list[np.ndarray]:
        """The feedback neighbours of index rows, as a list of them chooses them."""
        allowed = self.visible
        _, exclude_rows = self.held_and_excluded(rows, allowed, policy.k, True)
        sections, times, _ = self.query_arrays(rows, policy)
        removal = self.rules(policy, times, sections, None, exclude_rows, removal_only=True)
        _, neighbours = self._plain_pass(
            self.index.matrix[rows],
            rows,
            self.index.section_codes[rows],
            policy.section_policy,
            allowed,
            removal,
            policy.duplicate_threshold,
            policy.feedback,
        )
        return neighbours

    def expand(
        self,
        raw: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        sections: Sequence[str],
        times: np.ndarray,
        policy: Policy,
        policy_name: SectionPolicy,
        allowed: np.ndarray,
        exclude_rows: list[np.ndarray],
        own_rows: bool = False,
    ) -> tuple[sp.csr_matrix, list[np.ndarray], np.ndarray]:
        """Rocchio feedback: ``q + w * mean(first neighbours)``, L2-normalised, the copies,
        and the factor by which each query's own vector enters its expanded one.

        The sum is taken in float64 over the neighbours in rank order (the same bits for a
        query whatever batch it is in) and stored like the index rows, in float32.
        """
        removal = self.rules(policy, times, sections, None, exclude_rows, removal_only=True)
        threshold = policy.duplicate_threshold
        copies, neighbours = self._plain_pass(
            raw,
            self_rows,
            codes,
            policy_name,
            allowed,
            removal,
            threshold,
            policy.feedback,
            own_rows,
        )
        if policy_name == "prefer":
            # Copies may sit in any section the fill can reach.
            copies, _ = self._plain_pass(
                raw, self_rows, codes, "any", allowed, removal, threshold, 0, own_rows
            )
        counts = np.array([len(n) for n in neighbours], dtype=np.int64)
        picked = np.concatenate([*neighbours, np.empty(0, dtype=np.int64)])
        expanded, own_factor = rocchio(
            raw, take_rows(self.index.matrix, picked), counts, float(policy.feedback_weight)
        )
        return expanded, copies, own_factor

    # ------------------------------------------------------------------ lists

    def lists(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        sections: Sequence[str],
        times: np.ndarray,
        tags: sp.csr_matrix | None,
        k: int,
        policy: Policy,
        *,
        policy_name: SectionPolicy | None = None,
        extra_exclude: Sequence[int] = (),
        explain: bool = False,
        editorial: bool = True,
        own_rows: bool = False,
    ) -> list[list[Related]]:
        """Every policy, applied identically for related, related_to, related_many, batches.

        ``policy_name`` overrides the section policy (an unseen article without a section is
        ranked against every section). ``editorial=False`` leaves out pinned stories and the
        fallback chain (the by-section view, where they would repeat in every group).
        ``own_rows``: the queries are the index rows ``self_rows`` themselves (lets a
        whole-set batch score each pair once).
        """
        raw = queries
        found, queries, own_factor = self.choose_lists(
            queries, self_rows, codes, sections, times, tags, k, policy,
            policy_name=policy_name, extra_exclude=extra_exclude, editorial=editorial,
            own_rows=own_rows,
        )  # fmt: skip
        out: list[list[Related]] = []
        for i, (rows, scores, n_pinned) in enumerate(found):
            results = self.results(rows[:n_pinned], scores[:n_pinned], pinned=True)
            results += self.results(rows[n_pinned:], scores[n_pinned:])
            if explain:
                query_tags = None if tags is None else tags[i]
                results = [
                    replace(
                        r,
                        explanation=self.explain_rows(
                            queries[i],
                            times[i],
                            sections[i],
                            query_tags,
                            self.row_of[r.id],
                            policy,
                            own=None if own_factor is None else raw[i],
                            own_factor=1.0 if own_factor is None else float(own_factor[i]),
                        ),  # fmt: skip
                    )
                    for r in results
                ]
            out.append(results)
        return out

    def choose_lists(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        sections: Sequence[str],
        times: np.ndarray,
        tags: sp.csr_matrix | None,
        k: int,
        policy: Policy,
        *,
        policy_name: SectionPolicy | None = None,
        extra_exclude: Sequence[int] = (),
        editorial: bool = True,
        own_rows: bool = False,
    ) -> tuple[list[tuple[list[int], list[float], int]], sp.csr_matrix, np.ndarray | None]:
        """The rows of every list, before they become records (see :meth:`lists`).

        Returns per query ``(rows, scores, n_pinned)``: at most ``k`` index rows, pinned ones
        first; the query vectors the scores refer to (expanded when feedback is on); and,
        with feedback, the factor by which each query's own vector enters its expanded one
        (``None`` without feedback).
        """
        name = policy.section_policy if policy_name is None else policy_name
        m = queries.shape[0]
        allowed = self.visible.copy()
        allowed[list(extra_exclude)] = False
        held, exclude_rows = self.held_and_excluded(self_rows, allowed, k, editorial)
        ids = self.archive.ids
        removed_query = (
            [own >= 0 and ids[own] in self.removed for own in self_rows.tolist()]
            if self.removed
            else [False] * m
        )
        raw = queries
        own_factor = None
        if policy.feedback:
            queries, copies, own_factor = self.expand(
                raw, self_rows, codes, sections, times, policy, name, allowed, exclude_rows,
                own_rows,
            )  # fmt: skip
            own_rows = False  # the expanded vectors are not the index rows
            exclude_rows = [
                np.concatenate([e, c]) for e, c in zip(exclude_rows, copies, strict=True)
            ]
        rules = self.rules(policy, times, sections, tags, exclude_rows)
        chosen = self._choose(
            queries, self_rows, codes, k, name, allowed, rules, held, policy, own_rows
        )
        steps = [s for s in policy.fallback if s != "same_section"] if editorial else []
        for step in steps:
            short = [i for i in range(m) if len(held[i]) + len(chosen[i][0]) < k]
            if not short:
                break
            self._fill(
                step, short, queries, raw, self_rows, codes, sections, times, tags, k,
                allowed, exclude_rows, held, chosen, policy,
            )  # fmt: skip
        out: list[tuple[list[int], list[float], int]] = []
        for i in range(m):
            if removed_query[i]:
                out.append(([], [], 0))
                continue
            pins = held[i]
            rows, scores = chosen[i]
            if not pins:
                out.append((rows[:k], scores[:k], 0))
                continue
            query_tags = None if tags is None else tags[i]
            pin_scores = [
                self.explain_rows(
                    queries[i], times[i], sections[i], query_tags, r, policy, terms=False
                ).score
                for r in pins
            ]
            out.append(((pins + rows)[:k], (pin_scores + scores)[:k], min(len(pins), k)))
        return out, queries, own_factor

    def kneighbors(
        self, rows: np.ndarray, k: int, policy: Policy, batch: int = 1024
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every list of index rows as arrays: ``(scores, indices)``, shape ``(m, k)``.

        The same lists as :meth:`related_rows`, padded with 0.0 / -1; indices are rows.
        """
        scores = np.zeros((len(rows), k), dtype=np.float32)
        indices = np.full((len(rows), k), -1, dtype=np.int64)
        with _collector_paused(len(rows)):
            self._kneighbors_into(scores, indices, rows, k, policy, batch)
        return scores, indices

    def _kneighbors_into(
        self,
        scores: np.ndarray,
        indices: np.ndarray,
        rows: np.ndarray,
        k: int,
        policy: Policy,
        batch: int,
    ) -> None:
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            sections, times, tags = self.query_arrays(part, policy)
            found, _, _ = self.choose_lists(
                take_rows(self.index.matrix, part), part, self.index.section_codes[part],
                sections, times, tags, k, policy, own_rows=True,
            )  # fmt: skip
            for i, (chosen, values, _) in enumerate(found, start):
                indices[i, : len(chosen)] = chosen
                scores[i, : len(chosen)] = values

    def related_rows(
        self,
        rows: np.ndarray,
        k: int,
        policy: Policy,
        extra_exclude: Sequence[int] = (),
        explain: bool = False,
    ) -> list[list[Related]]:
        """The lists of index rows."""
        sections, times, tags = self.query_arrays(rows, policy)
        with _collector_paused(len(rows)):
            return self.lists(
                take_rows(self.index.matrix, rows),
                rows,
                self.index.section_codes[rows],
                sections,
                times,
                tags,
                k,
                policy,
                extra_exclude=extra_exclude,
                explain=explain,
                own_rows=True,
            )

    def related_to(
        self,
        query: Query,
        k: int,
        policy: Policy,
        extra_exclude: Sequence[int] = (),
        explain: bool = False,
    ) -> list[Related]:
        """The list of an unseen article (see :meth:`RelatedArticles.related_to`)."""
        vector = self.archive.vectorizer.transform(
            [{"title": query.title, "body": query.body, "tags": query.tags}]
        )
        own = self.row_of.get(query.id, -1) if query.id is not None else -1
        # Without a section every section is searched; a section the model has never seen
        # has no same-section stories.
        section = None
        if query.section is not None:  # "politics\u200b" asks for the archive's "Politics"
            section = self.section_named.get(section_key(query.section), query.section)
        code = -1 if section is None else self.section_code.get(section, -1)
        tags = None
        if policy.tag_weight:
            tags = tag_rows([list(query.tags)], self.tag_vocabulary)[0]
        return self.lists(
            vector,
            np.array([own]),
            np.array([code]),
            [section or ""],
            days_since_epoch([query.published]),
            tags,
            k,
            policy,
            policy_name="any" if query.section is None else None,
            extra_exclude=extra_exclude,
            explain=explain,
        )[0]

    def _engine(
        self,
        queries: sp.csr_matrix,
        pending: np.ndarray,
        self_rows: np.ndarray,
        codes: np.ndarray,
        pool: int,
        policy_name: SectionPolicy,
        allowed: np.ndarray,
        rules: Rules,
        own_rows: bool,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The engine's top-``pool`` for the queries ``pending`` of a batch."""
        return self.index.query(
            take_rows(queries, pending),
            self_rows[pending],
            codes[pending],
            pool,
            policy_name,
            allowed,
            rules.take(pending),
            own_rows and pending.size == queries.shape[0],
        )

    def _choose(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        k: int,
        policy_name: SectionPolicy,
        allowed: np.ndarray,
        rules: Rules,
        held: list[list[int]],
        policy: Policy,
        own_rows: bool = False,
    ) -> list[Chosen]:
        """Top-k under the hard rules, then the post-pass, growing the pool while short."""
        m = queries.shape[0]
        need = [max(0, k - len(h)) for h in held]
        pending = np.array([i for i in range(m) if need[i] > 0], dtype=np.int64)
        chosen: list[Chosen] = [([], []) for _ in range(m)]
        if not pending.size:
            return chosen
        queries_p = take_rows(queries, pending)
        rules_p = rules.take(pending)
        need_p = [need[i] for i in pending]
        held_p = [held[i] for i in pending]
        self_p, codes_p = self_rows[pending], codes[pending]

        def fetch(which: np.ndarray, pool: int) -> list:
            whole = own_rows and pending.size == m
            return self._engine(
                queries_p, which, self_p, codes_p, pool, policy_name, allowed, rules_p, whole
            )

        def settle(which: np.ndarray, found: Sequence, full: list[bool]) -> list:
            wants = [need_p[j] for j in which]
            if not policy.post_pass:
                return [
                    (rows.tolist()[:n], scores.tolist()[:n])
                    for (rows, scores), n in zip(found, wants, strict=True)
                ]
            picks = choose(
                self.index.matrix,
                self.index.section_codes,
                found,
                wants,
                [held_p[j] for j in which],
                duplicate_threshold=policy.duplicate_threshold,
                max_per_section=policy.max_per_section,
                diversity=float(policy.diversity),
                compiled=self.index.compiled,
            )
            # A full pool may hide more candidates: ask again with a bigger one.
            return [
                None if len(picked[0]) < n and cut else picked
                for picked, n, cut in zip(picks, wants, full, strict=True)
            ]

        start = (3 * k + 10) if policy.post_pass else k
        for i, answer in zip(
            pending.tolist(), grow(len(pending), fetch, settle, start, self.n), strict=True
        ):
            chosen[i] = answer
        return chosen

    def _fill(
        self,
        step: str,
        short: list[int],
        queries: sp.csr_matrix,
        raw: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        sections: Sequence[str],
        times: np.ndarray,
        tags: sp.csr_matrix | None,
        k: int,
        allowed: np.ndarray,
        exclude_rows: list[np.ndarray],
        held: list[list[int]],
        chosen: list[Chosen],
        policy: Policy,
    ) -> None:
        """One fallback step for the lists still shorter than ``k`` (updates ``chosen``)."""
        idx = np.array(short, dtype=np.int64)
        keep = [
            np.concatenate([exclude_rows[i], np.array(chosen[i][0], dtype=np.int64)]) for i in short
        ]
        holds = [held[i] + chosen[i][0] for i in short]
        if step == "latest":
            for i, hold, excluded in zip(short, holds, keep, strict=True):
                extra = self._latest(
                    raw[i], int(self_rows[i]), int(codes[i]), float(times[i]), sections[i],
                    excluded, hold, k - len(hold), allowed, policy,
                )  # fmt: skip
                chosen[i] = (chosen[i][0] + extra, chosen[i][1] + [0.0] * len(extra))
            return
        relax = step == "relax_time"
        name: SectionPolicy = "any" if step == "any" else policy.section_policy
        short_sections = [sections[i] for i in short]
        if policy.feedback:
            # The step widens the candidates: look for copies of the query among them too.
            removal = self.rules(
                policy, times[idx], short_sections, None, keep, relax_time=relax, removal_only=True
            )
            copies, _ = self._plain_pass(
                raw[idx], self_rows[idx], codes[idx], name, allowed, removal,
                policy.duplicate_threshold, 0,
            )  # fmt: skip
            keep = [np.concatenate([e, c]) for e, c in zip(keep, copies, strict=True)]
        rules = self.rules(
            policy, times[idx], short_sections, None if tags is None else tags[idx], keep,
            relax_time=relax,
        )  # fmt: skip
        found = self._choose(
            queries[idx], self_rows[idx], codes[idx], k, name, allowed, rules, holds, policy
        )
        for i, (rows, scores) in zip(short, found, strict=True):
            chosen[i] = (chosen[i][0] + rows, chosen[i][1] + scores)

    def _latest(
        self,
        query: sp.csr_matrix,
        own: int,
        code: int,
        time: float,
        section: str,
        excluded: np.ndarray,
        held: list[int],
        need: int,
        allowed: np.ndarray,
        policy: Policy,
    ) -> list[int]:
        """The newest stories of a section (the "latest" fallback step), score 0.

        Every rule that removes stories still applies: exclusions, the time window and
        ``allow_newer``, copies of the story itself, one story per duplicate pair and the
        section quota. Only the ranking by similarity is given up.
        """
        if need <= 0:
            return []
        index = self.index
        candidates = index.groups[code] if 0 <= code < len(index.groups) else np.arange(self.n)
        mask = allowed[candidates] & ~np.isin(candidates, excluded) & (candidates != own)
        if policy.uses_time:
            ages, _ = time_rules(
                [section], policy.max_age, policy.recency_half_life, policy.section_overrides
            )
            gap = time - index.times[candidates]
            mask &= ~outside_window(gap, ages[0], policy.allow_newer)
        candidates = candidates[mask]
        threshold = policy.duplicate_threshold
        if threshold is not None and len(candidates):
            q = sp.csr_matrix(query, dtype=np.float64)
            cosine = sp.csr_matrix(index.matrix[candidates], dtype=np.float64) @ q.T
            candidates = candidates[cosine.toarray().ravel() < threshold]
        ranked = candidates[np.argsort(index.tiebreak[candidates], kind="stable")]
        rows, _ = select(
            ranked,
            np.zeros(len(ranked)),
            need,
            similarity=row_cosines(index.matrix, index.compiled),
            duplicate_threshold=threshold,
            max_per_section=policy.max_per_section,
            sections=index.section_codes,
            diversity=0.0,
            held=held,
        )
        return rows

    def results(
        self, rows: Sequence[int], scores: Sequence[float], *, pinned: bool = False
    ) -> list[Related]:
        """The box's records of index rows."""
        archive = self.archive
        ids, titles, sections = archive.ids, archive.titles, archive.sections
        snippets, published, urls = archive.snippets, archive.published, archive.urls
        values = scores.tolist() if isinstance(scores, np.ndarray) else map(float, scores)
        # Positional, in Related's field order: this loop builds every record of a batch.
        return [
            Related(
                ids[row], score, titles[row], sections[row], snippets[row], published[row],
                urls[row], pinned,
            )  # fmt: skip
            for row, score in zip(rows, values, strict=True)
        ]

    # ------------------------------------------------------------------ explain

    def explain(self, row: int, other: int, policy: Policy) -> Explanation:
        """Why index row ``other`` relates to index row ``row`` (see the façade's explain)."""
        rows = np.array([row])
        sections, times, tags = self.query_arrays(rows, policy)
        raw = query = self.index.matrix[rows]
        if not policy.feedback:
            return self.explain_rows(query, times[0], sections[0], tags, other, policy)
        # The vector related() ranks with, so the score here is the score shown there.
        _, exclude_rows = self.held_and_excluded(rows, self.visible, policy.k, True)
        query, _, own_factor = self.expand(
            query, rows, self.index.section_codes[rows], sections, times, policy,
            policy.section_policy, self.visible, exclude_rows,
        )  # fmt: skip
        return self.explain_rows(
            query, times[0], sections[0], tags, other, policy, own=raw,
            own_factor=float(own_factor[0]),
        )  # fmt: skip

    def explain_rows(
        self,
        query: sp.csr_matrix,
        time: float,
        section: str,
        tags: sp.csr_matrix | None,
        row: int,
        policy: Policy,
        *,
        terms: bool = True,
        own: sp.csr_matrix | None = None,
        own_factor: float = 1.0,
    ) -> Explanation:
        """Explanation of one (query row vector, index row) pair.

        With feedback, ``query`` is the expanded vector and ``own`` the article's own
        (``own * own_factor`` is its part of ``query``): the terms are then those of
        ``own`` that the index row shares, and the rest of the score is the feedback's.
        """
        q = sp.csr_matrix(query[0], dtype=np.float64) if query.shape[0] else sp.csr_matrix(query)
        x = sp.csr_matrix(self.index.matrix[row], dtype=np.float64)
        # Same summation order as the engine (the query's term order): the same bits.
        common, q_pos, x_pos = np.intersect1d(q.indices, x.indices, return_indices=True)
        products = q.data[q_pos] * x.data[x_pos]
        cosine = float(sum(products.tolist()))
        if own is not None and own.shape[0]:
            mine = sp.csr_matrix(own[0], dtype=np.float64)
            common, q_pos, x_pos = np.intersect1d(mine.indices, x.indices, return_indices=True)
            products = own_factor * mine.data[q_pos] * x.data[x_pos]
        decay = 1.0
        if policy.uses_time and not np.isnan(time) and not np.isnan(self.index.times[row]):
            _, lives = time_rules(
                [section], policy.max_age, policy.recency_half_life, policy.section_overrides
            )
            gap = abs(time - self.index.times[row])
            decay = float(np.exp2(-gap / lives[0])) if np.isfinite(lives[0]) else 1.0
        tag_bonus = 0.0
        index_tags = self.index.tags
        if policy.tag_weight and tags is not None and index_tags is not None and cosine > 0:
            shared = (tags[0] @ index_tags[row].T).toarray()
            tag_bonus = float(policy.tag_weight * shared.sum())
        score = cosine * decay + tag_bonus
        contributions: list[TermContribution] = []
        if terms and len(common):
            parts = self._field_parts(row)
            names = self.archive.vectorizer.get_feature_names_out()
            for col, product in zip(common.tolist(), products.tolist(), strict=True):
                value = product * decay
                split = {f: parts[f].get(col, 0.0) for f in parts}
                known = sum(split.values())
                total = float(x[0, col])
                # The stored row is float32, the parts float64: a remainder within float32
                # rounding of the value is rounding, not an occurrence in the body.
                body = total - known
                split["body"] = body if body > 1e-5 * total else 0.0
                whole = sum(split.values())
                for field_name, part in split.items():
                    if part > 0:
                        contributions.append(
                            TermContribution(names[col], field_name, value * part / whole)
                        )
            contributions.sort(key=lambda t: (-t.contribution, t.term, t.field))
        # Without feedback the terms make the whole cosine (the remainder is rounding).
        feedback = 0.0
        if own is not None:
            feedback = (cosine - float(sum(products.tolist()))) * decay
        return Explanation(score, cosine, decay, tag_bonus, tuple(contributions), feedback)

    def _field_parts(self, row: int) -> dict[str, dict[int, float]]:
        """Normalised per-field values of an index row, from its stored title and tags.

        The body is what remains of the row once title and tags are taken out (the model
        keeps titles and tags but not full bodies).
        """
        archive = self.archive
        doc = {"title": archive.titles[row], "body": "", "tags": "\n".join(archive.tags[row])}
        if archive.languages is not None:
            doc["language"] = archive.languages[row]  # the article's, not its title's
        values = archive.vectorizer.field_values(doc)
        norm = archive.norms[row]
        return {
            f: {c: float(v / norm) for c, v in vals.items()}
            for f, vals in values.items()
            if f != "body"
        }

    # ------------------------------------------------------------------ archive-wide

    def report(self, added: Sequence[Article], step: Grown) -> UpdateReport:
        """What an :meth:`~relatedness.RelatedArticles.add` of ``added`` did (this ranker
        holds the grown archive), and whether a refit is due."""
        grown = self.n > 1.5 * self.archive.vectorizer.n_documents_
        needs_refit = step.oov_rate > 0.2 or step.idf_drift > 0.1 or grown
        reweighed = [self.archive.ids[r] for r in self.added_rows(step)]
        return UpdateReport(
            [a.id for a in added], step.oov_rate, step.idf_drift, needs_refit, reweighed,
            step.new_terms,
        )  # fmt: skip

    def by_section(self, row: int, k: int, policy: Policy) -> dict[str, list[Related]]:
        """A row's best ``k`` stories of each section, sections by their best score."""
        rows = np.array([row])
        sections, times, tags = self.query_arrays(rows, policy)
        groups: dict[str, list[Related]] = {}
        for code, name in enumerate(self.section_names):
            # "same" against another section's group: the engine leaves the article's own
            # row out only where it is a candidate, so this is that section's best stories.
            found = self.lists(
                self.index.matrix[[row]], rows, np.array([code]), sections, times, tags, k,
                policy, policy_name="same", editorial=False,
            )[0]  # fmt: skip
            if found:
                groups[name] = found
        return dict(sorted(groups.items(), key=lambda item: -item[1][0].score))

    def new_articles(
        self, articles: Sequence[Article], snippet_chars: int
    ) -> tuple[Archive, Grown]:
        """The archive with checked new articles added, and the vocabulary growth step.

        New terms enter the vocabulary by the rules of :mod:`relatedness.features.growth`;
        the step says which earlier added articles were re-weighed, which terms entered and
        the out-of-vocabulary rate and idf drift.

        Raises
        ------
        DuplicateIdError
            An id is already in the archive.
        InvalidArticleError
            The ids are of another type than the archive's.
        """
        taken = [a.id for a in articles if a.id in self.row_of]
        if taken:
            msg = (
                f"{len(taken)} ids are already in the model, e.g. {taken[:5]!r}; remove() them "
                "first to replace a story."
            )
            raise DuplicateIdError(msg)
        ids = self.archive.ids
        if ids and type(articles[0].id) is not type(ids[0]):
            msg = (
                f"new ids are {type(articles[0].id).__name__} but the model's are "
                f"{type(ids[0]).__name__}; one corpus uses one id type."
            )
            raise InvalidArticleError(msg)
        articles = merge_sections(list(articles), self.section_names, stacklevel=5)
        base = self.current_archive()
        vec = base.vectorizer
        cleaned = [vec.clean_document(a) for a in articles]
        warn_cut(vec, articles)
        step = grow_vocabulary(vec, base.growth or Growth.start(vec), cleaned)
        more = Archive.of(step.vectorizer, step.rows, step.norms, articles, cleaned, snippet_chars)
        return base.grown(step, more), step

    def added_rows(self, step: Grown) -> np.ndarray:
        """Archive rows of the earlier added articles ``step`` re-weighed (this ranker being
        the archive after the step)."""
        growth = self.archive.growth
        first_added = self.n - (0 if growth is None else growth.n_added)
        return first_added + step.reweighed

    def affected(self, rows: np.ndarray, policy: Policy) -> np.ndarray:
        """Rows whose lists may change when ``rows`` are added or removed (see the façade)."""
        touched = np.zeros(self.n, dtype=bool)
        touched[rows] = True
        if len(rows):
            matrix = sp.csr_matrix(self.index.matrix, dtype=np.float64)
            terms = np.unique(matrix[rows].indices)
            # Any article holding one of those terms has a positive score with some of them.
            touched |= np.asarray((matrix[:, terms] != 0).sum(axis=1)).ravel() > 0
        if policy.feedback and len(rows):
            # Untouched articles keep their neighbours, but a touched neighbour lends their
            # expanded vector its terms, through which a changed article can enter the list.
            sharing = touched.copy()
            others = np.flatnonzero(~sharing)
            for start in range(0, len(others), 4096):
                batch = others[start : start + 4096]
                for row, found in zip(batch, self.feedback_neighbours(batch, policy), strict=True):
                    touched[row] = bool(sharing[found].any())
        return np.flatnonzero(touched)

    def duplicates(self, threshold: float) -> list[list[ArticleId]]:
        """Near-duplicate groups of the archive, as ids (canonical first)."""
        ids = self.archive.ids
        groups = duplicate_groups(self.index.matrix, threshold, self.index.times, ids)
        return [[ids[r] for r in group] for group in groups]

    def warm_up(self, policy: Policy) -> None:
        """Build now what each section's first query would otherwise build."""
        firsts = np.array([g[0] for g in self.index.groups if len(g)], dtype=np.int64)
        self.related_rows(firsts, policy.k, policy)
        self.archive.vectorizer.transform([{"title": "", "body": "warm up"}])


#: Below this many lists a batch is too small for the cycle collector to matter.
_COLLECTOR_BATCH = 256


@contextlib.contextmanager
def _collector_paused(n_lists: int) -> Iterator[None]:
    """Pause Python's cycle collector while a batch builds its lists.

    A batch allocates millions of small acyclic objects (tuples, lists, records) that
    reference counting frees; the collector, triggered by the allocation count, would scan
    the model's own objects each time (about 25% of ``kneighbors`` of 36,900 headlines).
    It runs again, as it was, when the batch ends.
    """
    if n_lists < _COLLECTOR_BATCH or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
