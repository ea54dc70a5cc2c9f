"""Seeded synthetic news corpus, calibrated to real news, for the all-pairs top-k benchmarks.

Usage::

    python benchmarks/corpus.py --n 100000 --seed 0 --out corpus.jsonl

or ``generate(n, seed=...)`` (an iterator of article dicts) and ``write_jsonl(path, n, ...)``.

Why synthetic
-------------
The exact engine's cost is set by the *shape* of the term/document matrix, not by the words:
the sparse product ``X @ X.T`` does ``sum_t df_t**2`` multiply-adds, so a benchmark corpus must
get right (1) how many distinct terms an article has and (2) how document frequencies are
distributed, at every corpus size. Real corpora of 100k-1M articles cannot ship (copyright), so
this module makes one from pronounceable pseudo-words built from syllables (no real vocabulary,
nothing copied from any news text), arranged so that the numbers below match the BBC developer
set (2,225 articles, ``shared/data/bbc.jsonl``, not in the repository) as measured by
``TfidfVectorizer(stop_words="english", sublinear_tf=True)`` on ``title + " " + body``.
``benchmarks/calibrate.py`` measures both corpora and prints the comparison.

Calibration numbers (BBC)
-------------------------
- distinct terms per article after stop words: mean 144.8, median 131 (1st-99th pct 59-350);
  across articles distinct ~ words**0.83;
- W = sum_t df_t**2 / N**2 = 8.36; the top 10 terms alone give 1.93, the top 100 give 4.32,
  the top 1,000 give 7.55: a head of common content words in 20-85% of articles (the most
  common in 85%), then a Zipf tail;
- sorted df fractions: 0.85 (rank 1), 0.36 (rank 5), 0.21 (rank 20), 0.10 (rank 150),
  0.033 (rank 950), 0.0054 (rank 4,600); a cubic in log-rank fits ranks 1-5,000 within 10%
  (``DF_CUBIC``);
- after Snowball stemming (the library's analyzer stems) W rises to 11.22, because inflected
  forms of common words merge;
- vocabulary 29,126 terms; Heaps: 10.3k terms in 250 articles, 20.6k in 1,000 (beta ~0.48);
- body length 84-4,428 words, median 326, log-normal-ish (sd of ln words 0.47);
- 45.4% of word tokens are stop words; content tokens per distinct term 1.39; 79% of
  (article, term) pairs have tf 1, an article's top tf averages 8.4;
- sections are topical: per-section W is 1.1-2.0x the global W, and the mean cosine between
  two articles is 0.045 within a section vs 0.019 across sections (5 sections).

The model
---------
Every term has a rank ``r`` and a *document probability* ``p(r)``, the fraction of articles
that contain it: the BBC cubic up to the rank where its log-log slope reaches ``-TAIL_SLOPE``,
then a power law with that slope (rare words keep appearing as N grows: Heaps' law with beta
~0.5). Because ``p`` is a fraction of N, not a count, ``W ~ sum_r p(r)**2`` is the same at every
N (scale-free), and so is the mean number of distinct terms per article, ``sum_r p(r)``.

An article of ``words`` words (log-normal) gets a length factor ``g = (words/326)**0.83`` and
contains term ``r`` when a Poisson process of rate ``g * lam[section, r]`` fires at least once;
``lam`` is solved numerically so that the average over lengths and sections gives back
``p(r)``. Sections (each 3/4 the size of the previous: 26% down to 2% for 10) are topical:
every term past the ``N_GENERAL`` most common has a home section that holds ``SECTION_SHARE``
of its occurrences, so same-section articles share more words than cross-section ones while
the global df, hence W, is unchanged. The ``HEAD`` most common ranks are drawn as a dense
Bernoulli matrix per chunk, the rest as a Poisson number of draws from the tail distribution.

Words: rank -> pseudo-word is a seeded bijection (frequent ranks get shorter words); for
``PLURAL_RATE`` of the rank pairs (2k, 2k+1) the second word is the first plus "s", so a
stemmer merges them as it merges "year"/"years" (this reproduces BBC's stemmed W).

Text: content tokens (54.6% of the words, as in BBC) are spread over the article's terms,
repeats going mostly to a few "focus" terms (like names in a story) and to common words;
common English function words fill in the rest; tokens are shuffled and cut into sentences and
paragraphs. Titles take 5-12 words, mostly the article's own top (tf times rarity) terms.
Story clusters: inside each chunk and section, consecutive articles form stories (events) of
``1 + Geometric(1/STORY_MEAN)`` articles; each story has a pool of ``STORY_POOL`` rare terms
and ``STORY_SHARE`` of its articles' tail draws come from that pool. This gives the score
structure of real news (classic model, BBC: median best cosine 0.367, median 10th-best 0.177;
see benchmarks/CALIBRATION.md and ``calibrate.py --scores``), which independent draws lack
(0.175 / 0.143 before), while W barely moves.
``dup_rate`` of the articles are syndicated copies of a recent earlier article (same body and
section, reworded title) and ``short_rate`` are near-empty stubs. Dates are spread uniformly
over ``years`` calendar years ending 2025-12-31, increasing with the id.

Everything is vectorized over chunks of ``CHUNK`` articles with per-chunk seeds derived from
``seed``: a seed gives byte-identical output, and 1M articles stream in bounded memory
(~150 MB)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any, TextIO

import numpy as np

__all__ = ["generate", "write_jsonl", "main", "BBC"]

#: BBC reference numbers (measured with the reference analyzer, see the module docstring).
BBC = {
    "n": 2225,
    "vocab": 29126,
    "distinct_mean": 144.8,
    "distinct_median": 131.0,
    "words_median": 326.0,
    "W": 8.36,
    "W_stem": 11.22,
}

# --- calibrated parameters ------------------------------------------------------------------

#: ln p(r) as a cubic in ln r, least-squares fit to BBC's sorted df fractions, ranks 1-5,000.
DF_CUBIC = (-0.01328367, 0.12815354, -0.73330101, -0.15688007)
#: Log-log slope of the df tail past the cubic; 2 gives Heaps beta ~0.5, as BBC.
TAIL_SLOPE = 2.0
#: The tail is truncated here (document probability ~1e-12: a term never seen at 1M articles).
MAX_RANK = 200_000_000
#: Body length in words: log-normal with BBC's median and spread, clipped to BBC's range.
WORDS_MEDIAN = 326.0
WORDS_LOG_SD = 0.47
WORDS_RANGE = (80, 4500)
#: distinct terms ~ words ** DISTINCT_ELASTICITY (BBC regression across articles).
DISTINCT_ELASTICITY = 0.83
#: Fraction of body word tokens that are stop words (BBC: 45.4%).
STOP_FRACTION = 0.454
#: Size ratio of consecutive sections (largest first).
SECTION_DECAY = 0.755
#: Highest document probability any term may have inside one section.
MAX_SECTION_P = 0.95
#: The most frequent ranks are general news words ("said", "year"): no home section.
N_GENERAL = 20
#: Fraction of a topical term's occurrences that fall in its home section.
SECTION_SHARE = 0.65
#: Ranks drawn as a dense Bernoulli matrix; the rest by sampling the tail distribution.
HEAD = 512
#: Articles generated per vectorized chunk (bounded memory; fixes the per-chunk seeds).
CHUNK = 2048
#: Repeated tokens go to an article's terms in proportion to REPEAT_BASE, plus FOCUS_WEIGHT for
#: its 1 + Poisson(FOCUS_EXTRA) focus terms, plus COMMON_WEIGHT * p for common words. Matched
#: to BBC: 79% of (article, term) pairs have tf 1, an article's top tf averages 8.4, and the
#: most common term appears 3.8 times where present.
REPEAT_BASE = 0.1
FOCUS_EXTRA = 1.5
FOCUS_WEIGHT = 16.0
#: Focus terms lean rare (names in a story) but not always: score = RARITY_BIAS * -ln p + Gumbel.
RARITY_BIAS = 0.5
#: Common words get repeated more (BBC: "said" appears 3.8 times where present).
COMMON_WEIGHT = 10.0
#: Mean words per sentence and chance that a sentence ends its paragraph.
SENTENCE_WORDS = 22.0
PARAGRAPH_END = 0.2
COMMA_RATE = 0.05
#: Story clusters (events): inside a chunk and a section, consecutive articles are grouped into
#: stories of 1 + Geometric(1 / STORY_MEAN) articles on average (a story may continue over
#: many articles: follow-ups of one event). Each story has a pool of STORY_POOL rare terms drawn
#: from the tail law (names, places of the event), and STORY_SHARE of an article's tail draws
#: come from its story's pool instead of fresh draws, so articles of one story share rare,
#: high-idf terms: this sets the best-neighbour cosine (BBC: median 0.367 with the classic
#: model) while the df law, hence W, barely moves (rare terms weigh little in sum df**2).
STORY_MEAN = 7.5
STORY_POOL = 60
STORY_SHARE = 0.45
#: Story pool terms are drawn at ranks >= STORY_MIN_RANK (rare enough to be an event's own).
STORY_MIN_RANK = 2000
#: Date range end; dates run over ``years`` whole calendar years up to it.
LAST_DAY = "2025-12-31"

# Common English function words, most frequent first. All are in scikit-learn's
# ENGLISH_STOP_WORDS, so every analyzer under test removes them (checked by calibrate.py).
# fmt: off
FUNCTION_WORDS = (
    "the", "to", "of", "and", "a", "in", "that", "is", "for", "it", "on", "was", "with", "he", "as",
    "at", "by", "be", "have", "from", "has", "but", "are", "his", "an", "not", "they", "this",
    "had", "which", "will", "were", "been", "would", "their", "its", "who", "or", "we", "there",
    "more", "also", "after", "she", "up", "than", "over", "one", "can", "if", "about", "all",
    "into", "her", "out", "could", "when", "them", "two", "last", "first", "should", "so", "some",
    "only", "other", "no", "now", "may", "what", "our", "him", "being", "before", "then", "because",
    "against", "since", "while", "many", "most", "very", "still", "those", "such", "both",
    "between", "under", "during", "much", "through",
)
# fmt: on
#: Function words that fit inside a headline.
TITLE_FUNCTION_WORDS = ("in", "of", "to", "for", "on", "as", "over", "after", "with", "at", "by")
_FUNCTION_ARRAY = np.array(FUNCTION_WORDS, dtype=object)
_CAPITAL_FUNCTION_ARRAY = np.array([w.capitalize() for w in FUNCTION_WORDS], dtype=object)
_TITLE_FUNCTION_ARRAY = np.array(TITLE_FUNCTION_WORDS, dtype=object)
#: Zipf weights of the function words (the most frequent is ~16% of stop-word tokens) as a
#: lookup table: a uniform index into it draws a function word (faster than rng.choice).
_FUNCTION_P = 1.0 / (np.arange(len(FUNCTION_WORDS)) + 1.5)
_FUNCTION_TABLE = np.repeat(
    np.arange(len(FUNCTION_WORDS)), np.round(_FUNCTION_P / _FUNCTION_P.sum() * 4096).astype(int)
)

# Pseudo-word syllables: onset + nucleus + coda. Onsets are never a coda letter followed by
# another onset and codas are single letters, so a word splits into syllables one way only:
# distinct syllable tuples give distinct words.
# fmt: off
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "tr",
           "pl", "ch", "sh")
# fmt: on
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ea", "ou")
_CODAS = ("", "n", "r", "l", "s", "m")
#: Stop words a syllable tuple can spell (English stop lists of scikit-learn and nltk);
#: those tuples get an "x" appended (no syllable contains "x", so words stay unique).
# fmt: off
_RESERVED = frozenset(
    (
        "be", "before", "beside", "besides", "de", "detail", "do", "don", "done", "fire", "five",
        "for", "former", "four", "give", "go", "ma", "made", "me", "mine", "more", "move", "name",
        "never", "nine", "no", "none", "nor", "per", "please", "re", "same", "several", "shan",
        "she", "side", "so", "some", "take", "ten", "to", "ve",
    )
)
# fmt: on
#: Share of rank pairs (2k, 2k+1) that are a word and its plural (see ``_Lexicon.words``).
PLURAL_RATE = 0.85
#: Ranks below this get one-syllable words, then two syllables, then three (Zipf's law of
# abbreviation: frequent words are short).
_ONE_SYLLABLE = 256
_TWO_SYLLABLES = 400_000


# --- pseudo-words ---------------------------------------------------------------------------

_SYLLABLES = [o + n + c for o in _ONSETS for n in _NUCLEI for c in _CODAS]
_SYLLABLE_ARRAY = np.array(_SYLLABLES, dtype=object)
_CAPITAL_SYLLABLE_ARRAY = np.array([syl.capitalize() for syl in _SYLLABLES], dtype=object)
_SYLLABLE_INDEX = {syl: i for i, syl in enumerate(_SYLLABLES)}


def _split_syllables(word: str) -> list[str] | None:
    """Split ``word`` into onset-nucleus-coda syllables, or None if it cannot be spelled."""
    if not word:
        return []
    for onset in _ONSETS:
        for nucleus in _NUCLEI:
            head = onset + nucleus
            if not word.startswith(head):
                continue
            for coda in _CODAS:
                if word.startswith(head + coda):
                    rest = _split_syllables(word[len(head + coda) :])
                    if rest is not None:
                        return [head + coda, *rest]
    return None


def _unit_hash(x: np.ndarray, key: int) -> np.ndarray:
    """Deterministic uniform [0, 1) number per integer of ``x`` (splitmix64 mixing)."""
    z = (x.astype(np.uint64) + np.uint64(key)) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53


class _Lexicon:
    """Seeded bijection from term rank to a pronounceable pseudo-word.

    Rank -> tier (1, 2 or 3 syllables: frequent words are short, Zipf's law of abbreviation)
    -> seeded affine permutation of the tier's index space -> base-``n_syllables`` digits,
    mixed and scrambled per position -> syllables. Every step is invertible, so distinct
    ranks give distinct words and the ranks whose word spells a stop word can be found in
    advance (those words get an "x" appended; no syllable contains "x").
    """

    #: (first rank, syllables per word) of each tier.
    TIERS = ((0, 1), (_ONE_SYLLABLE, 2), (_TWO_SYLLABLES, 3))

    def __init__(self, rng: np.random.Generator) -> None:
        n = len(_SYLLABLES)
        self.mult: list[int] = []
        self.add: list[int] = []
        for _, parts in self.TIERS:
            cap = n**parts
            # A multiplier coprime to the capacity makes r -> a r + b (mod cap) a permutation;
            # near the golden ratio it spreads consecutive ranks far apart.
            a = int(cap * 0.6180339887) + int(rng.integers(0, 1000))
            while math.gcd(a, cap) != 1:
                a += 1
            self.mult.append(a)
            self.add.append(int(rng.integers(0, cap)))
        self.perm = np.stack([rng.permutation(n) for _ in self.TIERS])
        self.inv_perm = np.argsort(self.perm, axis=1)
        reserved = (self.rank_of(w) for w in sorted(_RESERVED))
        self.reserved_ranks = np.array(sorted(r for r in reserved if r is not None), np.int64)
        self.family_key = int(rng.integers(0, 2**62))

    def rank_of(self, word: str) -> int | None:
        """Rank whose pseudo-word is ``word`` (before the stop-word fix), or None."""
        parts = _split_syllables(word)
        if not parts or len(parts) > len(self.TIERS):
            return None
        n = len(_SYLLABLES)
        tier = len(parts) - 1
        digits = [int(self.inv_perm[k][_SYLLABLE_INDEX[s]]) for k, s in enumerate(parts)]
        digits[0] = (digits[0] - sum(digits[1:])) % n
        cap = n ** len(parts)
        idx = sum(d * n**k for k, d in enumerate(digits))
        rank = (idx - self.add[tier]) * pow(self.mult[tier], -1, cap) % cap + self.TIERS[tier][0]
        upper = self.TIERS[tier + 1][0] if tier + 1 < len(self.TIERS) else self.TIERS[tier][0] + cap
        return rank if rank < upper else None

    def words(self, ranks: np.ndarray, capital: bool = False) -> np.ndarray:
        """Pseudo-word of each rank (object array of str), capitalized if ``capital``.

        Real vocabularies come in inflection families ("year"/"years") that a stemmer merges,
        which raises the df of the merged terms (BBC's W goes from 8.4 to 11.2 under Snowball
        stemming). So for a seeded PLURAL_RATE of the pairs (2k, 2k+1), rank 2k+1 is the
        plural of rank 2k: its word is rank 2k's word plus "s" (when that ends in n, r, l or
        m, so Snowball strips the "s" and no other word has this ending).
        """
        ranks = np.asarray(ranks, dtype=np.int64)
        out = self._base_words(ranks, capital)
        plural = (ranks % 2 == 1) & (_unit_hash(ranks // 2, self.family_key) < PLURAL_RATE)
        if plural.any():
            stems = self._base_words(ranks[plural] - 1, capital)
            ok = np.fromiter((w[-1] in "nrlm" for w in stems), dtype=bool, count=len(stems))
            out[np.flatnonzero(plural)[ok]] = stems[ok] + "s"
        return out

    def _base_words(self, ranks: np.ndarray, capital: bool = False) -> np.ndarray:
        """The bijective rank -> word mapping, before plural families."""
        ranks = np.asarray(ranks, dtype=np.int64)
        n = len(_SYLLABLES)
        out = np.empty(ranks.shape, dtype=object)
        # The last tier holds n**3 ~ 8.8e8 words, far more than MAX_RANK.
        bounds = [t[0] for t in self.TIERS[1:]] + [self.TIERS[-1][0] + n ** self.TIERS[-1][1]]
        for tier, ((lo, parts), hi) in enumerate(zip(self.TIERS, bounds, strict=True)):
            sel = (ranks >= lo) & (ranks < hi)
            if not sel.any():
                continue
            idx = (self.mult[tier] * (ranks[sel] - lo) + self.add[tier]) % n**parts
            digits = [(idx // n**k) % n for k in range(parts)]
            # Mix the digits (invertibly) so that ranks sharing a high digit do not all end
            # in the same syllable.
            digits[0] = (digits[0] + sum(digits[1:])) % n
            first = _CAPITAL_SYLLABLE_ARRAY if capital else _SYLLABLE_ARRAY
            word = first[self.perm[0][digits[0]]]
            for k in range(1, parts):
                word = word + _SYLLABLE_ARRAY[self.perm[k][digits[k]]]
            out[sel] = word
        reserved = np.isin(ranks, self.reserved_ranks)
        if reserved.any():
            out[reserved] = out[reserved] + "x"
        return out


# --- document-frequency model ---------------------------------------------------------------


def _tail_start() -> tuple[float, float]:
    """Return ``(ln r_t, ln p(r_t))`` where the cubic's slope reaches ``-TAIL_SLOPE``."""
    a, b, c, d = DF_CUBIC
    # slope(L) = 3a L^2 + 2b L + c = -TAIL_SLOPE; take the root in the falling tail.
    roots = np.roots([3 * a, 2 * b, c + TAIL_SLOPE])
    log_r = float(max(x.real for x in roots if abs(x.imag) < 1e-12))
    return log_r, float(np.polyval(DF_CUBIC, log_r))


def doc_probability(rank: np.ndarray) -> np.ndarray:
    """Fraction of articles containing the term of each 0-based ``rank``.

    Parameters
    ----------
    rank : ndarray of int
        0-based term ranks (rank 0 is the most common term).

    Returns
    -------
    ndarray of float64
        ``p(rank + 1)``: the BBC-fitted cubic in log-rank, then a power-law tail.
    """
    log_r = np.log(np.asarray(rank, dtype=np.float64) + 1.0)
    log_rt, log_pt = _tail_start()
    cubic = np.polyval(DF_CUBIC, np.minimum(log_r, log_rt))
    return np.exp(np.where(log_r < log_rt, cubic, log_pt - TAIL_SLOPE * (log_r - log_rt)))


def section_shares(n_sections: int) -> np.ndarray:
    """Skewed section sizes: each section is 3/4 the size of the previous one.

    For 10 sections that is 26.5% down to 2.1%, like a news site's big desks (politics,
    business, sport) and small ones.
    """
    w = SECTION_DECAY ** np.arange(n_sections)
    return w / w.sum()


def _length_nodes(n_nodes: int = 64) -> np.ndarray:
    """Length factors ``g`` at equal-probability quantiles of the article length law."""
    z = np.array([NormalDist().inv_cdf((i + 0.5) / n_nodes) for i in range(n_nodes)])
    words = np.clip(WORDS_MEDIAN * np.exp(WORDS_LOG_SD * z), *WORDS_RANGE)
    return (words / WORDS_MEDIAN) ** DISTINCT_ELASTICITY


def _solve_rates(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Poisson rates ``lam`` with ``mean_g(1 - exp(-g * lam)) == q``, elementwise.

    Short articles see a term less often than long ones; solving for ``lam`` over the length
    distribution keeps the *average* document frequency at the target ``q``. Newton's method
    from ``q / mean(g)`` (below the root, as the left side is concave and below ``lam mean(g)``)
    climbs monotonically to the root.
    """
    lam = q / g.mean()
    for _ in range(30):
        e = np.exp(-np.multiply.outer(lam, g))
        f = 1.0 - e.mean(axis=-1)
        lam = lam + (q - f) / (e * g).mean(axis=-1)
    return lam


@dataclass(frozen=True)
class _Model:
    """Everything fixed for one (seed, n_sections): rates, tail sampler, word scrambler."""

    shares: np.ndarray  # (S,) section probabilities
    head_rate: np.ndarray  # (S, HEAD) float32 Poisson rates of the head ranks per section
    tail_rate: float  # expected tail draws for g = 1
    tail_table_cdf: np.ndarray  # cdf over ranks HEAD..rank_t-1 (the cubic part of the tail)
    tail_table_guide: np.ndarray  # guide table: first cdf index >= j / len(guide)
    tail_table_mass: float  # share of tail draws falling in that table
    rank_t: float  # first rank of the pure power law
    lexicon: _Lexicon  # rank -> pseudo-word


def _build_model(seed: int, n_sections: int) -> _Model:
    """Solve the per-section Poisson rates and set up the samplers (seeded, deterministic)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    shares = section_shares(n_sections)
    g = _length_nodes()

    # Head: each topical rank gets a home section (in proportion to size, so every section
    # has about the same number of words per article) holding SECTION_SHARE of its
    # occurrences, capped so that no term exceeds MAX_SECTION_P inside a section.
    ranks = np.arange(HEAD)
    p = doc_probability(ranks)
    home = rng.choice(n_sections, size=HEAD, p=shares)
    mult = np.ones((n_sections, HEAD))
    if n_sections > 1:
        s_home = shares[home]
        m_home = np.minimum(SECTION_SHARE / s_home, MAX_SECTION_P / p)
        m_home = np.where(ranks < N_GENERAL, 1.0, np.maximum(m_home, 1.0))
        m_other = (1.0 - s_home * m_home) / (1.0 - s_home)
        mult[:] = m_other
        mult[home, ranks] = m_home
    q = np.minimum(p * mult, MAX_SECTION_P)
    head_rate = _solve_rates(q, g).astype(np.float32)

    # Tail: ranks >= HEAD are rare (p < 5%), where the Poisson rate is ~p / mean(g). Draws
    # come from a table over the cubic part and a continuous Pareto past rank_t.
    mean_g = float(g.mean())
    log_rt, log_pt = _tail_start()
    rank_t = math.exp(log_rt)
    table_p = doc_probability(np.arange(HEAD, int(rank_t)))
    pareto_mass = math.exp(log_pt) * rank_t / (TAIL_SLOPE - 1.0)
    table_mass = float(table_p.sum())
    tail_mass = table_mass + pareto_mass
    table_cdf = np.cumsum(table_p) / table_mass
    table_cdf[-1] = 1.0

    return _Model(
        shares=shares,
        head_rate=head_rate,
        tail_rate=tail_mass / mean_g,
        tail_table_cdf=table_cdf,
        tail_table_guide=np.searchsorted(
            table_cdf, np.arange(4 * len(table_cdf)) / (4 * len(table_cdf))
        ),
        tail_table_mass=table_mass / tail_mass,
        rank_t=rank_t,
        lexicon=_Lexicon(rng),
    )


# --- one chunk ------------------------------------------------------------------------------


def _groups(doc: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """Start offset and size of each doc's run in an array sorted by ``doc``."""
    size = np.bincount(doc, minlength=n_docs)
    start = np.concatenate(([0], np.cumsum(size)[:-1]))
    return start, size


def _rank_within(doc: np.ndarray, score: np.ndarray, n_docs: int) -> np.ndarray:
    """Position of each item inside its doc when the doc's items are sorted by descending score.

    ``doc`` must be sorted (non-decreasing).
    """
    # One float sort instead of a lexsort: doc in the integer part, -score (clipped) below it.
    key = doc * 1e4 + np.clip(-score, -4999.0, 4999.0)
    order = np.argsort(key)
    start, _ = _groups(doc, n_docs)
    pos = np.empty(len(doc), dtype=np.int64)
    pos[order] = np.arange(len(doc)) - start[doc[order]]
    return pos


def _shuffle_within(doc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Permutation that groups items by ``doc`` (ascending) in random order inside each doc.

    Sorts one packed int64 per item, ``doc | random | index`` from high to low bits (a value
    sort is about twice as fast as an argsort), then reads the index back from the low bits.
    """
    n = len(doc)
    if n >= 1 << 24 or len(doc) and doc.max() >= 1 << 11:
        return np.argsort(doc + rng.random(n))
    key = (doc << 52) | (rng.integers(0, 1 << 28, size=n) << 24) | np.arange(n)
    return np.sort(key) & ((1 << 24) - 1)


#: Token separators by code: plain, comma, sentence end, paragraph end, article end.
_SEPARATORS = np.array([" ", ", ", ". ", ".\n\n", "."], dtype=object)


def _join_runs(tokens: list[str], size: np.ndarray, sep: str) -> list[str]:
    """Join consecutive runs of ``size[i]`` tokens with ``sep``."""
    out = []
    pos = 0
    for n in size.tolist():
        out.append(sep.join(tokens[pos : pos + n]))
        pos += n
    return out


def _inverse_cdf(cdf: np.ndarray, guide: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``np.searchsorted(cdf, u)`` by guide table (Chen 1974): a lookup, then a few steps."""
    i = guide[(u * len(guide)).astype(np.int64)]
    todo = np.flatnonzero(cdf[i] < u)
    while len(todo):
        i[todo] += 1
        todo = todo[cdf[i[todo]] < u[todo]]
    return i


def _tail_ranks(
    model: _Model, rng: np.random.Generator, count: int, min_rank: int = HEAD
) -> np.ndarray:
    """Draw ``count`` ranks >= ``min_rank`` from the tail law (the cubic table, then Pareto)."""
    lo = 0.0
    if min_rank > HEAD:
        # Inverse-cdf sampling restricted to ranks >= min_rank: start u past their mass.
        lo = model.tail_table_mass * float(model.tail_table_cdf[min_rank - HEAD - 1])
    u = lo + (1.0 - lo) * rng.random(count)
    in_table = u < model.tail_table_mass
    t_rank = np.empty(count, dtype=np.int64)
    t_rank[in_table] = HEAD + _inverse_cdf(
        model.tail_table_cdf, model.tail_table_guide, u[in_table] / model.tail_table_mass
    )
    v = (u[~in_table] - model.tail_table_mass) / (1.0 - model.tail_table_mass)
    # Inverse cdf of the power law truncated at MAX_RANK.
    shape = TAIL_SLOPE - 1.0
    v *= 1.0 - (model.rank_t / MAX_RANK) ** shape
    t_rank[~in_table] = (model.rank_t * (1.0 - v) ** (-1.0 / shape)).astype(np.int64)
    return t_rank


def _to_section(rank: np.ndarray, section: np.ndarray, n_sections: int) -> np.ndarray:
    """Move tail ranks to the neighbouring rank dealt (round-robin) to ``section``."""
    return rank + section - (rank - HEAD) % n_sections


def _stories(rng: np.random.Generator, section: np.ndarray, n_sections: int) -> np.ndarray:
    """Story id of each article: runs of consecutive same-section articles, geometric sizes."""
    story = np.empty(len(section), dtype=np.int64)
    next_id = 0
    for s in range(n_sections):
        members = np.flatnonzero(section == s)
        if not len(members):
            continue
        sizes = 1 + rng.geometric(1.0 / STORY_MEAN, size=len(members))
        ids = np.repeat(np.arange(len(sizes)), sizes)[: len(members)]
        story[members] = next_id + ids
        next_id += int(ids[-1]) + 1
    return story


def _sample_terms(
    model: _Model,
    rng: np.random.Generator,
    section: np.ndarray,
    g: np.ndarray,
    story: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw each article's set of distinct terms: ``(doc, rank, tf)`` sorted by doc then rank."""
    n_docs = len(section)
    n_sections = len(model.shares)

    # Head ranks: term present when an Exp(1) draw beats the Poisson rate g * lam.
    thresh = model.head_rate[section] * g[:, None].astype(np.float32)
    hit = rng.standard_exponential(thresh.shape, dtype=np.float32) < thresh
    h_doc, h_rank = np.nonzero(hit)
    del thresh, hit

    # Tail ranks: Poisson number of draws (at least one, so no article is all stop words).
    n_tail = np.maximum(rng.poisson(g * model.tail_rate), 1)
    t_doc = np.repeat(np.arange(n_docs), n_tail)
    t_rank = _tail_ranks(model, rng, len(t_doc))
    # Topical tail: ranks are dealt to sections round-robin; a draw moves to the article's own
    # section's neighbouring rank with probability SECTION_SHARE.
    own = rng.random(len(t_doc)) < SECTION_SHARE
    t_rank[own] = _to_section(t_rank[own], section[t_doc[own]], n_sections)
    # Story clusters: a share of the tail draws come from the article's story pool.
    if story is not None and STORY_SHARE > 0:
        n_stories = int(story.max()) + 1
        pool = _tail_ranks(model, rng, n_stories * STORY_POOL, min_rank=STORY_MIN_RANK)
        pool = pool.reshape(n_stories, STORY_POOL)
        story_section = np.zeros(n_stories, dtype=np.int64)
        story_section[story] = section
        pool = _to_section(pool, story_section[:, None], n_sections)
        from_pool = np.flatnonzero(rng.random(len(t_doc)) < STORY_SHARE)
        pick = rng.integers(0, STORY_POOL, size=len(from_pool))
        t_rank[from_pool] = pool[story[t_doc[from_pool]], pick]

    # Merge into unique (doc, rank) pairs; repeated tail draws start with tf > 1.
    key = np.concatenate((h_doc << 40 | h_rank, t_doc << 40 | t_rank))
    key, tf = np.unique(key, return_counts=True)
    return key >> 40, key & ((1 << 40) - 1), tf


def _add_repeats(
    rng: np.random.Generator,
    doc: np.ndarray,
    rank: np.ndarray,
    tf: np.ndarray,
    p: np.ndarray,
    content: np.ndarray,
) -> None:
    """Raise ``tf`` in place until each article has about ``content[doc]`` content tokens.

    Repeats go mostly to a few focus terms (rarer words, like names in a story) and, less,
    to common words, as in real articles.
    """
    n_docs = len(content)
    n_focus = 1 + rng.poisson(FOCUS_EXTRA, size=n_docs)
    rarity = -RARITY_BIAS * np.log(p) + rng.gumbel(0, 1.0, len(rank))
    focus = _rank_within(doc, np.where(rank >= N_GENERAL, rarity, -1.0), n_docs) < n_focus[doc]

    # Multinomial draw per article, vectorized: one cumulative weight array for the chunk and
    # uniform targets inside each article's slice of it.
    start, size = _groups(doc, n_docs)
    extra = np.maximum(content - np.bincount(doc, weights=tf, minlength=n_docs), 0)
    weight = REPEAT_BASE + COMMON_WEIGHT * p + FOCUS_WEIGHT * focus
    cum = np.concatenate(([0.0], np.cumsum(weight)))
    before = cum[start]
    total = cum[start + size] - before
    e_doc = np.repeat(np.arange(n_docs), extra.astype(np.int64))
    target = before[e_doc] + rng.random(len(e_doc)) * total[e_doc]
    picked = np.clip(np.searchsorted(cum, target, side="right") - 1, 0, len(tf) - 1)
    tf += np.bincount(picked, minlength=len(tf))


def _bodies(
    model: _Model,
    rng: np.random.Generator,
    doc: np.ndarray,
    rank: np.ndarray,
    tf: np.ndarray,
    n_docs: int,
) -> list[str]:
    """Render articles: content tokens plus function words, shuffled, in sentences/paragraphs."""
    n_content = np.bincount(doc, weights=tf, minlength=n_docs).astype(np.int64)
    n_stop = np.rint(n_content * STOP_FRACTION / (1.0 - STOP_FRACTION)).astype(np.int64)
    s_doc = np.repeat(np.arange(n_docs), n_stop)
    s_word = _FUNCTION_TABLE[rng.integers(0, len(_FUNCTION_TABLE), size=len(s_doc))]
    uniq, inv = np.unique(rank, return_inverse=True)
    words = np.concatenate((model.lexicon.words(uniq), _FUNCTION_ARRAY))
    tok = np.concatenate((np.repeat(inv, tf), len(uniq) + s_word))
    order = _shuffle_within(np.concatenate((np.repeat(doc, tf), s_doc)), rng)
    tok = tok[order]
    t_size = n_content + n_stop

    # Sentences and paragraphs: geometric sentence lengths (a token ends its sentence with
    # probability 1/SENTENCE_WORDS, and that sentence its paragraph with PARAGRAPH_END); the
    # last token ends the article. One uniform per token decides all three.
    u = rng.random(len(tok))
    last = np.zeros(len(tok), dtype=bool)
    last[np.cumsum(t_size)[t_size > 0] - 1] = True
    p_end = 1.0 / SENTENCE_WORDS
    sep = np.where(u < p_end, np.where(u < p_end * PARAGRAPH_END, 3, 2), 0)
    sep[(u >= p_end) & (u < p_end + COMMA_RATE)] = 1
    sep[last] = 4
    first = np.concatenate(([True], sep[:-1] >= 2))
    # Every token carries its separator. Most are "word ", from a per-word table; only the
    # special ones (sentence starts and ends, commas) are assembled token by token.
    out = (words + " ")[tok]
    special = np.flatnonzero(first | (sep > 0))
    capital = np.empty(len(words), dtype=object)
    need = np.unique(tok[first])
    is_content = need < len(uniq)
    capital[need[is_content]] = model.lexicon.words(uniq[need[is_content]], capital=True)
    capital[len(uniq) :] = _CAPITAL_FUNCTION_ARRAY
    ids = tok[special]
    base = np.where(first[special], capital[ids], words[ids])
    out[special] = base + _SEPARATORS[sep[special]]
    return _join_runs(out.tolist(), t_size, "")


def _titles(
    rng: np.random.Generator,
    model: _Model,
    doc: np.ndarray,
    rank: np.ndarray,
    score: np.ndarray,
    docs: np.ndarray,
    n_docs: int,
) -> dict[int, str]:
    """Headlines for ``docs``: 5-12 words, mostly the article's top (tf x rarity) terms."""
    if len(docs) < n_docs:
        wanted = np.zeros(n_docs, dtype=bool)
        wanted[docs] = True
        keep = wanted[doc]
        doc, rank, score = doc[keep], rank[keep], score[keep]
    n_words = 5 + rng.binomial(7, 0.3, size=n_docs)
    n_func = rng.binomial(2, 0.4, size=n_docs)
    n_terms = n_words - n_func
    score = score + rng.gumbel(0, 0.7, len(rank))
    pos = _rank_within(doc, score, n_docs)
    take = pos < n_terms[doc]
    t_doc, t_rank, t_pos = doc[take], rank[take], pos[take]
    f_doc = np.repeat(docs, n_func[docs])
    f_word = rng.integers(0, len(TITLE_FUNCTION_WORDS), size=len(f_doc))
    words = np.concatenate((model.lexicon.words(t_rank), _TITLE_FUNCTION_ARRAY[f_word]))
    all_doc = np.concatenate((t_doc, f_doc))
    # The top term opens the headline and the second closes it; the others and the function
    # words go in between, in random order.
    key = rng.random(len(all_doc))
    key[: len(t_doc)][t_pos == 0] = 0.0
    key[: len(t_doc)][t_pos == 1] = 0.999
    key[len(t_doc) :] = 0.001 + 0.99 * key[len(t_doc) :]
    order = np.argsort(all_doc + key)
    _, size = _groups(all_doc, n_docs)
    out = {}
    joined = _join_runs(words[order].tolist(), size[docs], " ")
    for d, title in zip(docs.tolist(), joined, strict=True):
        out[d] = title[:1].upper() + title[1:]
    return out


def _chunk(
    model: _Model,
    rng: np.random.Generator,
    n_docs: int,
    dup_rate: float,
    short_rate: float,
) -> tuple[list[str], list[str], np.ndarray]:
    """Generate ``n_docs`` articles: return titles, bodies and section indices."""
    section = rng.choice(len(model.shares), size=n_docs, p=model.shares)
    words = np.exp(rng.normal(math.log(WORDS_MEDIAN), WORDS_LOG_SD, size=n_docs))
    words = np.clip(words, *WORDS_RANGE)
    short = rng.random(n_docs) < short_rate
    words[short] = rng.integers(4, 30, size=int(short.sum()))
    g = (words / WORDS_MEDIAN) ** DISTINCT_ELASTICITY

    story = _stories(rng, section, len(model.shares))
    doc, rank, tf = _sample_terms(model, rng, section, g, story)
    p = doc_probability(rank)
    content = np.rint(words * (1.0 - STOP_FRACTION))
    _add_repeats(rng, doc, rank, tf, p, content)
    bodies = _bodies(model, rng, doc, rank, tf, n_docs)

    # Near-duplicates: a recent earlier, original article's body and section, reworded title.
    dup = rng.random(n_docs) < dup_rate
    dup[0] = False
    originals = np.flatnonzero(~dup)
    back = rng.geometric(0.2, size=n_docs)
    source = np.full(n_docs, -1)
    for i in np.flatnonzero(dup).tolist():
        j = int(np.searchsorted(originals, i)) - int(back[i])
        source[i] = originals[max(j, 0)]
    title_score = np.log(tf) - 0.5 * np.log(p)
    titles = _titles(rng, model, doc, rank, title_score, np.arange(n_docs), n_docs)
    reworded = _titles(rng, model, doc, rank, title_score, np.unique(source[dup]), n_docs)
    title_list = [titles[i] for i in range(n_docs)]
    for i in np.flatnonzero(dup).tolist():
        j = int(source[i])
        title_list[i] = reworded[j]
        bodies[i] = bodies[j]
        section[i] = section[j]
    return title_list, bodies, section


# --- public API -----------------------------------------------------------------------------


def _section_names(n_sections: int) -> list[str]:
    """Section names "section-00", "section-01", ... (largest section first)."""
    width = max(2, len(str(n_sections - 1)))
    return [f"section-{k:0{width}d}" for k in range(n_sections)]


def generate(
    n: int,
    *,
    seed: int = 0,
    n_sections: int = 10,
    years: int = 10,
    dup_rate: float = 0.075,
    short_rate: float = 0.001,
) -> Iterator[dict]:
    """Yield ``n`` synthetic news articles, calibrated to BBC news (see the module docstring).

    Parameters
    ----------
    n : int
        Number of articles.
    seed : int, default 0
        Non-negative; the same seed and parameters give byte-identical articles.
    n_sections : int, default 10
        Number of sections; sizes are Zipf-skewed (for 10: ~26% down to ~2%).
    years : int, default 10
        Dates are spread uniformly over this many calendar years ending 2025-12-31, increasing
        with the id.
    dup_rate : float, default 0.075
        Fraction of articles that copy a recent earlier article's body and section under a
        reworded title (syndicated copies).
    short_rate : float, default 0.001
        Fraction of near-empty stub articles (4-30 words).

    Yields
    ------
    dict
        Keys ``id`` ("syn-0000001"), ``title``, ``body`` (paragraphs separated by a blank
        line), ``section``, ``published`` ("YYYY-MM-DD") and ``labels`` (``[section]``).

    Examples
    --------
    >>> rows = list(generate(3, seed=1))
    >>> [r["id"] for r in rows]
    ['syn-0000001', 'syn-0000002', 'syn-0000003']
    """
    if n < 0 or n_sections < 1 or years < 1:
        msg = f"need n >= 0, n_sections >= 1, years >= 1; got {n}, {n_sections}, {years}"
        raise ValueError(msg)
    if not (0.0 <= dup_rate < 1.0 and 0.0 <= short_rate < 1.0):
        msg = f"dup_rate and short_rate must be in [0, 1); got {dup_rate}, {short_rate}"
        raise ValueError(msg)
    model = _build_model(seed, n_sections)
    names = _section_names(n_sections)
    width = max(7, len(str(n)))
    last = np.datetime64(LAST_DAY)
    first = np.datetime64(f"{int(str(last)[:4]) - years + 1}-01-01")
    n_days = int((last - first).astype(int)) + 1
    for c, lo in enumerate(range(0, n, CHUNK)):
        count = min(CHUNK, n - lo)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, c)))
        titles, bodies, section = _chunk(model, rng, count, dup_rate, short_rate)
        # Uniform dates in id order: article i falls at (i + u) / n of the date range.
        pos = (lo + np.arange(count) + rng.random(count)) / n
        dates = np.datetime_as_string(first + (pos * n_days).astype(np.int64), unit="D")
        for k in range(count):
            name = names[section[k]]
            yield {
                "id": f"syn-{lo + k + 1:0{width}d}",
                "title": titles[k],
                "body": bodies[k],
                "section": name,
                "published": str(dates[k]),
                "labels": [name],
            }


def write_jsonl(path: str | Path, n: int, **kwargs: Any) -> int:
    """Stream ``generate(n, **kwargs)`` to ``path`` as UTF-8 JSON Lines ("-" for stdout).

    Parameters
    ----------
    path : str or Path
        Output file (overwritten), or "-" for standard output.
    n : int
        Number of articles.
    **kwargs
        Passed to :func:`generate` (``seed``, ``n_sections``, ``years``, ``dup_rate``, ...).

    Returns
    -------
    int
        Number of articles written.
    """
    if str(path) == "-":
        return _write_rows(sys.stdout, generate(n, **kwargs))
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        return _write_rows(out, generate(n, **kwargs))


def _write_rows(out: TextIO, rows: Iterator[dict]) -> int:
    """Write ``rows`` to ``out`` as JSON Lines; return how many."""
    count = 0
    for row in rows:
        # The generated text is ASCII, so the default ensure_ascii output is plain UTF-8 and
        # this encoder path is the faster one.
        out.write(json.dumps(row) + "\n")
        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python benchmarks/corpus.py --n 100000 --seed 0 --out corpus.jsonl``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, required=True, help="number of articles")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="-", help="output .jsonl path ('-' = stdout)")
    ap.add_argument("--sections", type=int, default=10)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--dup-rate", type=float, default=0.075)
    ap.add_argument("--short-rate", type=float, default=0.001)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        count = write_jsonl(
            args.out,
            args.n,
            seed=args.seed,
            n_sections=args.sections,
            years=args.years,
            dup_rate=args.dup_rate,
            short_rate=args.short_rate,
        )
    except BrokenPipeError:  # stdout piped into e.g. `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(f"wrote {count} articles in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
