"""Routes by method and path template, and the requests and responses they handle.

`Access` says who may call a route; the server (`server.py`) enforces it before
the handler runs.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus


class Access(enum.Enum):
    """Who may call a route."""

    # Anyone who reaches the port: /healthz.
    OPEN = "open"
    # Reads (/metrics, /reports): open on loopback; beyond it the read or API token.
    READ = "read"
    # Writes (ingest): the API token; on loopback with no token configured, anyone.
    WRITE = "write"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str]
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: object, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data).encode(), "application/json", headers or {})


Handler = Callable[[Request], Response]
# Reads the body: the route decides how much it accepts before anything is read.
BodyLimit = Callable[[Mapping[str, str]], int]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    # The request body is read (up to this many bytes) only for routes that take one.
    body_limit: BodyLimit | None = None
    access: Access = Access.OPEN
    # Routes that take a body accept only JSON or JSON Lines (see http_body).
    ingest: bool = False
    # The path as registered ("/v1/models/{name}"): what the OpenAPI document names.
    template: str = ""


class Router:
    """Routes by method and path template; `{name}` matches one path segment."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        body_limit: BodyLimit | None = None,
        access: Access = Access.OPEN,
    ) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(
            Route(
                method.upper(),
                re.compile(f"^{regex}$"),
                handler,
                body_limit,
                access,
                ingest=body_limit is not None,
                template=template,
            )
        )

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | int:
        """The route of `method` and `path`; HEAD is served by the GET route (the server
        sends its headers without the body). Else 405 if the path has routes, 404."""
        allowed = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, found.groupdict()
            allowed = True
        return HTTPStatus.METHOD_NOT_ALLOWED if allowed else HTTPStatus.NOT_FOUND
