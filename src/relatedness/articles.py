"""Articles in: the :class:`Article` record, readers for common formats, and door validation.

Readers (:func:`read_jsonl`, its streaming twin :func:`iter_jsonl`, :func:`read_csv`,
:func:`from_dataframe`) turn files and frames into plain dicts; :func:`check_articles` turns
any iterable of dicts or :class:`Article` into a validated list of :class:`Article`, raising
clear, builtin-derived errors that name the article ids and the field
(``../shared/BAD_INPUTS.md`` rows 3-6) or dropping bad rows with a warning when asked to
(``on_invalid="skip"``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .exceptions import DuplicateIdError, InvalidArticleError, InvalidParameterError
from .results import ArticleId
from .validation import shown

__all__ = [
    "Article",
    "Query",
    "check_query",
    "document_fields",
    "Rejected",
    "check_articles",
    "from_dataframe",
    "iter_jsonl",
    "load_articles",
    "merge_sections",
    "parse_json",
    "read_csv",
    "read_jsonl",
    "section_key",
    "section_spelling",
]

#: The fields an input row may carry; any other key is ignored (e.g. ``labels``, ``license``).
FIELDS = ("id", "title", "body", "section", "published", "tags", "url")

#: The range of int ids: a signed 64-bit integer, as SQLite and numpy store them.
MIN_INT_ID, MAX_INT_ID = -(2**63), 2**63 - 1

#: How many offending ids an error message lists before "...".
_SHOW = 5


@dataclass(frozen=True, slots=True)
class Article:
    """One news article.

    Parameters
    ----------
    id : str or int
        Unique within a corpus; all ids of one corpus are of one type (``bool`` is not an int
        here, and floats are refused because ``1.0`` and ``1`` would collide).
    title : str, default ""
        The headline.
    body : str, default ""
        The story text: plain text or HTML, paragraphs separated by blank lines.
    section : str, default ""
        The site section ("politics", "Politics Monitor"). ``""`` means no section; all
        unsectioned articles form one group for ``section_policy="same"``.
    published : datetime.date, datetime.datetime or None, default None
        Publication time. Aware datetimes are converted to UTC; dates mean midnight.
    tags : tuple of str, default ()
        Editorial tags; indexed as their own weighted field.
    url : str, default ""
        Link target for the rendered box.

    Examples
    --------
    >>> Article(id="a1", title="Rates held", body="The bank held rates.", section="business")
    Article(id='a1', title='Rates held', body='The bank held rates.', section='business', \
published=None, tags=(), url='')
    """

    id: ArticleId
    title: str = ""
    body: str = ""
    section: str = ""
    published: dt.date | dt.datetime | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the article as a JSON-ready dict (``published`` as an ISO string)."""
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "section": self.section,
            "published": None if self.published is None else self.published.isoformat(),
            "tags": list(self.tags),
            "url": self.url,
        }


def document_fields(doc: Any) -> tuple[str, str, Sequence[str]]:
    """Return ``(title, body, tags)`` of an Article, a mapping, or a bare string (the body)."""
    if isinstance(doc, str):
        return "", doc, ()
    if isinstance(doc, Article):
        return doc.title, doc.body, doc.tags
    if isinstance(doc, Mapping):
        return doc.get("title", "") or "", doc.get("body", "") or "", doc.get("tags", ()) or ()
    msg = f"a document must be an Article, a dict or a str, got a {type(doc).__name__}."
    raise InvalidArticleError(msg)


@dataclass(frozen=True, slots=True)
class Query:
    """An article to find related stories for, as :meth:`RelatedArticles.related_to` reads it.

    ``section`` and ``id`` are ``None`` when not given; ``id`` names an archived article
    that is then left out of its own list.
    """

    title: str
    body: str
    tags: Sequence[str]
    section: str | None
    id: Any
    published: dt.date | dt.datetime | None


def check_query(article: Any) -> Query:
    """Read an unseen article (a str body, a dict or an :class:`Article`) at the door.

    Raises
    ------
    InvalidArticleError
        Not a str, dict or Article; ``title``/``body`` not a str; ``published`` not a date.
    """
    if not isinstance(article, str | Mapping | Article):
        msg = f"related_to takes a str, a dict or an Article, got a {type(article).__name__}."
        raise InvalidArticleError(msg)
    title, body, tags = document_fields(article)
    for name, value in (("title", title), ("body", body)):
        if not isinstance(value, str):
            msg = f"related_to: field {name!r} is a {type(value).__name__}; pass text as str."
            raise InvalidArticleError(msg)
    if isinstance(article, str):
        return Query(title, body, tags, None, None, None)
    if isinstance(article, Article):
        return Query(title, body, tags, article.section or None, article.id, article.published)
    try:
        section = _check_section(article) if article.get("section") is not None else None
        checked_tags = _check_tags(article)
        published = _check_published(article)
        article_id = None if article.get("id") is None else _check_id(article["id"])
    except _RowError as exc:
        msg = f"related_to: field {exc.field_name!r} is {exc.problem}; {exc.hint}."
        raise InvalidArticleError(msg) from None
    return Query(title, body, checked_tags, section or None, article_id, published)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row left out under ``on_invalid="skip"``: where it came from and why."""

    position: int
    id: Any
    reason: str


# --------------------------------------------------------------------------------------------
# Readers: files and frames -> dicts. They check the container (JSON syntax, UTF-8), not the
# fields; fields are checked once, in check_articles.
# --------------------------------------------------------------------------------------------


#: How deep a JSON value may nest. An article is an object of strings and one list of tags
#: (depth 2); 200k nested brackets would otherwise exhaust the stack (RecursionError).
MAX_JSON_DEPTH = 64


def parse_json(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(text)``, refusing what the stdlib parser cannot refuse cleanly.

    Raises
    ------
    ValueError
        Invalid JSON, nesting deeper than ``max_depth`` (checked before parsing, so no
        ``RecursionError``), or an integer of more than 4,300 digits (Python's int limit).
        The message says which.
    """
    depth = _max_nesting(text)
    if depth > max_depth:
        msg = f"JSON nested {depth} levels deep (at most {max_depth}); flatten the value"
        raise ValueError(msg)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON ({exc.msg})"
    except RecursionError:  # defensive: the depth check above should make this unreachable
        msg = f"JSON nested too deep (at most {max_depth})"
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        msg = "a number of more than 4,300 digits; write such an id as a str"
    raise ValueError(msg)


def _max_nesting(text: str) -> int:
    """The deepest bracket nesting outside JSON strings (regex passes at C speed: a 50 MB
    body costs milliseconds, not a Python loop over its characters)."""
    if text.count("[") + text.count("{") <= 1:
        return 1
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: linear
_BRACKETS = re.compile(r"[\[\]{}]")


def read_jsonl(
    path: str | Path,
    *,
    on_invalid: Literal["raise", "skip"] = "raise",
    problems: list[str] | None = None,
) -> list[dict]:
    """Read articles from a JSON Lines file (one JSON object a line).

    The schema is ``id``, ``title``, ``body``, ``section``, ``published`` (ISO date or null),
    ``tags`` and ``url``; other keys are ignored. Blank lines are skipped. For an archive too
    large to hold as dicts, pass :func:`iter_jsonl` to ``fit`` instead.

    Parameters
    ----------
    path : str or Path
        The file, UTF-8 encoded.
    on_invalid : {"raise", "skip"}, default "raise"
        What to do with a line that is not valid UTF-8 or not a JSON object: raise naming the
        line numbers, or skip it with a warning.
    problems : list of str, optional
        Receives one message per invalid line (``"line 3: invalid JSON (...)"``).

    Returns
    -------
    list of dict
        One dict a line, with the line number under the key ``"_line"``.

    Raises
    ------
    InvalidArticleError
        A line is not valid UTF-8 or not a JSON object (with ``on_invalid="raise"``).
    FileNotFoundError
        The file does not exist.
    """
    return list(iter_jsonl(path, on_invalid=on_invalid, problems=problems))


def iter_jsonl(
    path: str | Path,
    *,
    on_invalid: Literal["raise", "skip"] = "raise",
    problems: list[str] | None = None,
) -> Iterator[dict]:
    """Yield the articles of a JSON Lines file one at a time, as :func:`read_jsonl` reads them.

    ``RelatedArticles().fit(iter_jsonl(path))`` never holds the file as dicts: each line
    becomes an :class:`Article` as it is read (for 1M articles that is ~1 GiB less than
    :func:`read_jsonl`, whose list of dicts the caller keeps alive during the fit).

    Parameters
    ----------
    path : str or Path
        The file, UTF-8 encoded. It is opened at the first ``next()``, not by this call.
    on_invalid : {"raise", "skip"}, default "raise"
        A line that is not valid UTF-8 or not a JSON object is never yielded. After the last
        line, ``"raise"`` raises naming every such line (a fit consuming the iterator then
        fails before any work), ``"skip"`` warns once.
    problems : list of str, optional
        Receives one message per invalid line (``"line 3: invalid JSON (...)"``), e.g. to
        write a rejects file.

    Yields
    ------
    dict
        One dict a line, with the line number under the key ``"_line"``.

    Raises
    ------
    InvalidArticleError
        After the last line, when lines were invalid (with ``on_invalid="raise"``).
    FileNotFoundError
        The file does not exist.
    """
    found: list[str] = [] if problems is None else problems
    first_problem = len(found)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                found.append(f"line {number}: invalid UTF-8 at byte {exc.start}")
                continue
            try:
                obj = parse_json(text)
            except ValueError as exc:
                found.append(f"line {number}: {exc}")
                continue
            if not isinstance(obj, dict):
                found.append(f"line {number}: a JSON {type(obj).__name__}, not an object")
                continue
            obj["_line"] = number
            yield obj
    _report_problems(found[first_problem:], path, on_invalid)


def read_csv(
    path: str | Path,
    *,
    tag_separator: str = "|",
    on_invalid: Literal["raise", "skip"] = "raise",
    problems: list[str] | None = None,
) -> list[dict]:
    """Read articles from a CSV file with a header row.

    Columns are matched by name (``id``, ``title``, ``body``, ``section``, ``published``,
    ``tags``, ``url``); an ``id`` column is required. Empty ``published`` cells mean no date;
    ``tags`` are split on ``tag_separator``. Ids are kept as strings: CSV has no types.

    Parameters
    ----------
    path : str or Path
        The file, UTF-8 encoded (a byte-order mark is accepted).
    tag_separator : str, default "|"
        Separator inside the ``tags`` cell.
    on_invalid : {"raise", "skip"}, default "raise"
        What to do with a malformed record: more cells than the header, an unbalanced
        quote (which would otherwise swallow the rest of the file), or a cell longer than
        :data:`MAX_CSV_CELL` characters. ``"raise"`` names every such line; ``"skip"``
        leaves the record out with a warning naming its line, and reads on from the line
        after the one it started on.
    problems : list of str, optional
        Receives one message per malformed record (``"line 3: more cells than header
        columns"``), e.g. to write a rejects file.

    Returns
    -------
    list of dict

    Raises
    ------
    InvalidArticleError
        No ``id`` column, a malformed row, or invalid UTF-8.
    """
    rows: list[dict] = []
    found: list[str] = [] if problems is None else problems
    first_problem = len(found)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            lines = handle.read().splitlines(keepends=True)
    except UnicodeDecodeError as exc:
        msg = f"{path}: not valid UTF-8 (byte {exc.start}); re-encode the file as UTF-8."
        raise InvalidArticleError(msg) from None
    header, records = _csv_records(lines, path, found)
    if header is None or "id" not in header:
        msg = (
            f"{path}: the CSV header has no 'id' column "
            f"(found {header!r}); the first row must name the columns."
        )
        raise InvalidArticleError(msg)
    for line, cells in records:
        if len(cells) > len(header):
            found.append(f"line {line}: more cells than header columns")
            continue
        clean: dict[str, Any] = {
            name: value for name, value in zip(header, cells, strict=False) if name in FIELDS
        }
        if clean.get("published") == "":
            clean["published"] = None
        tags = clean.get("tags")
        if isinstance(tags, str):
            clean["tags"] = [t.strip() for t in tags.split(tag_separator) if t.strip()]
        clean["_line"] = line
        rows.append(clean)
    _report_problems(found[first_problem:], path, on_invalid)
    return rows


#: The longest CSV cell read (the csv module's default, 131,072, is shorter than many
#: stories); a body this long is cut to ``max_chars`` anyway, with a warning.
MAX_CSV_CELL = 64 * 2**20


def _csv_records(
    lines: list[str], path: Any, found: list[str]
) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """The header and ``(first line, cells)`` of each record of a CSV file's lines.

    Parsed strictly: a quote that is never closed (or closed in the middle of a cell) would
    otherwise swallow the rest of the file into one field. Such a record is reported in
    ``found`` by its first line, and parsing resumes on the next line.
    """
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    start = 0
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, MAX_CSV_CELL))
    try:
        while start < len(lines):
            reader = csv.reader(iter(lines[start:]), strict=True)
            first = start + 1  # the physical line the next record starts on
            try:
                for cells in reader:
                    if header is None:
                        header = cells
                    elif cells:
                        records.append((first, cells))
                    first = start + reader.line_num + 1
                start = len(lines)
            except csv.Error as exc:
                problem = str(exc)
                if "field larger than field limit" in problem:
                    problem = f"a cell longer than {MAX_CSV_CELL:,} characters"
                elif "expected after" in problem or "unexpected end of data" in problem:
                    problem = f"an unbalanced quote ({problem}): close it or escape it as \"\""
                if header is None:
                    msg = f"{path}: line {first}: the header row cannot be read: {problem}"
                    raise InvalidArticleError(msg) from None
                found.append(f"line {first}: {problem}")
                start = first  # resume on the line after the bad record's first line
    finally:
        csv.field_size_limit(limit)
    return header, records


def from_dataframe(frame: Any) -> list[dict]:
    """Turn a pandas DataFrame into article dicts (one row an article).

    Missing values (``NaN``, ``None``, ``pd.NA``, ``NaT``) stay missing and are judged by
    :func:`check_articles`: a missing ``title``/``body`` is an error naming the id, a missing
    ``section``/``published``/``url`` means "none".

    Parameters
    ----------
    frame : pandas.DataFrame
        With at least an ``id`` column.

    Returns
    -------
    list of dict
    """
    columns = [c for c in frame.columns if c in FIELDS]
    if "id" not in columns:
        msg = f"the DataFrame has no 'id' column (columns: {list(frame.columns)!r})."
        raise InvalidArticleError(msg)
    records = frame[columns].to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            # pandas' missing markers become None; NaN text is still caught as "missing".
            if value is not None and _is_missing(value):
                record[key] = float("nan") if key in ("title", "body") else None
            elif hasattr(value, "to_pydatetime"):  # pandas.Timestamp
                record[key] = value.to_pydatetime()
    return records


def load_articles(source: str | Path, **kwargs: Any) -> list[dict]:
    """Read a file by its extension: ``.jsonl``/``.json``/``.ndjson`` or ``.csv``."""
    suffix = Path(source).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return read_jsonl(source, **kwargs)
    if suffix == ".csv":
        return read_csv(source, **kwargs)
    msg = f"{source}: unknown file type {suffix!r}; use .jsonl (JSON Lines) or .csv."
    raise InvalidParameterError(msg)


def _report_problems(problems: list[str], path: Any, on_invalid: str) -> None:
    if not problems:
        return
    shown = "; ".join(problems[:_SHOW]) + ("; ..." if len(problems) > _SHOW else "")
    if on_invalid == "skip":
        warnings.warn(f"{path}: skipped {len(problems)} invalid lines: {shown}", stacklevel=3)
        return
    msg = (
        f"{path}: {len(problems)} invalid lines: {shown}. Fix them, or pass "
        "on_invalid='skip' (CLI: --skip-invalid) to leave them out."
    )
    raise InvalidArticleError(msg)


# --------------------------------------------------------------------------------------------
# Validation: any row -> Article, with errors that name the id and the field.
# --------------------------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    """True for None, float NaN (any float type), pandas NA/NaT."""
    if value is None:
        return True
    if isinstance(value, float):  # includes np.float64, which subclasses float
        return math.isnan(value)
    if type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:  # numpy float32/float16 NaN
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _describe(value: Any) -> str:
    if _is_missing(value):
        return "missing (None/NaN)"
    return f"a {type(value).__name__}"


class _RowError(Exception):
    """One field of one row is bad; collected, then reported together."""

    def __init__(self, field_name: str, problem: str, hint: str = "") -> None:
        super().__init__(field_name, problem, hint)
        self.field_name = field_name
        self.problem = problem
        self.hint = hint
        self.line: int | None = None  # the file line, when the row came from a reader


def _check_text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name, "")
    if isinstance(value, str):
        return value
    hint = (
        "decode bytes first, e.g. b.decode('utf-8', 'replace')"
        if isinstance(value, bytes | bytearray)
        else "fill missing text with '' or drop the row"
        if _is_missing(value)
        else "pass text as str; relatedness never calls str() on it"
    )
    raise _RowError(name, _describe(value), hint)


def _check_section(row: Mapping[str, Any]) -> str:
    value = row.get("section", "")
    if _is_missing(value):
        return ""  # a missing section is "no section", the common case in CMS exports
    if isinstance(value, str):
        return value.strip()
    raise _RowError(
        field_name="section", problem=_describe(value), hint="pass the section name as str"
    )


def _check_url(row: Mapping[str, Any]) -> str:
    value = row.get("url", "")
    if _is_missing(value):
        return ""
    if isinstance(value, str):
        return value.strip()
    raise _RowError(field_name="url", problem=_describe(value), hint="pass the url as str")


def _check_tags(row: Mapping[str, Any]) -> tuple[str, ...]:
    value = row.get("tags", ())
    if _is_missing(value):
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list | tuple) and all(isinstance(t, str) for t in value):
        return tuple(t.strip() for t in value if t.strip())
    raise _RowError(field_name="tags", problem=_describe(value), hint="pass tags as a list of str")


def _in_utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC; one that UTC cannot hold is the row's error."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC; 9999-12-31-01:00 in 10000
        raise _RowError(
            field_name="published",
            problem=f"{shown(value.isoformat())}, outside the years 1-9999 once converted to UTC",
            hint="give a date between 0001-01-02 and 9999-12-30, or none",
        ) from None


def _check_published(row: Mapping[str, Any]) -> dt.datetime | dt.date | None:
    value = row.get("published")
    if _is_missing(value) or value == "":
        return None
    if isinstance(value, dt.datetime):
        return _in_utc(value)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _RowError(
                field_name="published",
                problem=f"{shown(value)} is not an ISO date",
                hint="use YYYY-MM-DD or an ISO datetime",
            ) from None
        return _in_utc(parsed)
    raise _RowError(
        field_name="published",
        problem=_describe(value),
        hint="pass a date, a datetime or an ISO string",
    )


def _check_id(value: Any) -> ArticleId:
    if isinstance(value, bool) or not isinstance(value, str | int):
        # numpy integers are real ints to the caller; keep them as Python ints.
        if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu":
            return int(value)
        raise _RowError(
            field_name="id", problem=_describe(value), hint="ids must all be str or all be int"
        )
    if isinstance(value, str) and not value.strip():
        raise _RowError(
            field_name="id", problem="an empty string", hint="give every article a non-empty id"
        )
    if isinstance(value, int) and not MIN_INT_ID <= value <= MAX_INT_ID:
        # Int ids are stored as SQLite INTEGER and compared as numbers: 64 bits, signed.
        raise _RowError(
            field_name="id",
            problem=f"{shown(value)}, outside the signed 64-bit range",
            hint="use int ids within +-9.2e18, or str ids",
        )
    return value


def _check_encodable(article: Article) -> None:
    """Refuse a lone surrogate (``"\\ud800"``, e.g. from a JSON escape): UTF-8 cannot store it,
    so the model could not be saved, nor the lists written."""
    for name in FIELDS:
        value = getattr(article, name)
        texts = value if isinstance(value, tuple) else (value,)
        for text in texts:
            if isinstance(text, str) and not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise _RowError(
                        field_name=name,
                        problem=f"text with a lone surrogate ({text[exc.start : exc.end]!r} at "
                        f"character {exc.start})",
                        hint="repair the text, e.g. s.encode('utf-8', 'replace').decode()",
                    ) from None


def _as_row(item: Any) -> Mapping[str, Any]:
    if isinstance(item, Article):
        return {f: getattr(item, f) for f in FIELDS}
    if isinstance(item, Mapping):
        return item
    raise _RowError(
        field_name="<row>",
        problem=f"a {type(item).__name__}",
        hint="pass dicts or relatedness.Article objects",
    )


def check_articles(
    items: Iterable[Any],
    *,
    on_invalid: Literal["raise", "skip"] = "raise",
    on_duplicate: Literal["raise", "keep_last"] = "raise",
    rejects: list[Rejected] | None = None,
) -> list[Article]:
    """Validate rows and return them as :class:`Article` objects, in input order.

    Parameters
    ----------
    items : iterable of dict or Article
        Rows as produced by the readers, or built by the caller.
    on_invalid : {"raise", "skip"}, default "raise"
        A row with a bad field (``None``/NaN/bytes/non-str text, a bad id, an unparseable date)
        raises :class:`InvalidArticleError` listing every bad row, or is dropped with one
        warning (and recorded in ``rejects`` when given).
    on_duplicate : {"raise", "keep_last"}, default "raise"
        Duplicate ids raise :class:`DuplicateIdError`, or keep the newest copy (by
        ``published``, then the later in input order) with a warning: the CMS re-publish case.
    rejects : list, optional
        Receives a :class:`Rejected` per dropped row.

    Returns
    -------
    list of Article

    Raises
    ------
    InvalidArticleError
        Bad fields, or ids of more than one type (``1`` and ``"1"`` would collide on disk).
    DuplicateIdError
        Duplicate ids with ``on_duplicate="raise"``.
    """
    articles: list[Article] = []
    errors: list[tuple[int, Any, _RowError]] = []
    line_of: dict[Any, list[int]] = {}  # file line numbers, when rows came from a reader
    for position, item in enumerate(items):
        raw_id = item.get("id") if isinstance(item, Mapping) else getattr(item, "id", None)
        where = item.get("_line", position) if isinstance(item, Mapping) else position
        try:
            row = _as_row(item)
            if "id" not in row:
                raise _RowError(
                    field_name="id", problem="absent", hint="give every article an 'id'"
                )
            article = Article(
                id=_check_id(row["id"]),
                title=_check_text(row, "title"),
                body=_check_text(row, "body"),
                section=_check_section(row),
                published=_check_published(row),
                tags=_check_tags(row),
                url=_check_url(row),
            )
            _check_encodable(article)
        except _RowError as exc:
            if isinstance(item, Mapping) and isinstance(item.get("_line"), int):
                exc.line = item["_line"]
            errors.append((where, raw_id, exc))
            continue
        articles.append(article)
        if isinstance(item, Mapping) and "_line" in item:
            line_of.setdefault(article.id, []).append(item["_line"])

    if errors:
        _report_invalid(errors, on_invalid, rejects)
    _check_id_types(articles)
    return merge_sections(_resolve_duplicates(articles, on_duplicate, line_of))


def merge_sections(
    articles: list[Article], known: Iterable[str] = (), *, stacklevel: int = 5
) -> list[Article]:
    """Give sections that differ only in case, Unicode form or invisible characters one name.

    Sections are compared by :func:`section_key` (NFC, zero-width characters
    and soft hyphens removed, casefolded): ``Politics``, ``poli\xadtics`` and
    ``politics\u200b`` are one section. Its name is a ``known`` spelling with that key (the
    fitted model's, when articles are added), else the cleaned spelling of the first article
    in (``published``, ``id``) order: the earliest story names its section, whatever the
    order of the input, so the result is deterministic. A warning lists every merge.
    """
    names = {section_key(name): name for name in known}
    first: dict[str, Article] = {}
    spellings: dict[str, set[str]] = {}
    for article in articles:
        if not article.section:
            continue
        key = section_key(article.section)
        spellings.setdefault(key, set()).add(article.section)
        held = first.get(key)
        if held is None or _first_seen(article) < _first_seen(held):
            first[key] = article
    for key, article in first.items():
        names.setdefault(key, section_spelling(article.section))
    merged = {
        names[key]: sorted(spelled - {names[key]})
        for key, spelled in spellings.items()
        if spelled - {names[key]}
    }
    if not merged:
        return articles
    listed = "; ".join(
        f"{ascii(name)} <- {', '.join(ascii(s) for s in others)}"
        for name, others in sorted(merged.items())[: 2 * _SHOW]
    )
    more = "; ..." if len(merged) > 2 * _SHOW else ""
    warnings.warn(
        f"merged {len(merged)} sections spelled differently (case, Unicode form or invisible "
        f"characters): {listed}{more}",
        UserWarning,
        stacklevel=stacklevel,
    )
    return [
        a if not a.section or names[section_key(a.section)] == a.section
        else replace(a, section=names[section_key(a.section)])
        for a in articles
    ]  # fmt: skip


def section_spelling(name: str) -> str:
    r"""Return a section name as it is displayed: NFC, format characters (zero-width
    space, soft hyphen, bidi marks) removed, controls as spaces, one space between words;
    the case is kept.

    Examples
    --------
    >>> section_spelling(" poli\xadtics\u200b ") == "politics"
    True
    >>> section_spelling("cafe\u0301") == "caf\u00e9"
    True
    """
    text = unicodedata.normalize("NFC", name)
    if not text.isprintable():  # a table lookup: the common name pays nothing more
        kinds = [unicodedata.category(ch) for ch in text]
        text = "".join(
            " " if kind in ("Cc", "Zs", "Zl", "Zp") else ch
            for ch, kind in zip(text, kinds, strict=True)
            if kind not in ("Cf", "Cs", "Co", "Cn")
        )
    return " ".join(text.split())


def section_key(name: str) -> str:
    r"""Return the key sections are compared by: :func:`section_spelling`, casefolded.

    ``"Politics"``, ``"poli\xadtics"`` (soft hyphen), ``"politics\u200b"`` (zero-width
    space) and the NFC and NFD spellings of ``"café"`` share one key: they are one section.

    Examples
    --------
    >>> section_key("Poli\xadtics") == section_key("politics\u200b") == "politics"
    True
    """
    return section_spelling(name).casefold()


def _first_seen(article: Article) -> tuple[int, dt.datetime, Any]:
    """The order that decides a section's name: dated before undated, older first, then id."""
    if article.published is None:
        return (1, dt.datetime.min, article.id)
    return (0, as_datetime(article.published), article.id)


def _report_invalid(
    errors: list[tuple[int, Any, _RowError]], on_invalid: str, rejects: list[Rejected] | None
) -> None:
    listed = "; ".join(
        f"{'' if e.line is None else f'line {e.line}: '}id {shown(raw_id)}: "
        f"field {e.field_name!r} is {e.problem}"
        for _, raw_id, e in errors[:_SHOW]
    )
    more = "; ..." if len(errors) > _SHOW else ""
    hint = errors[0][2].hint
    if on_invalid == "skip":
        if rejects is not None:
            for where, raw_id, e in errors:
                rejects.append(Rejected(where, raw_id, f"{e.field_name}: {e.problem}"))
        warnings.warn(
            f"skipped {len(errors)} invalid articles ({listed}{more})", UserWarning, stacklevel=4
        )
        return
    msg = (
        f"{len(errors)} invalid articles: {listed}{more}. To fix: {hint}; "
        "or pass on_invalid='skip' to leave them out."
    )
    raise InvalidArticleError(msg)


def _check_id_types(articles: Sequence[Article]) -> None:
    kinds = {type(a.id) for a in articles}
    if len(kinds) <= 1:
        return
    first_int = next(a.id for a in articles if isinstance(a.id, int))
    first_str = next(a.id for a in articles if isinstance(a.id, str))
    msg = (
        f"article ids mix int and str (e.g. {first_int!r} and {first_str!r}); "
        "one corpus uses one id type. Convert them all, e.g. str(id)."
    )
    raise InvalidArticleError(msg)


def _published_key(article: Article) -> tuple[int, dt.datetime]:
    return (
        (0, dt.datetime.min) if article.published is None else (1, as_datetime(article.published))
    )


def _resolve_duplicates(
    articles: list[Article], on_duplicate: str, lines: dict[Any, list[int]] | None = None
) -> list[Article]:
    seen: dict[ArticleId, int] = {}
    duplicates: list[ArticleId] = []
    for position, article in enumerate(articles):
        if article.id in seen:
            duplicates.append(article.id)
        else:
            seen[article.id] = position
    if not duplicates:
        return articles
    distinct = sorted(set(duplicates), key=repr)
    if on_duplicate == "raise":
        where = ""
        if lines:
            shown = [
                f"{i!r} on lines {', '.join(str(n) for n in lines[i])}"
                for i in distinct[:_SHOW]
                if lines.get(i)
            ]
            where = f" ({'; '.join(shown)})" if shown else ""
        msg = (
            f"{len(distinct)} duplicate article ids, e.g. {distinct[:_SHOW]!r}{where}. Ids must "
            "be unique: de-duplicate upstream or pass on_duplicate='keep_last' to keep the "
            "newest copy of each."
        )
        raise DuplicateIdError(msg)
    keep: dict[ArticleId, int] = {}
    for position, article in enumerate(articles):
        held = keep.get(article.id)
        # Newest by published wins; on equal dates the later row (the re-publish) wins.
        if held is None or _published_key(article) >= _published_key(articles[held]):
            keep[article.id] = position
    warnings.warn(
        f"kept the newest copy of {len(distinct)} duplicate ids (e.g. {distinct[:_SHOW]!r})",
        UserWarning,
        stacklevel=3,
    )
    kept = sorted(keep.values())
    return [articles[p] for p in kept]


def as_datetime(value: dt.date | dt.datetime) -> dt.datetime:
    """Return ``value`` as a naive datetime (a date means midnight)."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)
