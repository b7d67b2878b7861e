"""The HTTP ingest endpoints over loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from daemon.api import ApiServer, Response
from daemon.config import Secret
from daemon.jobs import JobContext
from daemon.sampling import sampling_status
from daemon.store.tables import RejectedRow
from tests.sampling.conftest import T0, row

Factory = Callable[..., JobContext]
TOKEN = "s3cret-token-of-24-bytes"


@pytest.fixture
def api(ctx_factory: Factory) -> Iterator[tuple[ApiServer, httpx.Client]]:
    ctx = ctx_factory({"kind": "http"}, labels={"kind": "http", "max_body_bytes": 2000})
    server = ApiServer(ctx, port=0, token=Secret(TOKEN, "test"), clock=lambda: T0).start()
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as client:
        yield server, client
    server.stop()


def test_pushed_rows_and_labels(api: tuple[ApiServer, httpx.Client]) -> None:
    server, client = api
    body = "\n".join(json.dumps(row(i)) for i in range(20)) + "\nnot json\n"
    r = client.post("/v1/models/churn/predictions", content=body)
    assert r.status_code == 202
    assert r.json() == {
        "accepted": 20,
        "rejected": 1,
        "sampled": 20,
        "duplicates": 0,
        "reasons": {"malformed": 1},
    }
    again = client.post(
        "/v1/models/churn/predictions",
        content=gzip.compress(json.dumps([row(i) for i in range(15, 25)]).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert again.status_code == 202 and again.json()["sampled"] == 5
    assert again.json()["duplicates"] == 5
    labels = "\n".join(json.dumps({"prediction_id": f"p{i}", "label": i % 2}) for i in range(3))
    r = client.post("/v1/models/churn/labels", content=labels + '\n{"prediction_id": "p3"}')
    assert r.status_code == 202
    assert r.json() == {
        "accepted": 3,
        "rejected": 1,
        "joined": 3,
        "pending": 0,
        "reasons": {"missing_label": 1},
    }
    (status,) = sampling_status(server.ctx)
    assert (status.sampled, status.stored, status.labelled) == (25, 25, 3)
    assert status.rejected == {"malformed": 1} and status.labels_rejected == {"missing_label": 1}


def test_nan_and_a_10mb_string_are_counted_and_the_server_keeps_going(
    api: tuple[ApiServer, httpx.Client],
) -> None:
    _, client = api
    rows = [row(1), row(2, age=float("nan")), row(3, city="x" * 10_000_000), row(4)]
    r = client.post("/v1/models/churn/predictions", content=json.dumps(rows))
    assert r.status_code == 202
    assert r.json()["reasons"] == {"non_finite": 1, "oversize_string": 1}
    assert r.json()["accepted"] == 2
    assert (
        client.post("/v1/models/churn/predictions", content=json.dumps([row(5)])).json()["sampled"]
        == 1
    )


def test_refusals(api: tuple[ApiServer, httpx.Client]) -> None:
    server, client = api
    path = "/v1/models/churn/predictions"
    json_type = {"Content-Type": "application/json"}
    assert httpx.post(server.url + path, content="[]", headers=json_type).status_code == 401
    wrong = {"Authorization": "Bearer nope", **json_type}
    assert httpx.post(server.url + path, content="[]", headers=wrong).status_code == 401
    assert client.post("/v1/models/nope/predictions", content="[]").status_code == 404
    assert client.get(path).status_code == 405
    assert client.get("/nowhere").status_code == 404
    big = json.dumps([{"prediction_id": "p1", "label": 1}] * 200)
    assert client.post("/v1/models/churn/labels", content=big).status_code == 413
    bomb = gzip.compress(b" " * 5000)
    r = client.post("/v1/models/churn/labels", content=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert client.post(path, content="[1, 2").status_code == 400
    # The over-limit predictions body is read and dropped, and the answer arrives.
    huge = b"[" + b" " * (16 * 1024 * 1024 + 10) + b"]"
    assert client.post(path, content=huge).status_code == 413
    assert client.post(path, content=json.dumps([row(9)])).status_code == 202


def test_routes_added_by_others_and_no_token_on_loopback(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"})
    server = ApiServer(ctx, port=0)
    server.router.add("GET", "/healthz", lambda req: Response.json(200, {"ok": True}))

    def boom(_: object) -> Response:
        raise RuntimeError("handler bug")

    server.router.add("GET", "/boom", boom)
    with server:
        assert server.port > 0
        assert httpx.get(server.url + "/healthz").json() == {"ok": True}
        assert httpx.get(server.url + "/boom").status_code == 500
        pushed = httpx.post(
            server.url + "/v1/models/churn/predictions",
            content=json.dumps([row(1)]),
            headers={"Content-Type": "application/json"},
        )
        assert pushed.status_code == 202


def test_a_negative_content_length_is_refused_at_once(api: tuple[ApiServer, httpx.Client]) -> None:
    import socket

    server, _ = api
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/models/churn/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: -1\r\n\r\n"
        )
        answer = conn.recv(4096).decode()
    assert answer.startswith("HTTP/1.") and " 400 " in answer.split("\r\n")[0], answer


def test_a_down_store_answers_503_and_the_server_keeps_going() -> None:
    from tests.sampling.conftest import make_ctx, settings_for

    # Nothing listens on port 1: every connection to this "store" is refused.
    ctx = make_ctx(settings_for("postgresql://postgres@127.0.0.1:1/none", {"kind": "http"}))
    server = ApiServer(ctx, port=0, token=Secret(TOKEN, "test"), clock=lambda: T0).start()
    try:
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        for _ in range(2):
            answer = httpx.post(
                server.url + "/v1/models/churn/predictions",
                content=json.dumps([row(1)]),
                headers=auth,
                timeout=30,
            )
            assert answer.status_code == 503, answer.text
            assert answer.json() == {"error": "store unavailable, retry later"}
            assert answer.headers["Retry-After"] == "30"
    finally:
        server.stop()
        ctx.close()


def test_a_score_outside_0_1_is_rejected_out_of_range_and_its_neighbours_kept(
    api: tuple[ApiServer, httpx.Client],
) -> None:
    server, client = api
    path = "/v1/models/churn/predictions"
    # A logit or a percentage where P(positive) belongs; 0 and 1 themselves are scores.
    scores = {2: 1.7, 5: -0.2, 7: 1.0, 8: 0.0, 11: 63.0, 14: -3.5}
    array = [row(i, score=scores.get(i, 0.4)) for i in range(10)]
    r = client.post(path, content=json.dumps(array), headers={"Content-Type": "application/json"})
    assert r.status_code == 202
    assert r.json()["reasons"] == {"out_of_range": 2}
    assert (r.json()["accepted"], r.json()["sampled"]) == (8, 8)
    # JSON Lines take the columnar path: the same verdict.
    lines = "\n".join(json.dumps(row(i, score=scores.get(i, 0.4))) for i in range(10, 16))
    r = client.post(path, content=lines)
    assert r.json()["reasons"] == {"out_of_range": 2}
    assert r.json()["sampled"] == 4
    (status,) = sampling_status(server.ctx)
    assert (status.sampled, status.stored) == (12, 12)
    assert status.rejected == {"out_of_range": 4}
    with server.ctx.sessions() as session:
        kept = session.execute(select(RejectedRow.reason, RejectedRow.detail)).all()
    assert {reason for reason, _ in kept} == {"out_of_range"}
    assert any(detail.startswith("score: 1.7 is outside [0, 1]") for _, detail in kept), kept


def test_a_declared_boolean_is_stored_true_or_false_however_it_is_spelled(
    ctx_factory: Factory, tmp_path: Path
) -> None:
    from daemon.checking.references import read_table
    from daemon.frames import typed_check
    from daemon.store.tables import Prediction

    ctx = ctx_factory({"kind": "http"}, schema={"boolean": ["student"]})
    model = ctx.settings.model("churn")
    assert model.schema_.categorical == ("city", "student")
    spellings = [True, False, "true", "False", "YES", "no", 1, 0, "1", "0", None, "maybe"]
    expected = ["true", "false"] * 5 + [None, "maybe"]
    server = ApiServer(ctx, port=0, token=Secret(TOKEN, "test"), clock=lambda: T0).start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        array = [row(i, student=v) for i, v in enumerate(spellings)]
        lines = "\n".join(json.dumps(row(100 + i, student=v)) for i, v in enumerate(spellings))
        for body, kind in ((json.dumps(array), "json"), (lines, "x-ndjson")):
            answer = httpx.post(
                server.url + "/v1/models/churn/predictions",
                content=body,
                headers={**auth, "Content-Type": f"application/{kind}"},
                timeout=30,
            )
            assert answer.json()["sampled"] == len(spellings), answer.text
    finally:
        server.stop()
    with ctx.sessions() as session:
        stored = dict(
            session.execute(select(Prediction.prediction_id, Prediction.categorical_features))
            .tuples()
            .all()
        )
    for offset in (0, 100):
        got = [stored[f"p{offset + i}"].get("student") for i in range(len(spellings))]
        assert got == expected, (offset, got)
    # A reference CSV types the same column the same way, as a spreadsheet writes it.
    csv = tmp_path / "reference.csv"
    csv.write_text("age,student\n30,True\n31,no\n32,1\n33,FALSE\n34,\n")
    frame = typed_check(read_table(csv, "churn", text=model.schema_.categorical), model)
    assert frame["student"].tolist() == ["true", "false", "true", "false", None]
