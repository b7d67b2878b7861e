"""Bounded fuzzing of the ingest body parser, directly and through a real server.

Deterministic (derandomize) so CI sees the same inputs every run; each test takes
a few seconds, well under the 60 s budget. Any answer but 202, 400, 413 or 415 is
a failure: a 500 is a bug, and 503 cannot happen with a healthy store.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.api import ApiServer
from daemon.http_body import BodyError, decode, documents
from tests.conftest import new_sqlite_url
from tests.sampling.conftest import T0, make_ctx, row, settings_for

BUDGET_S = 60
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "paris",
            "lyon",
            "2026-03-02T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "\x00",
            "\ud800",
            "a\udfffb",
        ]
    )
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.sampled_from(
    ["prediction_id", "timestamp", "age", "income", "city", "prediction", "score", "latency_ms"]
)


@st.composite
def _rows(draw: st.DrawFn) -> list[object]:
    """Rows near the schema: real rows with some fields replaced, plus any JSON."""
    out: list[object] = []
    for i in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            base = row(draw(st.integers(0, 50)))
            base.update(draw(st.dictionaries(_fields, _json, max_size=3)))
            out.append(base)
        else:
            out.append(draw(_json))
        if i > 4:
            break
    return out


@st.composite
def _body(draw: st.DrawFn) -> tuple[bytes, str, str | None]:
    """(body, content type, content encoding)."""
    rows = draw(_rows())
    shape = draw(st.sampled_from(["array", "jsonl", "bytes", "nested", "surgery"]))
    if shape == "array":
        raw = json.dumps(rows).encode()
    elif shape == "jsonl":
        raw = b"\n".join(json.dumps(r).encode() for r in rows)
    elif shape == "bytes":
        raw = draw(st.binary(max_size=200))
    elif shape == "nested":
        depth = draw(st.integers(1, 3000))
        opener = draw(st.sampled_from([b"[", b'{"a":']))
        closer = b"]" if opener == b"[" else b"}"
        raw = b"[" + opener * depth + b"1" + closer * draw(st.integers(0, depth)) + b"]"
    else:
        # A valid body with bytes cut, doubled or replaced somewhere.
        raw = json.dumps(rows).encode()
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=6)) + raw[at + draw(st.integers(0, 4)) :]
    encoding = draw(st.sampled_from([None, "gzip", "gzip-cut", "gzip-twice"]))
    if encoding == "gzip":
        raw = gzip.compress(raw)
    elif encoding == "gzip-cut":
        packed = gzip.compress(raw)
        raw = packed[: draw(st.integers(0, len(packed)))]
        encoding = "gzip"
    elif encoding == "gzip-twice":
        raw = gzip.compress(raw) + gzip.compress(raw)
        encoding = "gzip"
    kind = draw(st.sampled_from(["application/json", "application/x-ndjson; charset=utf-8"]))
    return raw, kind, encoding


@settings(FUZZ, max_examples=1000)
@given(case=_body())
def test_the_parser_refuses_only_with_a_body_error(case: tuple[bytes, str, str | None]) -> None:
    raw, _, encoding = case
    try:
        docs = documents(decode(raw, encoding, 1 << 20))
    except BodyError as exc:
        assert exc.status in (400, 413, 415)
        return
    # An array body comes parsed, anything else as lines left to the row validator.
    assert (docs.records is None) or not docs.lines
    assert all(line.strip() == line and line for line in docs.lines)


def test_the_server_answers_fuzzed_bodies_without_a_500(
    sqlite_template: Path, tmp_path: Path
) -> None:
    ctx = make_ctx(
        settings_for(
            new_sqlite_url(sqlite_template, tmp_path), {"kind": "http"}, labels={"kind": "http"}
        )
    )
    started = time.monotonic()
    seen: dict[int, int] = {}
    try:
        with (
            ApiServer(ctx, port=0, clock=lambda: T0) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):

            @settings(FUZZ, max_examples=400)
            @given(case=_body(), stream=st.sampled_from(["predictions", "labels"]))
            def post(case: tuple[bytes, str, str | None], stream: str) -> None:
                raw, kind, encoding = case
                headers = {"Content-Type": kind}
                if encoding:
                    headers["Content-Encoding"] = encoding
                r = client.post(f"/v1/models/churn/{stream}", content=raw, headers=headers)
                seen[r.status_code] = seen.get(r.status_code, 0) + 1
                assert r.status_code in (202, 400, 413, 415), (r.status_code, r.text, raw[:200])

            post()
    finally:
        ctx.close()
    assert time.monotonic() - started < BUDGET_S
    # The inputs reached both sides of the parser: some stored, some refused.
    assert seen.get(202, 0) > 0 and seen.get(400, 0) > 0, seen
