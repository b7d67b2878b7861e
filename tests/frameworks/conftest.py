"""A loopback server speaking the package index (JSON + Simple API) and OSV endpoints.

Routes are a dict the test fills: path -> (status, content type, body bytes), or
a fault: "slow" (sleeps past the client's timeout), "500", "malformed".
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = Path("shared") / "data" / "pypa-advisory-db"


def _origin() -> Path | None:
    """The repository this checkout was cloned from, when that is a local directory."""
    found = subprocess.run(
        ["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    path = Path(found.removeprefix("file://")) if found else None
    return path.resolve() if path is not None and path.is_dir() else None


def pypa_db() -> Path:
    """The PyPA snapshot in `../shared` beside this checkout (as in CI), or beside the
    local repository it was cloned from (a fresh clone in a temporary directory)."""
    places = [REPO.parent / SNAPSHOT]
    origin = _origin()
    if origin is not None:
        places.append(origin.parent / SNAPSHOT)
    for place in places:
        if (place / "vulns").is_dir():
            return place
    pytest.fail(
        "the PyPA advisory database snapshot is missing: looked in "
        + ", ".join(str(p.resolve()) for p in places)
        + " (expected ../shared/data/pypa-advisory-db from the repository root)",
        pytrace=False,
    )


class FakeIndex:
    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.hits: list[str] = []
        self.posts: list[object] = []
        self.slow_s = 1.0
        self.url = ""

    def json(self, path: str, data: object) -> None:
        self.routes[path] = (200, "application/json", json.dumps(data).encode())

    def raw(self, path: str, body: bytes, status: int = 200, ctype: str = "text/plain") -> None:
        self.routes[path] = (status, ctype, body)

    def fault(self, path: str, kind: str) -> None:
        self.routes[path] = kind


@pytest.fixture
def fake_index() -> Iterator[FakeIndex]:
    state = FakeIndex()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            path = self.path.split("?")[0]
            state.hits.append(path)
            route = state.routes.get(path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route == "slow":
                time.sleep(state.slow_s)
                route = (200, "application/json", b"{}")
            elif route == "500":
                route = (500, "text/plain", b"internal error")
            elif route == "malformed":
                route = (200, "application/json", b'{"releases": {"1.0": [')
            status, ctype, body = route  # type: ignore[misc]
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.posts.append(json.loads(self.rfile.read(length) or b"null"))
            self._answer()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def json_api(name: str, releases: dict[str, tuple[str, bool]]) -> dict[str, object]:
    """A PyPI JSON API document: version -> (upload time, yanked)."""
    return {
        "info": {"name": name},
        "releases": {
            v: [
                {
                    "filename": f"{name}-{v}.tar.gz",
                    "upload_time_iso_8601": t,
                    "yanked": y,
                    "yanked_reason": "broken" if y else None,
                    "requires_python": ">=3.9",
                }
            ]
            for v, (t, y) in releases.items()
        },
    }


def osv_record(ident: str, package: str, introduced: str, fixed: str, **extra: object) -> dict:
    return {
        "id": ident,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": introduced}, {"fixed": fixed}]}
                ],
            }
        ],
        **extra,
    }


def zip_of(records: list[dict]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    return buffer.getvalue()
