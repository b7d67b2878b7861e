"""Pushed bodies, read whole or refused: gzip members, inflated size, JSON nesting.

The ingest routes turn bytes into JSON documents here before any row is looked
at, so a body that cannot be read completely stores nothing:

- every gzip member is inflated (`cat a.gz b.gz` is one valid body); a truncated
  or corrupt stream is a 400, never the prefix that happened to inflate;
- the inflated size is bounded by the route's limit (413 past it), checked while
  inflating, so a small bomb never becomes a large buffer;
- JSON nesting is bounded (`MAX_DEPTH`), checked by a byte scan before the JSON
  parser recurses, for the whole array body and for each JSON Lines line.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass

import numpy as np

# Rows are objects in an array (depth 2); their values rarely nest further.
MAX_DEPTH = 64
INGEST_TYPES = frozenset({"application/json", "application/x-ndjson"})


class BodyError(Exception):
    """A body the API refuses as a whole; `status` is the HTTP answer."""

    status = 400


class BadBody(BodyError):
    status = 400


class BodyTooLarge(BodyError):
    status = 413

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body too large (limit {limit} bytes)")


class UnsupportedMedia(BodyError):
    status = 415


@dataclass(frozen=True)
class Documents:
    """A body as JSON: the records of an array body, or the raw lines of JSON Lines."""

    records: list[object] | None
    lines: list[bytes]


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.partition(";")[0].strip().lower()


def require_ingest_type(content_type: str | None) -> None:
    """Ingest takes JSON or JSON Lines only: a browser cannot send these cross-site
    without a CORS preflight, which this server never grants."""
    found = media_type(content_type or "")
    if found not in INGEST_TYPES:
        allowed = " or ".join(sorted(INGEST_TYPES))
        raise UnsupportedMedia(f"Content-Type must be {allowed}, got {found or 'none'!r}")


def gunzip(data: bytes, limit: int) -> bytes:
    """Every member of a gzip stream, at most `limit` bytes inflated."""
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = rest
        try:
            while not inflater.eof:
                out += inflater.decompress(pending, limit - len(out) + 1)
                if len(out) > limit:
                    raise BodyTooLarge(limit)
                pending = inflater.unconsumed_tail
                if not pending and not inflater.eof:
                    # All input read, the member not finished: cut short.
                    out += inflater.flush()
                    if len(out) > limit:
                        raise BodyTooLarge(limit)
                    if not inflater.eof:
                        raise BadBody("gzip body is truncated")
        except zlib.error as exc:
            raise BadBody(f"gzip body is corrupt: {exc}") from exc
        rest = inflater.unused_data
        # Some writers pad the last member with zeros, which gzip(1) ignores too.
        if not rest.strip(b"\0"):
            return bytes(out)


def decode(data: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as sent, inflated when gzip; at most `limit` bytes either way."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        return gunzip(data, limit)
    if encoding != "identity":
        raise UnsupportedMedia(f"Content-Encoding {encoding!r} is not supported (gzip is)")
    if len(data) > limit:
        raise BodyTooLarge(limit)
    return data


# A JSON string, or an unterminated one up to the end of its line: the match
# always succeeds from a quote, so the scan stays linear whatever the input.
_STRING = re.compile(rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*(?:"|(?=\n)|\Z)')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def nesting_depth(data: bytes) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings ignored.

    A parser stops where the closing brackets outnumber the opening ones, so the
    running maximum from the start is as deep as any parse of `data` can go.
    """
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    steps = np.frombuffer(brackets.translate(_STEPS), dtype=np.int8)
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def _check_depth(data: bytes, what: str) -> None:
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        # Cheap bound: never deeper than the number of brackets it opens.
        return
    if nesting_depth(data) > MAX_DEPTH:
        raise BadBody(f"{what} nests deeper than {MAX_DEPTH} levels")


def documents(body: bytes) -> Documents:
    """A JSON array body (records parsed) or JSON Lines (lines split, not parsed).

    Raises BadBody for an array that is not JSON or nests too deep, and for a
    JSON Lines body with any line that nests too deep: nothing of it is taken.
    """
    text = body.strip()
    if text.startswith(b"["):
        _check_depth(text, "the JSON body")
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            # A byte that is not UTF-8 inside one row's string must not cost the other
            # rows: it is kept as a lone surrogate, which that row's validation rejects.
            decoded = text.decode("utf-8", "surrogateescape")
        try:
            loaded = json.loads(decoded)
        except (ValueError, RecursionError) as exc:
            raise BadBody(f"not a JSON array: {exc}") from exc
        if not isinstance(loaded, list):
            raise BadBody("not a JSON array")
        return Documents(records=loaded, lines=[])
    lines = [line.strip() for line in text.split(b"\n")]
    lines = [line for line in lines if line]
    if text.count(b"[") + text.count(b"{") > MAX_DEPTH:
        for number, line in enumerate(lines, start=1):
            _check_depth(line, f"line {number}")
    return Documents(records=None, lines=lines)
