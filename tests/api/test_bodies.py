"""Pushed bodies are read whole or refused: gzip members, truncation, bombs, nesting."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import time

import pytest

from daemon.http_body import MAX_DEPTH, nesting_depth
from daemon.sampling import sampling_status
from tests.api.conftest import TOKEN, Api
from tests.sampling.conftest import row

PREDICTIONS = "/v1/models/churn/predictions"
LABELS = "/v1/models/churn/labels"


def _jsonl(start: int, stop: int) -> bytes:
    return b"".join(json.dumps(row(i)).encode() + b"\n" for i in range(start, stop))


def _stored(api: Api) -> int:
    (status,) = sampling_status(api[0].ctx)
    return status.stored


def test_every_gzip_member_is_read(api: Api) -> None:
    _, client = api
    body = gzip.compress(_jsonl(0, 50)) + gzip.compress(_jsonl(50, 100))
    r = client.post(PREDICTIONS, content=body, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 100 and r.json()["rejected"] == 0
    assert _stored(api) == 100


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "garbage-after", "empty"])
def test_a_damaged_gzip_body_is_400_and_stores_nothing(api: Api, damage: str) -> None:
    _, client = api
    whole = gzip.compress(_jsonl(0, 200))
    body = {
        "truncated": whole[: len(whole) * 2 // 3],
        "corrupt": whole[:40] + bytes(b ^ 0x5A for b in whole[40:80]) + whole[80:],
        "garbage-after": whole + b"not a gzip member",
        "empty": b"",
    }[damage]
    r = client.post(PREDICTIONS, content=body, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400, r.text
    assert "gzip" in r.json()["error"]
    assert _stored(api) == 0


def test_a_gzip_bomb_is_413_while_inflating(api: Api) -> None:
    _, client = api
    # 64 MiB of spaces is 64 KiB of gzip: past the 16 MiB limit once inflated.
    bomb = gzip.compress(b" " * (64 << 20), compresslevel=9)
    assert len(bomb) < 1 << 20
    r = client.post(PREDICTIONS, content=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413, r.text
    assert _stored(api) == 0


@pytest.mark.parametrize(
    ("path", "shape"),
    [(PREDICTIONS, "array"), (PREDICTIONS, "jsonl"), (LABELS, "array"), (LABELS, "jsonl")],
)
def test_100000_deep_nesting_is_400_without_a_traceback(
    api: Api, caplog: pytest.LogCaptureFixture, path: str, shape: str
) -> None:
    _, client = api
    deep = b"[" * 100_000 + b"]" * 100_000
    good = _jsonl(0, 10)
    if shape == "array":
        body = b"[" + json.dumps(row(0)).encode() + b"," + deep + b"]"
    else:
        body = good + deep + b"\n" + _jsonl(10, 20)
    with caplog.at_level(logging.DEBUG):
        r = client.post(path, content=body)
    assert r.status_code == 400, r.text
    assert f"deeper than {MAX_DEPTH}" in r.json()["error"]
    assert "Traceback" not in caplog.text and not any(rec.exc_info for rec in caplog.records)
    assert _stored(api) == 0
    # The server goes on, and stores exactly what it acknowledges.
    ok = client.post(PREDICTIONS, content=good)
    assert ok.status_code == 202 and ok.json()["accepted"] == 10
    assert _stored(api) == 10


def test_depth_scan_ignores_brackets_in_strings_and_counts_the_rest() -> None:
    assert nesting_depth(b'[{"a": "[[[[[[[[[["}]') == 2
    text = b'{"a": "' + b"[" * 500 + b'\\"' + b"{" * 500 + b'"}'
    assert nesting_depth(text) == 1
    assert nesting_depth(b"[" * 65 + b"]" * 65) == 65
    # An unterminated string ends at its line: the next line's brackets count.
    assert nesting_depth(b'"open\n' + b"[" * 70) == 70
    assert nesting_depth(b"]" * 100 + b"[" * 10) <= 10


def test_a_body_cut_short_stores_nothing(api: Api) -> None:
    server, client = api
    body = _jsonl(0, 100)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(
            b"POST " + PREDICTIONS.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Content-Type: application/x-ndjson\r\n"
            b"Content-Length: " + str(len(body) + 1000).encode() + b"\r\n\r\n" + body
        )
        time.sleep(0.3)
    time.sleep(0.3)
    assert _stored(api) == 0
    r = client.post(PREDICTIONS, content=_jsonl(0, 5))
    assert r.status_code == 202 and _stored(api) == 5


@pytest.mark.parametrize("body", [b"null", b"null\n", b" null ", b"1", b'"x"', b"[]", b"[null]"])
def test_a_lone_json_value_is_rejected_not_fatal(api: Api, body: bytes) -> None:
    # A lone `null` once reached pyarrow's JSON reader, which crashed the process.
    _, client = api
    r = client.post(PREDICTIONS, content=body)
    assert r.status_code in (202, 400), r.text
    assert _stored(api) == 0
    ok = client.post(PREDICTIONS, content=_jsonl(0, 3))
    assert ok.status_code == 202 and _stored(api) == 3
