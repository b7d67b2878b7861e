"""The /v1 reads as a new user met them: unknown names, the order of framework
findings, windows that measured nothing, a measure's name, HEAD and Origin.

The store is filled as in test_v1.py (`seed`: the stages' own writers), plus a
drift run with too few rows, stored by the checking stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import checks
from checks.frameworks.policy import ACTIONABLE, FindingKind
from checks.interface import CheckKind, Status
from daemon.checking.records import KindRun, store_runs
from daemon.jobs import JobContext
from daemon.store.engine import transaction
from tests.api.conftest import TOKEN
from tests.api.test_v1 import NOW, Seeded, _frame, _get, serve_seeded

Factory = Callable[..., JobContext]
SHORT_END = NOW - timedelta(hours=1)


def _short_drift_run(ctx: JobContext) -> None:
    """A window with 10 rows: the drift check answers insufficient_data, no measures."""
    rng = np.random.default_rng(5)
    short = checks.check_drift(_frame(rng, 2000, 40), _frame(rng, 10, 40))
    assert short.status is Status.INSUFFICIENT_DATA and not short.measures
    with transaction(ctx.sessions) as session:
        runs = {CheckKind.DRIFT: KindRun(result=short, duration_s=0.01)}
        store_runs(
            session,
            "churn",
            runs,
            start=SHORT_END - timedelta(hours=1),
            end=SHORT_END,
            version="1",
        )


@pytest.fixture
def world(ctx_factory: Factory, tmp_path: Path) -> Iterator[tuple[httpx.Client, Seeded]]:
    yield from serve_seeded(ctx_factory, tmp_path, _short_drift_run)


def _error(client: httpx.Client, path: str, **params: str) -> str:
    answer = client.get(path, params=params)
    assert answer.status_code == 404, answer.text
    message = answer.json()["error"]
    assert isinstance(message, str)
    return message


def test_unknown_names_are_404_listing_the_known_ones(world: tuple[httpx.Client, Any]) -> None:
    client, _ = world
    assert _error(client, "/v1/alerts", scope="nosuch") == (
        "unknown scope 'nosuch': the models are churn; the environments are none; "
        "the stored scopes are churn"
    )
    assert _error(client, "/v1/jobs", model="nosuch") == (
        "unknown model 'nosuch': the configured models are churn; the stored models are churn"
    )
    assert _error(client, "/v1/frameworks", environment="nosuch") == (
        "unknown environment 'nosuch': the environments are serving"
    )
    assert _error(client, "/v1/models/churn/checks", subject="nosuchcol") == (
        "unknown subject 'nosuchcol' for model 'churn': its recent runs measured "
        "age, city, dataset, income, schema"
    )
    # Known names answer, empty or not.
    assert _get(client, "/v1/alerts", scope="churn", state="all")["alerts"]
    assert _get(client, "/v1/frameworks", environment="serving")["findings"]
    assert _get(client, "/v1/jobs", model="churn")["jobs"]
    # A stored subject outside the time range is an empty answer, not a 404.
    early = (NOW - timedelta(days=30)).isoformat()
    assert _get(client, "/v1/models/churn/checks", subject="age", until=early)["measures"] == []


def test_findings_are_ordered_by_kind_gravity_then_severity(
    world: tuple[httpx.Client, Seeded],
) -> None:
    client, seeded = world
    findings = _get(client, "/v1/frameworks")["findings"]
    kinds = [FindingKind(f["kind"]) for f in findings]
    # The scan stored vulnerabilities of unknown severity and informational notes.
    assert {f["severity"] for f in findings if f["kind"] == "vulnerable"} >= {"unknown"}
    assert any(k not in ACTIONABLE for k in kinds)
    actionable = [k in ACTIONABLE for k in kinds]
    assert actionable == sorted(actionable, reverse=True), kinds
    assert kinds[0] is FindingKind.VULNERABLE
    assert len(findings) == len(seeded.scan.findings)


def test_checks_list_each_run_with_its_status_and_filter_by_name(
    world: tuple[httpx.Client, Seeded],
) -> None:
    client, seeded = world
    body = _get(client, "/v1/models/churn/checks", kind="drift")
    runs = body["runs"]
    # Three measured hourly windows, and the short one that measured nothing.
    assert [r["status"] for r in runs] == [
        *(r.status.value for _, r in seeded.drift),
        "insufficient_data",
    ]
    short = runs[-1]
    assert short["window_end"] == SHORT_END.isoformat().replace("+00:00", "Z")
    assert short["rows"] == 10 and short["reason"] == "10 rows, 100 needed"
    assert {m["run_id"] for m in body["measures"]} == {r["run_id"] for r in runs[:-1]}
    assert all(r["reason"] is None for r in runs[:-1])
    # Both kinds' runs without a kind; a time range cuts runs like measures.
    assert {r["kind"] for r in _get(client, "/v1/models/churn/checks")["runs"]} == {
        "drift",
        "quality",
    }
    since = _get(client, "/v1/models/churn/checks", since=SHORT_END.isoformat())
    assert [r["status"] for r in since["runs"]] == ["insufficient_data"]
    # name= picks one measure of a subject.
    named = _get(
        client, "/v1/models/churn/checks", kind="quality", subject="city", name="new_category_share"
    )["measures"]
    (measure,) = named
    expected = seeded.quality.measure("city", "new_category_share")
    assert measure["value"] == pytest.approx(expected.value)
    every = _get(client, "/v1/models/churn/checks", kind="quality", subject="city")["measures"]
    assert {m["name"] for m in every} == {"missing_share", "new_category_share"}


def test_openapi_documents_runs_name_and_the_404s(world: tuple[httpx.Client, Seeded]) -> None:
    client, _ = world
    doc = _get_doc(client)
    checks_op = doc["paths"]["/v1/models/{name}/checks"]["get"]
    assert "name" in {p["name"] for p in checks_op["parameters"]}
    out = doc["components"]["schemas"]["ChecksOut"]["properties"]
    assert out["runs"]["items"]["$ref"] == "#/components/schemas/RunOut"
    run = doc["components"]["schemas"]["RunOut"]["properties"]
    assert {"status", "reason", "window_end", "rows"} <= set(run)
    for path in ("/v1/alerts", "/v1/jobs", "/v1/frameworks", "/v1/models/{name}/checks"):
        assert "404" in doc["paths"][path]["get"]["responses"], path


def _get_doc(client: httpx.Client) -> dict[str, Any]:
    doc = client.get("/v1/openapi.json").json()
    assert isinstance(doc, dict)
    return doc


def test_head_answers_get_routes_and_origin_guards_writes_only(
    world: tuple[httpx.Client, Seeded],
) -> None:
    client, _ = world
    for path in ("/v1/models", "/v1/models/churn/checks", "/v1/openapi.json"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["Content-Length"] == str(len(got.content))
        assert head.headers["Content-Type"] == got.headers["Content-Type"]
    assert client.head("/v1/models/nosuch").status_code == 404
    # A route with no GET is still 405 to HEAD.
    assert client.head("/v1/models/churn/predictions").status_code == 405
    # Reads are not refused by Origin (no CORS header: a foreign page cannot read them);
    # writes are.
    evil = {"Origin": "https://evil.example"}
    read = client.get("/v1/models", headers=evil)
    assert read.status_code == 200 and "Access-Control-Allow-Origin" not in read.headers
    write = client.post(
        "/v1/models/churn/predictions",
        content=b"[]",
        headers={**evil, "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert write.status_code == 403, write.text
