"""Ingest over HTTP: the old ThreadingHTTPServer and waitress, in one run.

Both servers mount the same router and handlers of one `ApiServer`, so the
figures differ by the server alone: the old one is the standard library's
ThreadingHTTPServer with the handler mlmaint used before (copied here, for this
benchmark only). Each run POSTs `batches` JSON Lines bodies of `rows` rows (25
features) from `clients` keep-alive connections, plain and gzip, into a fresh
SQLite store, and prints rows/s, the median of the runs, and the ratio.

Run: PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_http.py [batches] [rows] [runs]
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from daemon.api import ApiServer, Request, Response
from daemon.config import parse_config
from daemon.jobs import JobContext
from daemon.store import migrate
from tests.benchmarks._data import CATEGORICAL, NUMERIC, T0, rows

CLIENTS = (1, 4)


class _LegacyHandler(BaseHTTPRequestHandler):
    """The request handler of mlmaint's ThreadingHTTPServer, as it was."""

    api: ApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(response.body)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        found = self.api.router.match(self.command, url.path)
        if isinstance(found, int):
            self._send(Response.json(found, {"error": "no route"}))
            return
        route, params = found
        body = self.rfile.read(int(headers["content-length"]))
        if headers.get("content-encoding") == "gzip":
            body = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body)
        request = Request("POST", url.path, params, parse_qs(url.query), headers, body)
        self._send(route.handler(request))


class _Legacy(AbstractContextManager["_Legacy"]):
    def __init__(self, api: ApiServer) -> None:
        handler = type("Bound", (_LegacyHandler,), {"api": api})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _context(path: Path) -> JobContext:
    settings = parse_config(
        {
            "store": {"url": f"sqlite:///{path}"},
            "models": [
                {
                    "name": "bench",
                    "source": {"kind": "http"},
                    "schema": {
                        "numeric": NUMERIC,
                        "categorical": CATEGORICAL,
                        "score": "score",
                        "latency": "latency_ms",
                    },
                }
            ],
        },
        environ={},
    )
    ctx = JobContext.from_settings(settings)
    migrate.upgrade(ctx.engine)
    return ctx


def _bodies(batches: int, n: int, seed: int, packed: bool) -> list[bytes]:
    out = []
    for b in range(batches):
        data = rows(n, seed=seed * 1000 + b)
        raw = "".join(json.dumps(r) + "\n" for r in data).encode()
        out.append(gzip.compress(raw, compresslevel=1) if packed else raw)
    return out


def _push(url: str, bodies: list[bytes], packed: bool, clients: int) -> float:
    headers = {"Content-Type": "application/x-ndjson"}
    if packed:
        headers["Content-Encoding"] = "gzip"
    parts = [bodies[i::clients] for i in range(clients)]

    def send(part: list[bytes]) -> int:
        stored = 0
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            for body in part:
                r = client.post("/v1/models/bench/predictions", content=body)
                r.raise_for_status()
                stored += int(r.json()["accepted"])
        return stored

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(send, parts))
    return total / (time.perf_counter() - started)


def _run(kind: str, directory: Path, bodies: list[bytes], packed: bool, clients: int) -> float:
    ctx = _context(directory / f"{kind}-{time.monotonic_ns()}.db")
    # The rows' own time, so every row is plausible and sampled.
    clock: Callable[[], object] = lambda: T0 + timedelta(hours=1)  # noqa: E731
    api = ApiServer(ctx, host="127.0.0.1", port=0, clock=clock)  # type: ignore[arg-type]
    try:
        if kind == "legacy":
            with _Legacy(api) as legacy:
                return _push(legacy.url, bodies, packed, clients)
        with api:
            return _push(api.url, bodies, packed, clients)
    finally:
        ctx.close()


def main() -> None:
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    results: dict[tuple[str, bool, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for packed in (False, True):
            bodies = _bodies(batches, n, seed=1, packed=packed)
            # Warm both paths (imports, first Arrow parse) before timing.
            _run("waitress", directory, bodies[:1], packed, 1)
            for run in range(runs):
                for clients in CLIENTS:
                    # Interleaved, each on a fresh store: the machine's speed drifts.
                    order = ("legacy", "waitress") if run % 2 == 0 else ("waitress", "legacy")
                    for kind in order:
                        rate = _run(kind, directory, bodies, packed, clients)
                        results.setdefault((kind, packed, clients), []).append(rate)
    med = statistics.median
    print(
        f"HTTP ingest: {batches} JSON Lines batches x {n:,} rows (25 features) into SQLite, "
        f"{runs} runs: median (best) rows/s"
    )
    print(f"{'body':<6} {'clients':>7} {'ThreadingHTTPServer':>22} {'waitress':>22} {'ratio':>6}")
    ratios: list[float] = []
    for packed in (False, True):
        for clients in CLIENTS:
            old = results[("legacy", packed, clients)]
            new = results[("waitress", packed, clients)]
            ratio = med(new) / med(old)
            ratios.append(ratio)
            print(
                f"{'gzip' if packed else 'plain':<6} {clients:>7} "
                f"{med(old):>12,.0f} ({max(old):>7,.0f}) {med(new):>12,.0f} ({max(new):>7,.0f}) "
                f"{ratio:>6.2f}"
            )
    print(f"ratio waitress / ThreadingHTTPServer: {min(ratios):.2f} to {max(ratios):.2f}")


if __name__ == "__main__":
    main()
