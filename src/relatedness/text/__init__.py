"""Text cleaning for article bodies and titles (the package face; split in progress)."""

from .boilerplate import (
    DEFAULT_BOILERPLATE_RULES,
    BoilerplateRule,
    clean_text,
    clean_title,
    collapse_whitespace,
    drop_controls,
    drop_lines,
    find_recurring_lines,
    make_snippet,
    normalize_line,
    normalize_unicode,
    remove_boilerplate,
    strip_html,
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
