"""Tables at the terminal: the one layout policy of every listing command.

A table prints as it is when it fits the width. When it does not, its cells
wrap at word boundaries, each column at least as wide as its header and its
longest word (a time such as "2026-12-06 04:15" counts as one word);
the widest column gives room back first, so narrow columns (ids, times) stay
whole. When even that cannot fit, when it would squeeze a longer text into
fewer than 20 characters (`READABLE`), or when the terminal is narrower than 80
columns, each row becomes a block of `key: value` lines. A word is never cut in the middle;
a cell shortened on purpose (`shorten`) ends with an ellipsis.

The width is the terminal's, `$COLUMNS` when set, and 80 when the output is
piped. Colours are applied after the layout (their escapes take no room), and
`click.echo` drops them when the output is not a terminal. `--format json`
(`dumps`) is the machine form of the same rows, with the /v1 API's field names
and its times (UTC, with a `Z`). Values print with `fmt_value`: four significant
digits, in tables and messages alike.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

# What writes a command's output: click.echo at a terminal; a collector when the
# daemon answers for the CLI (daemon/api/terminal.py). Called as click.echo is.
Echo = Callable[..., None]

ELLIPSIS = "…"
# Below this many columns a table is always printed as key: value blocks.
NARROW = 80
GAP = "  "
# A column wrapped narrower than this (its text being longer) makes the table
# key: value blocks instead: a summary at 15 characters takes a dozen lines a row.
READABLE = 20


@dataclass(frozen=True)
class Column:
    """A column: its header, right-aligned (numbers) or not, and a colour per cell text."""

    header: str
    right: bool = False
    colour: Callable[[str], str | None] | None = None


def fmt_value(value: float | None) -> str:
    """A measured value as tables and messages print it: four significant digits
    (0.07055, 0.000667, 1234, 1.235e+05), "n/a" when there is none."""
    if value is None:
        return "n/a"
    return f"{value:.4g}"


# The width of the terminal a daemon renders for (daemon/api/terminal.py): the
# asking CLI's, per request, not the daemon's own.
_COLUMNS: ContextVar[int | None] = ContextVar("terminal_columns", default=None)


def terminal_width() -> int:
    """The asking terminal's width inside `for_terminal`; else $COLUMNS, else the
    terminal's width, else 80 (piped)."""
    asked = _COLUMNS.get()
    if asked is not None:
        return asked
    return shutil.get_terminal_size((NARROW, 24)).columns


@contextlib.contextmanager
def for_terminal(columns: int) -> Iterator[None]:
    """Lay tables out for a terminal `columns` wide (another process's) in this context."""
    token = _COLUMNS.set(columns)
    try:
        yield
    finally:
        _COLUMNS.reset(token)


def shorten(text: str, limit: int) -> str:
    """`text` on one line in at most `limit` characters: cut at a word boundary, with `…`.

    A first word longer than the limit is cut inside, still marked by the ellipsis.
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    if limit <= 1:
        return ELLIPSIS[:limit]
    head = flat[: limit - 1]
    cut = head.rfind(" ")
    if cut > 0 and flat[limit - 1] != " ":  # the last word in `head` is cut: drop it
        head = head[:cut]
    return head.rstrip(" ,;:") + ELLIPSIS


def wrap(
    text: str, width: int | None = None, *, indent: str = "", hanging: str | None = None
) -> str:
    """A paragraph wrapped at words to the terminal (or `width`); a word longer than a
    line (a URL) stays whole on its own line. Lines after the first are indented by
    `hanging` when given (an item's continuation), else by `indent`."""
    width = terminal_width() if width is None else width
    rest = indent if hanging is None else hanging
    room = max(width - max(len(indent), len(rest)), 20)
    return "\n".join(
        (indent if k == 0 else rest) + line for k, line in enumerate(_lines(text, room))
    )


# A time as tables print it ("2026-12-06 04:15", seconds and zone optional) is one
# word: wrapping never puts its date and its time on two lines.
_TIMESTAMP = re.compile(r"\b(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}(?::\d{2})?)\b")
_GLUE = "\ue000"  # a character of no script, never whitespace, one column like the space


def _glued(text: str) -> str:
    return _TIMESTAMP.sub(lambda m: f"{m.group(1)}{_GLUE}{m.group(2)}", text)


def _lines(text: str, width: int | None) -> list[str]:
    """The cell's lines, wrapped at word boundaries to `width` (None: as they are)."""
    paragraphs = text.split("\n") if text else [""]
    if width is None:
        return paragraphs
    out: list[str] = []
    for paragraph in paragraphs:
        lines = textwrap.wrap(
            _glued(paragraph), width, break_long_words=False, break_on_hyphens=False
        )
        out.extend(line.replace(_GLUE, " ") for line in lines or [""])
    return out


def _longest_word(text: str) -> int:
    return max((len(word) for word in _glued(text).split()), default=0)


def _widths(natural: list[int], minimum: list[int], room: int) -> list[int] | None:
    """Column widths within `room`: the widest column gives a character back first, none
    below its longest word; None when even the minimums do not fit."""
    if sum(minimum) > room:
        return None
    widths = list(natural)
    excess = sum(widths) - room
    while excess > 0:
        # Narrowing the widest column wraps the fewest cells (a long text, not a time).
        i = max((i for i in range(len(widths)) if widths[i] > minimum[i]), key=widths.__getitem__)
        widths[i] -= 1
        excess -= 1
    return widths


def _paint(text: str, colour: str | None) -> str:
    if not colour or not text.strip():
        return text
    import click

    return click.style(text, fg=colour)


def render(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    title: str | None = None,
) -> str:
    """The rows laid out for a terminal `width` columns wide (default: this one's)."""
    width = terminal_width() if width is None else width
    cells = [[str(cell) for cell in row] for row in rows]
    natural = [
        max([len(c.header), *(len(line) for row in cells for line in row[i].split("\n"))])
        for i, c in enumerate(columns)
    ]
    room = width - len(GAP) * (len(columns) - 1)
    out = [title] if title else []
    if sum(natural) <= room:
        return "\n".join([*out, *_table(columns, cells, natural, wrap=False)])
    # A header is never wrapped: a column is at least as wide as its header.
    minimum = [
        max([len(c.header), *(_longest_word(row[i]) for row in cells)])
        for i, c in enumerate(columns)
    ]
    widths = _widths(natural, minimum, room) if width >= NARROW else None
    if widths is not None and any(
        w < n and w < READABLE for w, n in zip(widths, natural, strict=True)
    ):
        widths = None  # a long text squeezed into a slit reads worse than key: value lines
    if widths is not None:
        return "\n".join([*out, *_table(columns, cells, widths, wrap=True)])
    return "\n".join([*out, *_blocks(columns, cells, width)])


def _table(
    columns: Sequence[Column], cells: list[list[str]], widths: list[int], *, wrap: bool
) -> list[str]:
    def line(parts: list[str]) -> str:
        return GAP.join(parts).rstrip(" ")

    lines = [
        line(
            [
                (c.header.rjust if c.right else c.header.ljust)(w)
                for c, w in zip(columns, widths, strict=True)
            ]
        ),
        line(["-" * w for w in widths]),
    ]
    for row in cells:
        wrapped = [_lines(cell, w if wrap else None) for cell, w in zip(row, widths, strict=True)]
        for k in range(max(len(cell) for cell in wrapped)):
            parts = []
            for column, cell, w, text in zip(columns, wrapped, widths, row, strict=True):
                piece = cell[k] if k < len(cell) else ""
                pad = " " * (w - len(piece))
                painted = _paint(piece, column.colour(text) if column.colour else None)
                parts.append(pad + painted if column.right else painted + pad)
            lines.append(line(parts))
    return lines


def _blocks(columns: Sequence[Column], cells: list[list[str]], width: int) -> list[str]:
    """One `key: value` block per row, values wrapped at words under their key."""
    key_width = max(len(c.header) for c in columns) + 2
    value_width = max(width - key_width, 20)
    lines: list[str] = []
    for n, row in enumerate(cells):
        if n:
            lines.append("")
        for column, text in zip(columns, row, strict=True):
            if not text:
                continue
            colour = column.colour(text) if column.colour else None
            for k, piece in enumerate(_lines(text, value_width)):
                key = f"{column.header}:" if k == 0 else ""
                lines.append(f"{key:<{key_width}}{_paint(piece, colour)}".rstrip())
    return lines


# A measure printed without a threshold is informational: no status to judge.
NO_STATUS = "—"


def utc_text(value: datetime | None) -> str | None:
    """A time as the /v1 API writes it: UTC, ISO 8601 with a `Z` (naive means UTC)."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return utc_text(value)
    return str(value)


def dumps(document: object) -> str:
    """`--format json`: one document, keys in the order built, times in ISO 8601."""
    return json.dumps(document, indent=2, default=_default, ensure_ascii=False)
