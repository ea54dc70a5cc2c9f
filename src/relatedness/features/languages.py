"""Which language an article is written in, cheaply, for ``language="auto"``.

The script decides first: kana means Japanese, Hangul Korean, other Han characters Chinese,
Arabic letters Arabic, Cyrillic Russian. Latin-script text is scored by the stop words of each
Snowball language among its first words, each hit weighing one over the number of languages
that share the word ("a" tells little, "the" or "não" much); the best language must score
clearly (``MIN_SCORE``) and well ahead of the second (``MARGIN``), else the text is too short
to tell and the caller's default is returned (under ``language="auto"``, the archive's main
language). A few thousand characters of an article are read, so detection
costs a small fraction of its analysis.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from .analysis import raw_tokens, stop_words_for

__all__ = ["LATIN", "detect_language", "describe"]

#: The Latin-script languages told apart by their stop words, in the order that breaks ties.
LATIN = (
    "english", "portuguese", "spanish", "french", "german", "italian", "dutch", "swedish",
    "danish", "norwegian", "finnish", "hungarian", "romanian",
)  # fmt: skip

#: Characters of an article read for detection.
SAMPLE_CHARS = 3000
#: Words of the sample scored against the stop word lists.
SAMPLE_WORDS = 300
#: Smallest weighted stop word score for a Latin-script language to be chosen.
MIN_SCORE = 2.0
#: How many times the second language's score the best one's must be.
MARGIN = 2.0

_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ARABIC = re.compile("[\u0600-\u06ff]")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_LATIN = re.compile("[A-Za-z\u00c0-\u024f]")


@cache
def _stop_weights() -> dict[str, list[tuple[int, float]]]:
    """Stop word -> [(language index, weight)], a word shared by m languages weighing 1/m."""
    owners: dict[str, list[int]] = {}
    for index, language in enumerate(LATIN):
        for word in stop_words_for(language):
            owners.setdefault(word, []).append(index)
    return {w: [(i, 1.0 / len(found)) for i in found] for w, found in owners.items()}


def detect_language(text: str, default: str = "english") -> str:
    """The language of ``text``: one of the library's languages (``default`` when unsure).

    Examples
    --------
    >>> detect_language("The bank held its rates and the markets rose.")
    'english'
    >>> detect_language("O banco manteve as taxas e os mercados subiram.")
    'portuguese'
    >>> detect_language("東京都の天気は晴れです。")
    'japanese'
    """
    sample = text[:SAMPLE_CHARS]
    if sample.isascii():
        scripts = {"latin": 1}
    else:
        scripts = {
            "kana": len(_KANA.findall(sample)),
            "hangul": len(_HANGUL.findall(sample)),
            "han": len(_HAN.findall(sample)),
            "arabic": len(_ARABIC.findall(sample)),
            "cyrillic": len(_CYRILLIC.findall(sample)),
            "latin": len(_LATIN.findall(sample)),
        }
    cjk = scripts.get("kana", 0) + scripts.get("hangul", 0) + scripts.get("han", 0)
    top = max(scripts.values())
    if top == 0:
        return default
    if cjk >= top:
        if scripts["kana"] * 20 >= cjk:  # Japanese mixes kana into Han text
            return "japanese"
        return "korean" if scripts["hangul"] > scripts["han"] else "chinese"
    if scripts.get("arabic", 0) == top:
        return "arabic"
    if scripts.get("cyrillic", 0) == top:
        return "russian"
    weights = _stop_weights()
    scores = [0.0] * len(LATIN)
    for word in raw_tokens(sample)[:SAMPLE_WORDS]:
        for index, weight in weights.get(word, ()):
            scores[index] += weight
    order = sorted(range(len(LATIN)), key=lambda i: (-scores[i], i))
    best, second = scores[order[0]], scores[order[1]]
    if best < MIN_SCORE or best < MARGIN * second:
        return default
    return LATIN[order[0]]


def describe(counts: Iterable[tuple[str, int]]) -> str:
    """``"2,201 english, 24 french"``: the languages ``language="auto"`` found, most first."""
    ordered = sorted(counts, key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{n:,} {language}" for language, n in ordered)
