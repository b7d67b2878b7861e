"""Who may call what: tokens, Host, Origin, Content-Type; store failures answer 503."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from daemon.api import Access, ApiServer, InsecureBind, Request, Response, store_unavailable
from daemon.config import Secret
from daemon.jobs import JobContext
from daemon.sampling import sampling_status
from daemon.store.engine import StoreUnavailable
from tests.api.conftest import TOKEN, Api
from tests.sampling.conftest import T0, row

PREDICTIONS = "/v1/models/churn/predictions"
Factory = Callable[..., JobContext]


def _stored(ctx: JobContext) -> int:
    (status,) = sampling_status(ctx)
    return status.stored


def _body() -> str:
    return json.dumps([row(i) for i in range(10)])


def _raw_status(port: int, authorization: bytes) -> int:
    """POST with a header value httpx would not send (trailing blanks)."""
    body = _body().encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST " + PREDICTIONS.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: " + authorization + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        answer = conn.recv(4096)
    return int(answer.split(b" ", 2)[1])


def test_an_empty_bearer_is_401(api: Api) -> None:
    server, _ = api
    for given in (b"Bearer", b"Bearer ", b"Bearer    ", b"Basic " + TOKEN.encode(), b"x"):
        assert _raw_status(server.port, given) == 401, given
    assert _stored(server.ctx) == 0
    assert _raw_status(server.port, b"Bearer " + TOKEN.encode()) == 202


def test_an_empty_token_is_never_accepted_by_the_server(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"})
    with pytest.raises(ValueError, match="empty token"):
        ApiServer(ctx, port=0, token=Secret("  \n", "env MLMAINT_API_TOKEN"))


def test_binding_beyond_loopback_without_a_token_is_refused(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"})
    with pytest.raises(InsecureBind, match=r"0\.0\.0\.0"):
        ApiServer(ctx, host="0.0.0.0", port=0).start()


def test_cross_site_posts_are_refused_and_store_nothing(ctx_factory: Factory) -> None:
    # No token on loopback: the case where a page the operator visits could write.
    ctx = ctx_factory({"kind": "http"})
    with ApiServer(ctx, port=0, clock=lambda: T0) as server:
        url = server.url + PREDICTIONS
        foreign = "https://evil.example"
        # The form a page can send without a preflight: text/plain.
        plain = httpx.post(
            url, content=_body(), headers={"Content-Type": "text/plain", "Origin": foreign}
        )
        assert plain.status_code in (403, 415), plain.text
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            r = httpx.post(url, content=_body(), headers={"Content-Type": kind})
            assert r.status_code == 415, kind
        # Even a type a page needs a preflight for is refused from a foreign origin.
        json_foreign = httpx.post(
            url, content=_body(), headers={"Content-Type": "application/json", "Origin": foreign}
        )
        assert json_foreign.status_code == 403
        null_origin = httpx.post(
            url, content=_body(), headers={"Content-Type": "application/json", "Origin": "null"}
        )
        assert null_origin.status_code == 403
        assert _stored(ctx) == 0
        # Its own origin, and a charset parameter, are fine.
        own = httpx.post(
            url,
            content=_body(),
            headers={"Content-Type": "application/json; charset=utf-8", "Origin": server.url},
        )
        assert own.status_code == 202, own.text
        assert _stored(ctx) == 10


def test_a_foreign_host_is_refused(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"}, service={"allowed_hosts": ["mlmaint.internal"]})
    with ApiServer(ctx, port=0, clock=lambda: T0) as server:
        json_type = {"Content-Type": "application/json"}
        for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1:1"):
            r = httpx.post(
                server.url + PREDICTIONS, content=_body(), headers={**json_type, "Host": host}
            )
            assert r.status_code == 421, host
            assert httpx.get(server.url + "/nowhere", headers={"Host": host}).status_code == 421
        assert _stored(ctx) == 0
        for host in (f"localhost:{server.port}", "mlmaint.internal", "MLMAINT.internal:443"):
            r = httpx.post(
                server.url + PREDICTIONS, content=_body(), headers={**json_type, "Host": host}
            )
            assert r.status_code == 202, host


def test_configured_origins_may_post(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"}, service={"allowed_origins": ["https://ops.example.org"]})
    with ApiServer(ctx, port=0, clock=lambda: T0) as server:
        r = httpx.post(
            server.url + PREDICTIONS,
            content=_body(),
            headers={"Content-Type": "application/json", "Origin": "https://ops.example.org"},
        )
        assert r.status_code == 202


def test_reads_need_a_token_beyond_loopback(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"})
    read = "read-token-for-prometheus-0123"
    server = ApiServer(
        ctx, host="0.0.0.0", port=0, token=Secret(TOKEN, "t"), read_token=Secret(read, "r")
    )
    for path, access in (("/healthz", Access.OPEN), ("/metrics", Access.READ)):
        server.router.add("GET", path, lambda _r: Response(200, b"ok", "text/plain"), access=access)
    with server:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(base + "/healthz").status_code == 200
        assert httpx.get(base + "/metrics").status_code == 401
        for token in (read, TOKEN):
            r = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
        # The read token does not write.
        pushed = httpx.post(
            base + PREDICTIONS,
            content=_body(),
            headers={"Authorization": f"Bearer {read}", "Content-Type": "application/json"},
        )
        assert pushed.status_code == 401


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database or disk is full"),
        StoreUnavailable("insert", OSError(28, "No space left on device")),
        OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error")),
        OSError(28, "No space left on device"),
    ],
    ids=["raw-sqlite3", "StoreUnavailable", "sqlalchemy", "ENOSPC"],
)
def test_any_store_failure_is_503_with_retry_after(
    ctx_factory: Factory, error: BaseException
) -> None:
    ctx = ctx_factory({"kind": "http"})

    def failing(_request: Request) -> Response:
        try:
            raise error
        except BaseException as exc:
            # As the sampler's layers chain what the driver raised.
            raise RuntimeError("store write failed") from exc

    server = ApiServer(ctx, port=0)
    server.router.add("POST", "/fail", failing, body_limit=lambda _p: 1000)
    with server:
        r = httpx.post(
            server.url + "/fail", content="[]", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "30"
        assert "Traceback" not in r.text


def test_a_bug_is_500_without_a_traceback_and_not_503() -> None:
    assert not store_unavailable(RuntimeError("a bug"))
    assert not store_unavailable(sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert store_unavailable(ValueError("wrapped").with_traceback(None)) is False
