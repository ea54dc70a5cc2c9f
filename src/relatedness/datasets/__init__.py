"""Bundled data: a small CC BY 2.5 Wikinews corpus for demos, docs and tests.

The 293 English Wikinews articles (2019-2020) ship inside the package with their attribution
(see ``NOTICE`` beside the data file). They carry dates and URLs but no sections, so every
article is in the one unnamed section and ``section_policy="same"`` behaves like ``"any"``.
"""

from __future__ import annotations

from importlib import resources

from ..articles import Article, check_articles, read_jsonl

__all__ = ["SAMPLE_LICENSE", "load_sample", "sample_path"]

SAMPLE_LICENSE = "CC BY 2.5, Wikinews contributors (https://creativecommons.org/licenses/by/2.5/)"
_SAMPLE = "wikinews-sample.jsonl"


def sample_path() -> str:
    """Return the file path of the bundled sample (JSON Lines)."""
    return str(resources.files(__name__) / "data" / _SAMPLE)


def load_sample() -> list[Article]:
    """Return the bundled Wikinews sample as a list of :class:`~relatedness.Article`.

    Returns
    -------
    list of Article
        293 articles, ids like ``"wikinews-3d019ee2437d"``, each with ``url`` set to its
        Wikinews page (the CC BY 2.5 attribution).

    Examples
    --------
    >>> from relatedness import load_sample
    >>> articles = load_sample()
    >>> len(articles), articles[0].url.startswith("https://en.wikinews.org/")
    (293, True)
    """
    return check_articles(read_jsonl(sample_path()))
