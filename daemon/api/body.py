"""A request's headers and body, read off WSGI within the route's limit.

The body is read whole (waitress has already received it) and decoded
(`daemon.http_body.decode`: gzip, within the same limit) before a handler runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.http_body import BadBody, BodyTooLarge, decode

# The limit of a route whose model sets none (and the least the server accepts).
DEFAULT_MAX_BODY = 16 * 1024 * 1024


def read_body(environ: Mapping[str, object], headers: Mapping[str, str], limit: int) -> bytes:
    """The body, read within `limit` bytes and decoded (`decode`) within the same limit."""
    length_text = headers.get("content-length", "0").strip()
    if not length_text.isdigit():
        raise BadBody(f"invalid Content-Length {length_text!r}")
    if int(length_text) > limit:
        raise BodyTooLarge(limit)
    stream = environ.get("wsgi.input")
    raw = b""
    if stream is not None and hasattr(stream, "read"):
        raw = bytes(stream.read(limit + 1))
    if len(raw) > limit:
        raise BodyTooLarge(limit)
    if len(raw) < int(length_text):
        raise BadBody("body cut short")
    return decode(raw, headers.get("content-encoding"), limit)


def headers_of(environ: Mapping[str, object]) -> dict[str, str]:
    """WSGI's HTTP_X_Y keys back to lower-case `x-y` header names."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers
