r"""Text cleaning for article bodies and titles.

Every step is a small, pure ``str -> str`` function so that a notebook can show
what each one does; :func:`clean_text` composes them for an article body and
:func:`clean_title` for a headline (both in ``clean.py``):

1. :func:`strip_html` (``html.py``) - a real HTML parser (stdlib :mod:`html.parser`)
   that drops script/style/nav/footer/... subtrees, turns block elements into line
   breaks and decodes entities. Plain text passes through untouched.
2. :func:`normalize_unicode` (``unicode.py``, like steps 3, 5 and 6) - NFKC, so that
   NFC and NFD spellings of a word (``"café"`` and ``"cafe\u0301"``) become the same
   vocabulary term.
3. :func:`drop_controls` - every Unicode space becomes ``" "``, every line
   separator ``"\n"``; zero-width, bidi, other format and control characters,
   U+FFFD, surrogates, noncharacters and private-use characters are removed.
4. :func:`remove_boilerplate` (``boilerplate.py``) - line rules ("Related articles"
   blocks, syndication notes, share/subscribe lines, breadcrumbs) plus one structural
   rule for a scraped "Home <section> <headline>" page header.
5. :func:`collapse_whitespace` - one space between words, one blank line
   between paragraphs.
6. :func:`truncate` - cap the length without splitting a character cluster.

Corpus-level boilerplate (a footer that recurs in many articles) is found with
:func:`find_recurring_lines` and removed with :func:`drop_lines` (``recurring.py``;
lines are compared by their :func:`normalize_line` key, in ``unicode.py``);
:func:`make_snippet` (``clean.py``) builds the short teaser shown in the "Related
articles" box.

Imports inside the package only go down: ``clean`` uses ``html``, ``unicode`` and
``boilerplate``; ``boilerplate`` and ``recurring`` use ``unicode``; ``html`` and
``unicode`` use nothing of the package. The package imports nothing from the rest of
relatedness and only the standard library, so it can be used (and tested) on its own.
This module is its face: it re-exports the public names and defines nothing.
"""

from .boilerplate import DEFAULT_BOILERPLATE_RULES, BoilerplateRule, remove_boilerplate
from .clean import clean_text, clean_title, make_snippet
from .html import strip_html
from .recurring import drop_lines, find_recurring_lines
from .unicode import (
    collapse_whitespace,
    drop_controls,
    normalize_line,
    normalize_unicode,
    truncate,
)

__all__ = [
    "DEFAULT_BOILERPLATE_RULES",
    "BoilerplateRule",
    "clean_text",
    "clean_title",
    "collapse_whitespace",
    "drop_controls",
    "drop_lines",
    "find_recurring_lines",
    "make_snippet",
    "normalize_line",
    "normalize_unicode",
    "remove_boilerplate",
    "strip_html",
    "truncate",
]
