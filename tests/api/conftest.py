"""The HTTP API's tests share the sampling tests' model and JobContext factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from daemon.api import ApiServer
from daemon.config import Secret
from daemon.jobs import JobContext
from tests.sampling.conftest import T0, ctx_factory

__all__ = ["TOKEN", "Api", "api", "ctx_factory"]

TOKEN = "api-test-token-of-32-bytes-long!"
Api = tuple[ApiServer, httpx.Client]


@pytest.fixture
def api(ctx_factory: Callable[..., JobContext]) -> Iterator[Api]:
    """A server with a token on loopback, and a client that sends it with JSON Lines."""
    ctx = ctx_factory({"kind": "http"}, labels={"kind": "http"})
    server = ApiServer(ctx, port=0, token=Secret(TOKEN, "test"), clock=lambda: T0).start()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield server, client
    server.stop()
