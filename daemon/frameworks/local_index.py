"""A package index on loopback, serving release histories: the demo's and the tests'.

It speaks both protocols `mlmaint frameworks sync` reads: the PEP 691 JSON
Simple API (`/simple/<name>/`, with PEP 700 `upload-time` unless told to leave
it out, as older mirrors do) and the JSON API (`/pypi/<name>/json`). Each
release is one sdist file. `as_of` hides releases uploaded later, so a replay in
simulated time sees the index as it was. `faults` answers a package with an
HTTP status instead, for outage tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from packaging.utils import canonicalize_name

from checks.frameworks.releases import SIMPLE_JSON, Release, ReleaseInfo

# A client that stops talking must not hold a handler thread forever.
_SOCKET_TIMEOUT_S = 10.0


def _time(release: Release) -> str | None:
    return release.uploaded.isoformat().replace("+00:00", "Z") if release.uploaded else None


def _yanked(release: Release) -> bool | str:
    if not release.yanked:
        return False
    return release.yanked_reason or True


class LocalIndex:
    """`with LocalIndex(histories) as index:` serves on `index.url` until the block ends."""

    def __init__(
        self,
        histories: Mapping[str, ReleaseInfo],
        *,
        as_of: datetime | None = None,
        upload_times: bool = True,
        faults: Mapping[str, int] | None = None,
    ) -> None:
        self._histories = {canonicalize_name(k): v for k, v in histories.items()}
        self.as_of = as_of
        self.upload_times = upload_times
        self.faults = {canonicalize_name(k): v for k, v in (faults or {}).items()}
        self.hits: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local index is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def releases(self, name: str) -> tuple[Release, ...] | None:
        info = self._histories.get(canonicalize_name(name))
        if info is None:
            return None
        return tuple(
            r
            for r in info.releases
            if self.as_of is None or r.uploaded is None or r.uploaded <= self.as_of
        )

    def simple_page(self, name: str, releases: tuple[Release, ...]) -> dict[str, object]:
        files = []
        for r in releases:
            entry: dict[str, object] = {
                "filename": f"{name.replace('-', '_')}-{r.version}.tar.gz",
                "url": f"/files/{name}-{r.version}.tar.gz",
                "hashes": {},
                "requires-python": r.requires_python,
                "yanked": _yanked(r),
            }
            if self.upload_times:
                entry["upload-time"] = _time(r)
            files.append(entry)
        return {
            "meta": {"api-version": "1.1" if self.upload_times else "1.0"},
            "name": name,
            "versions": [r.version for r in releases],
            "files": files,
        }

    def json_page(self, name: str, releases: tuple[Release, ...]) -> dict[str, object]:
        return {
            "info": {"name": name, "version": releases[-1].version if releases else None},
            "releases": {
                r.version: [
                    {
                        "filename": f"{name.replace('-', '_')}-{r.version}.tar.gz",
                        "packagetype": "sdist",
                        "upload_time_iso_8601": _time(r),
                        "yanked": r.yanked,
                        "yanked_reason": r.yanked_reason,
                        "requires_python": r.requires_python,
                    }
                ]
                for r in releases
            },
        }

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of `path`."""
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if len(parts) == 2 and parts[0] == "simple":
            name, page = canonicalize_name(parts[1]), self.simple_page
            ctype = SIMPLE_JSON
        elif len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            name, page = canonicalize_name(parts[1]), self.json_page
            ctype = "application/json"
        else:
            return 404, "text/plain", b"not found"
        if name in self.faults:
            return self.faults[name], "text/plain", b"fault injected by the local index"
        releases = self.releases(name)
        if releases is None:
            return 404, "text/plain", b"not found"
        return 200, ctype, json.dumps(page(name, releases)).encode()

    def start(self) -> LocalIndex:
        index = self

        class Handler(BaseHTTPRequestHandler):
            timeout = _SOCKET_TIMEOUT_S
            # Keep-alive: a sync asks for hundreds of pages over one connection; without
            # Nagle, a response's headers and body don't wait for the client's delayed ACK.
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                index.hits.append(self.path)
                status, ctype, body = index.answer(self.path)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-index", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> LocalIndex:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
