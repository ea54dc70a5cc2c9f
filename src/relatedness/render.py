"""The rendered box: a "Related Articles" block as HTML, or as JSON for JavaScript front ends.

Every field is HTML-escaped before it reaches the template (a headline containing
``<script>`` renders as text), and a link whose scheme is not http(s) or a relative path
(``javascript:``, ``data:``) is replaced by ``#``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .exceptions import MissingDependencyError
from .results import Related

__all__ = ["DEFAULT_ITEM_TEMPLATE", "DEFAULT_TEMPLATE", "render_html", "to_frame", "to_json"]

#: The columns of :func:`to_frame`, one row per (article, rank).
FRAME_COLUMNS = (
    "article_id", "rank", "related_id", "score", "title", "section", "published", "url", "pinned",
)  # fmt: skip

#: The block around the items; ``{heading}`` and ``{items}`` are filled in.
DEFAULT_TEMPLATE = (
    '<section class="related-articles">\n  <h2>{heading}</h2>\n  <ul>\n{items}  </ul>\n</section>\n'
)

#: One entry, shaped like the seed page's block: headline link, section, snippet.
DEFAULT_ITEM_TEMPLATE = (
    '    <li class="related-article">\n'
    '      <a href="{url}">{title}</a>\n'
    '      <span class="section">{section}</span>\n'
    '      <p class="snippet">{snippet}</p>\n'
    "    </li>\n"
)

_SAFE_SCHEMES = ("http://", "https://", "/", "./", "../", "?", "#")


def _safe_url(url: str) -> str:
    url = url.strip()
    if not url:
        return "#"
    lowered = url.lower()
    if lowered.startswith(_SAFE_SCHEMES) or ":" not in lowered.split("/", 1)[0]:
        return url
    return "#"  # javascript:, data:, vbscript: ... never reach an href


def _fields(result: Related, url_for: Any) -> dict[str, str]:
    url = url_for(result) if url_for is not None else result.url
    published = result.published.isoformat() if result.published is not None else ""
    return {
        "id": html.escape(str(result.id), quote=True),
        "title": html.escape(result.title, quote=True),
        "section": html.escape(result.section, quote=True),
        "snippet": html.escape(result.snippet, quote=True),
        "published": html.escape(published, quote=True),
        "score": f"{result.score:.3f}",
        "url": html.escape(_safe_url(str(url)), quote=True),
    }


def render_html(
    results: Iterable[Related],
    *,
    heading: str = "Related Articles",
    template: str = DEFAULT_TEMPLATE,
    item_template: str = DEFAULT_ITEM_TEMPLATE,
    url_for: Any = None,
) -> str:
    """Render related articles as the "Related Articles" block of a page.

    Parameters
    ----------
    results : iterable of Related
        As returned by :meth:`~relatedness.RelatedArticles.related`.
    heading : str, default "Related Articles"
    template : str
        The block, with ``{heading}`` and ``{items}`` placeholders.
    item_template : str
        One entry, with any of ``{id}``, ``{title}``, ``{section}``, ``{snippet}``,
        ``{published}``, ``{score}``, ``{url}``. Values are HTML-escaped before filling in.
    url_for : callable, optional
        ``url_for(result) -> str`` when the stored ``url`` is not the link to use.

    Returns
    -------
    str
        The HTML; ``""`` when there are no results (a site hides an empty box).

    Examples
    --------
    >>> from relatedness.results import Related
    >>> box = render_html([Related("a1", 0.5, "<b>Rates</b> held", "business", "Rates…")])
    >>> "&lt;b&gt;Rates&lt;/b&gt; held" in box
    True
    """
    items = [item_template.format(**_fields(r, url_for)) for r in results]
    if not items:
        return ""
    return template.format(heading=html.escape(heading, quote=True), items="".join(items))


def to_json(results: Iterable[Related] | Mapping[Any, Iterable[Related]], **kwargs: Any) -> str:
    """Related lists as JSON (a list, or ``{id: list}`` for :meth:`related_many` output).

    Values are plain JSON (a front end escapes them when it builds the DOM).
    """
    if isinstance(results, Mapping):
        payload: Any = [
            {"id": key, "related": [r.to_dict() for r in value]} for key, value in results.items()
        ]
    else:
        payload = [r.to_dict() for r in results]
    return json.dumps(payload, ensure_ascii=False, **kwargs)


def to_frame(results: Mapping[Any, Iterable[Related]]) -> Any:
    """Related lists as a tidy pandas DataFrame: one row per article and rank.

    Columns :data:`FRAME_COLUMNS`: ``rank`` from 1, ``score`` float64, ``published`` as
    pandas datetimes (NaT when undated). An article with an empty list has no row.

    Raises
    ------
    MissingDependencyError
        pandas is not installed (the message has the pip command).
    """
    try:
        import pandas as pd
    except ImportError:
        msg = "as_frame=True needs pandas, not installed: pip install 'relatedness[pandas]'"
        raise MissingDependencyError(msg) from None
    rows = [
        (article_id, rank, r.id, float(r.score), r.title, r.section, r.published, r.url, r.pinned)
        for article_id, related in results.items()
        for rank, r in enumerate(related, start=1)
    ]
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    frame["rank"] = frame["rank"].astype("int64")
    frame["score"] = frame["score"].astype("float64")
    frame["published"] = pd.to_datetime(frame["published"], utc=True)
    frame["pinned"] = frame["pinned"].astype(bool)
    return frame
