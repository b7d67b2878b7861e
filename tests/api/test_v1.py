"""The read-only /v1 API's contract, on SQLite and PostgreSQL (the `store_url` params).

The store is filled by the stages' own writers: rows pushed through the ingest
route, drift and quality results of real checks stored by the checking stage,
alerts by the alert policy, retrain jobs and a rollback pin by the retraining
stage's records, framework findings of a real advisory scan by the frameworks
stage. Every answer is validated against the response model the OpenAPI
document names for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel
from sqlalchemy import select

import checks
from checks.frameworks.policy import EnvironmentReport, FindingKind
from checks.interface import CheckKind, CheckResult, Status, TaskKind
from daemon.alerts.finding import Finding
from daemon.alerts.policy import apply_findings
from daemon.api import ApiServer
from daemon.api import v1_schema as schema
from daemon.checking.records import KindRun, store_runs
from daemon.config import Secret, Severity
from daemon.frameworks.mirror import SHIPPED_SNAPSHOT
from daemon.frameworks.records import store_findings
from daemon.jobs import JobContext
from daemon.retraining.records import add_queued_job, model_row, record_status, set_rolled_back
from daemon.store.engine import transaction
from daemon.store.tables import JobRun, RetrainJob
from retrain.interface import (
    DataRef,
    JobState,
    JobStatus,
    RetrainOutcome,
    RetrainSpec,
    TrainerKind,
)
from retrain.registry import Rollback
from tests.api.conftest import TOKEN
from tests.sampling.conftest import T0, row

Factory = Callable[..., JobContext]
NOW = T0 + timedelta(hours=6)
READ = "read-token-for-dashboards-0123"
REFS = "#/components/schemas/"


@dataclass(frozen=True)
class Seeded:
    """What was written, to compare the answers with."""

    drift: list[tuple[datetime, CheckResult]]
    quality: CheckResult
    scan: EnvironmentReport


def _frame(rng: np.random.Generator, n: int, age_mean: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.normal(age_mean, 10, n),
            "income": rng.gamma(2.0, 1500.0, n),
            "city": rng.choice(["paris", "lyon"], n, p=[0.7, 0.3]),
        }
    )


def _spec(job_id: str, now: datetime) -> RetrainSpec:
    data = DataRef(uri="file:///var/lib/mlmaint/snapshots/x.parquet", sha256="a" * 64, rows=900)
    return RetrainSpec(
        job_id=job_id,
        model="churn",
        task=TaskKind.BINARY,
        trigger="drift",
        numeric=("age", "income"),
        categorical=("city",),
        label="label",
        snapshot=data,
        holdout=None,
        trainer=TrainerKind.SKLEARN,
        deadline=now + timedelta(hours=1),
        tracking_uri="sqlite:///mlflow.db",
        artifact_location="file:///tmp/artifacts",
        experiment="mlmaint-churn",
        registered_model="churn",
    )


def _job(ctx: JobContext, job_id: str, now: datetime, status: JobStatus) -> None:
    with transaction(ctx.sessions) as session:
        model = model_row(session, "churn", now)
        add_queued_job(session, model, _spec(job_id, now), executor="local", now=now, deadline=now)
    with transaction(ctx.sessions) as session:
        job = session.scalars(select(RetrainJob).where(RetrainJob.job_uid == job_id)).one()
        record_status(session, job, "churn", status, now + timedelta(minutes=5))


def _finding(subject: str, firing: bool, value: float) -> Finding:
    return Finding(
        scope="churn",
        kind=CheckKind.DRIFT,
        subject=subject,
        firing=firing,
        severity=Severity.CRITICAL,
        summary=f"{subject} drifted",
        value=value,
        threshold=0.1,
    )


def seed(ctx: JobContext, base_url: str, tmp_path: Path) -> Seeded:
    # Rows pushed as the model's service would: 40 good ones, 2 the schema rejects.
    body = [row(i) for i in range(40)] + [row(40, age="old"), row(41, income="lots")]
    pushed = httpx.post(
        f"{base_url}/v1/models/churn/predictions",
        content=json.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert pushed.status_code == 202, pushed.text
    assert pushed.json()["rejected"] == 2, pushed.text

    # Three hourly drift windows, the last two shifted; a quality run on the last.
    rng = np.random.default_rng(3)
    reference = _frame(rng, 2000, 40)
    drift = []
    quality = None
    for hour, mean in ((1, 40), (2, 48), (3, 55)):
        end = T0 + timedelta(hours=hour)
        window = _frame(rng, 400, mean)
        result = checks.check_drift(reference, window, thresholds="evidently")
        runs = {CheckKind.DRIFT: KindRun(result=result, duration_s=0.01)}
        if hour == 3:
            window.loc[:39, "city"] = "nice"
            quality = checks.check_quality(reference, window)
            runs[CheckKind.QUALITY] = KindRun(result=quality, duration_s=0.01)
        with transaction(ctx.sessions) as session:
            store_runs(session, "churn", runs, start=end - timedelta(hours=1), end=end, version="1")
        drift.append((end, result))
    assert quality is not None

    # Alerts through the policy: age fires; income fires, then resolves.
    with transaction(ctx.sessions) as session:
        found = [_finding("age", True, 1.25), _finding("income", True, 0.2)]
        apply_findings(session, ctx.settings, found, NOW - timedelta(hours=2))
    with transaction(ctx.sessions) as session:
        apply_findings(session, ctx.settings, [_finding("income", False, 0.05)], NOW)

    # A promoted retrain (version 2), a failed one, then a rollback pinned to 1.
    promoted = RetrainOutcome(
        job_id="job-promoted",
        state=JobState.SUCCEEDED,
        registered_version="2",
        promoted=True,
        metric="roc_auc",
        challenger_score=0.91,
        champion_score=0.88,
        reason="challenger beat the champion",
    )
    _job(
        ctx,
        "job-promoted",
        NOW - timedelta(hours=3),
        JobStatus(state=JobState.SUCCEEDED, outcome=promoted),
    )
    failed = JobStatus(state=JobState.FAILED, error="ModuleNotFoundError: No module named 'xgb'")
    _job(ctx, "job-failed", NOW - timedelta(hours=1), failed)
    with transaction(ctx.sessions) as session:
        back = Rollback(
            model="churn",
            from_version="2",
            to_version="1",
            reference_uri=None,
            reference_sha256=None,
        )
        until = NOW + timedelta(days=7)
        set_rolled_back(model_row(session, "churn", NOW), back, now=NOW, until=until, by="ops")

    # A real advisory scan of a requirements file, stored by the frameworks stage.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("torch==1.12.1\npillow==9.0.0\nnumpy\n")
    scan = checks.scan_requirements(requirements, SHIPPED_SNAPSHOT, environment="serving", now=NOW)
    store_findings(ctx.sessions, scan, NOW)
    return Seeded(drift=drift, quality=quality, scan=scan)


def serve_seeded(
    ctx_factory: Factory, tmp_path: Path, also: Callable[[JobContext], None] | None = None
) -> Iterator[tuple[httpx.Client, Seeded]]:
    """A loopback server over a store the stages filled (then `also`); a client with no token."""
    ctx = ctx_factory({"kind": "http"}, labels={"kind": "http"})
    server = ApiServer(ctx, port=0, token=Secret(TOKEN, "test"), clock=lambda: NOW).start()
    try:
        seeded = seed(ctx, server.url, tmp_path)
        if also is not None:
            also(ctx)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client, seeded
    finally:
        server.stop()


@pytest.fixture
def world(ctx_factory: Factory, tmp_path: Path) -> Iterator[tuple[httpx.Client, Seeded]]:
    yield from serve_seeded(ctx_factory, tmp_path)


def _get(client: httpx.Client, path: str, **params: str) -> Any:
    """GET a /v1 read, check it is 200 and matches the model the OpenAPI document names."""
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body, dict)
    _model_for(client, path).model_validate(body)
    return body


def _model_for(client: httpx.Client, path: str) -> type[BaseModel]:
    doc = client.get("/v1/openapi.json").json()
    template = path.replace("/churn", "/{name}") if path.startswith("/v1/models/") else path
    ok = doc["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]
    name = ok["schema"]["$ref"].removeprefix(REFS)
    assert name in doc["components"]["schemas"]
    found = getattr(schema, name)
    assert issubclass(found, BaseModel)
    return found


# --------------------------------------------------------------------------- models


def test_models_at_a_glance(world: tuple[httpx.Client, Seeded]) -> None:
    client, seeded = world
    (model,) = _get(client, "/v1/models")["models"]
    assert model["name"] == "churn" and model["task"] == "binary_classification"
    # Promoted to 2, then rolled back to 1 and pinned there for a week.
    assert model["serving_version"] == "1" and model["alias"] == "champion"
    assert model["pin"]["version"] == "1" and model["pin"]["by"] == "ops"
    assert model["pin"]["active"] is True
    assert model["pin"]["until"].startswith((NOW + timedelta(days=7)).date().isoformat())
    assert model["rows_sampled"] == 40 and model["rows_rejected"] == 2
    assert model["firing_alerts"] == 1
    assert "drift" in model["checks"] and "quality" in model["checks"]
    last = {c["kind"]: c for c in model["last_checks"]}
    assert set(last) == {"drift", "quality"}
    end, result = seeded.drift[-1]
    assert last["drift"]["window_end"] == end.isoformat().replace("+00:00", "Z")
    assert last["drift"]["status"] == result.status.value == "alert"
    assert last["drift"]["rows"] == 400 and last["drift"]["model_version"] == "1"
    assert last["quality"]["status"] == seeded.quality.status.value


def test_one_model_in_detail_and_an_unknown_one(world: tuple[httpx.Client, Seeded]) -> None:
    client, seeded = world
    detail = _get(client, "/v1/models/churn")
    _, result = seeded.drift[-1]
    latest = {(m["kind"], m["subject"], m["name"]): m for m in detail["latest_measures"]}
    for measure in result.measures:
        stored = latest[("drift", measure.subject, measure.name)]
        assert stored["value"] == pytest.approx(measure.value)
        assert stored["threshold"] == pytest.approx(measure.threshold)
        assert stored["alerting"] is measure.alerting
    for measure in seeded.quality.alerting:
        assert latest[("quality", measure.subject, measure.name)]["alerting"] is True
    assert [a["subject"] for a in detail["alerts"]] == ["age"]
    jobs = detail["recent_jobs"]
    assert [j["job_uid"] for j in jobs] == ["job-failed", "job-promoted"]

    missing = client.get("/v1/models/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "unknown model 'nope': the configured models are churn"}
    assert client.get("/v1/models/nope/checks").status_code == 404


# --------------------------------------------------------------------------- checks


def test_every_stored_measure_over_time(world: tuple[httpx.Client, Seeded]) -> None:
    client, seeded = world
    body = _get(client, "/v1/models/churn/checks", kind="drift", subject="age")
    measures = body["measures"]
    assert isinstance(measures, list) and body["truncated"] is False
    # One per window, oldest first, each the value the check computed for that window.
    assert len(measures) == len(seeded.drift) == 3
    for got, (end, result) in zip(measures, seeded.drift, strict=True):
        (expected,) = [m for m in result.measures if m.subject == "age"]
        assert got["window_end"] == end.isoformat().replace("+00:00", "Z")
        assert got["kind"] == "drift" and got["name"] == expected.name
        assert got["value"] == pytest.approx(expected.value)
        assert got["threshold"] == pytest.approx(expected.threshold)
        assert got["alerting"] is expected.alerting
        assert got["status"] == result.status.value
    # The age shift grows: clean first, beyond the threshold after.
    assert [m["alerting"] for m in measures] == [False, True, True]
    assert measures[0]["value"] < measures[1]["value"] < measures[2]["value"]

    # Every kind and subject: all measures of all runs.
    everything = _get(client, "/v1/models/churn/checks")["measures"]
    stored = sum(len(r.measures) for _, r in seeded.drift) + len(seeded.quality.measures)
    assert len(everything) == stored
    # A time range, with an offset, a date, and a "+" that arrives as a space.
    second = seeded.drift[1][0]
    since = _get(
        client, "/v1/models/churn/checks", kind="drift", subject="age", since=second.isoformat()
    )["measures"]
    assert [m["window_end"][:19] for m in since] == [
        e.isoformat()[:19] for e, _ in seeded.drift[1:]
    ]
    offset = second.isoformat().replace("+", " ")
    spaced = client.get(f"/v1/models/churn/checks?kind=drift&subject=age&until={offset}")
    assert spaced.status_code == 200 and len(spaced.json()["measures"]) == 2
    day = _get(client, "/v1/models/churn/checks", subject="age", until=T0.date().isoformat())
    assert day["measures"] == []
    # A limit keeps the newest.
    cut = _get(client, "/v1/models/churn/checks", kind="drift", subject="age", limit="1")
    assert cut["truncated"] is True
    assert cut["measures"][0]["window_end"] == measures[-1]["window_end"]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (
            "kind=drfit",
            "kind: 'drfit' is not one of drift, quality, performance, "
            "estimated_performance, operations",
        ),
        ("since=yesterday", "since: 'yesterday' is not a time: use ISO 8601, e.g. 2026-11-30"),
        ("until=2026-13-01", "until: '2026-13-01' is not a time"),
        ("since=2026-12-02&until=2026-12-01", "is after until"),
        ("limit=0", "limit: 0 is out of range 1 to 10000"),
        ("limit=ten", "limit: 'ten' is not a whole number"),
        ("kinds=drift", "unknown parameter 'kinds': this endpoint takes kind, subject, name"),
        ("kind=drift&kind=quality", "kind: given 2 times, give it once"),
    ],
)
def test_a_bad_parameter_is_400_saying_what_is_accepted(
    ctx_factory: Factory, query: str, says: str
) -> None:
    ctx = ctx_factory({"kind": "http"})
    with ApiServer(ctx, port=0, clock=lambda: NOW) as server:
        answer = httpx.get(f"{server.url}/v1/models/churn/checks?{query}")
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["error"]


# ------------------------------------------------------------------ alerts, jobs, frameworks


def test_alerts_by_state(world: tuple[httpx.Client, Seeded]) -> None:
    client, _ = world
    (firing,) = _get(client, "/v1/alerts")["alerts"]
    assert firing["subject"] == "age" and firing["state"] == "firing"
    assert firing["value"] == 1.25 and firing["threshold"] == 0.1
    assert firing["severity"] == "critical" and firing["acked"] is False
    (resolved,) = _get(client, "/v1/alerts", state="resolved")["alerts"]
    assert resolved["subject"] == "income"
    assert resolved["resolved_at"] == NOW.isoformat().replace("+00:00", "Z")
    every = _get(client, "/v1/alerts", state="all", scope="churn")["alerts"]
    assert {a["subject"] for a in every} == {"age", "income"}
    assert client.get("/v1/alerts", params={"scope": "wine"}).status_code == 404
    bad = client.get("/v1/alerts", params={"state": "open"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "state: 'open' is not one of firing, resolved, event, all"


def test_retrain_jobs(world: tuple[httpx.Client, Seeded]) -> None:
    client, _ = world
    failed, promoted = _get(client, "/v1/jobs")["jobs"]
    assert failed["state"] == "failed" and "ModuleNotFoundError" in failed["error"]
    assert promoted["state"] == "succeeded" and promoted["promoted"] is True
    assert promoted["registered_version"] == "2" and promoted["trigger"] == "drift"
    assert promoted["challenger_score"] == 0.91 and promoted["champion_score"] == 0.88
    assert promoted["metric"] == "roc_auc"
    only = _get(client, "/v1/jobs", state="succeeded", model="churn")["jobs"]
    assert [j["job_uid"] for j in only] == ["job-promoted"]
    assert _get(client, "/v1/jobs", limit="1")["truncated"] is True


def test_framework_findings_as_the_scan_stored_them(world: tuple[httpx.Client, Seeded]) -> None:
    client, seeded = world
    body = _get(client, "/v1/frameworks")
    findings = body["findings"]
    assert isinstance(findings, list)
    expected = {(f.package, f.kind.value, tuple(f.advisory_ids)) for f in seeded.scan.findings}
    assert {(f["package"], f["kind"], tuple(f["advisory_ids"])) for f in findings} == expected
    vulnerable = [f for f in findings if f["kind"] == "vulnerable"]
    # Real PyPA records: torch 1.12.1 (CVE-2022-45907) and pillow 9.0.0 are affected.
    assert {f["package"] for f in vulnerable} == {"torch", "pillow"}
    torch = next(f for f in vulnerable if f["package"] == "torch")
    assert "CVE-2022-45907" in torch["advisory_ids"] and torch["fixed"] == "1.13.1"
    assert body["scanned_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert body["note"] is None
    assert body["environments"] == [
        {
            "name": "serving",
            "scanned_at": NOW.isoformat().replace("+00:00", "Z"),
            "findings": len(findings),
        }
    ]
    kinds = _get(client, "/v1/frameworks", kind="unpinned")["findings"]
    assert [f["package"] for f in kinds] == ["numpy"]
    assert client.get("/v1/frameworks", params={"kind": "old"}).status_code == 400
    assert (
        FindingKind.VULNERABLE.value
        in client.get("/v1/frameworks", params={"kind": "old"}).json()["error"]
    )


# --------------------------------------------------------------------------- the document, doors


def test_openapi_describes_every_v1_route(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"}, labels={"kind": "http"})
    with ApiServer(ctx, port=0, clock=lambda: NOW) as server:
        doc = httpx.get(f"{server.url}/v1/openapi.json").json()
        routes = [r for r in server.router.routes if r.template.startswith("/v1/")]
    assert doc["openapi"].startswith("3.1")
    assert len(routes) == 9
    for route in routes:
        operation = doc["paths"][route.template][route.method.lower()]
        for answer in operation["responses"].values():
            ref = answer["content"]["application/json"]["schema"].get("$ref")
            if ref is not None:
                assert ref.removeprefix(REFS) in doc["components"]["schemas"], ref
        for param in operation["parameters"]:
            if param["in"] == "path":
                assert "{" + param["name"] + "}" in route.template
    operation_ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {(r.template, r.method) for r in routes}
    checks_op = doc["paths"]["/v1/models/{name}/checks"]["get"]
    params = {p["name"]: p["schema"] for p in checks_op["parameters"]}
    assert params["kind"]["enum"] == [k.value for k in CheckKind]
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}
    measure = doc["components"]["schemas"]["MeasureOut"]["properties"]
    assert measure["status"]["$ref"] == REFS + "Status"
    assert set(doc["components"]["schemas"]["Status"]["enum"]) == {s.value for s in Status}


def test_an_empty_store_answers_every_read(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"})
    with (
        ApiServer(ctx, port=0, clock=lambda: NOW) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        (model,) = _get(client, "/v1/models")["models"]
        assert model["serving_version"] is None and model["pin"] is None
        assert model["rows_sampled"] == model["firing_alerts"] == 0
        assert model["last_checks"] == []
        assert _get(client, "/v1/models/churn")["latest_measures"] == []
        assert _get(client, "/v1/models/churn/checks")["measures"] == []
        assert _get(client, "/v1/alerts")["alerts"] == []
        assert _get(client, "/v1/jobs")["jobs"] == []
        # No scan yet is said, not an empty list that reads as all clear.
        assert _get(client, "/v1/frameworks") == {
            "scanned_at": None,
            "note": "no scan yet: `mlmaint frameworks` runs one, as the daemon does daily",
            "environments": [],
            "findings": [],
            "limit": 500,
            "truncated": False,
        }
        # A daily scan that found nothing stores no finding; its job's record says it ran.
        with ctx.sessions() as session, session.begin():
            session.add(JobRun(job_id="frameworks", last_success_at=NOW, last_status="ok"))
        clean = _get(client, "/v1/frameworks")
        assert clean["scanned_at"] == NOW.isoformat().replace("+00:00", "Z")
        assert clean["note"] is None and clean["findings"] == []


def test_beyond_loopback_every_read_needs_a_token(ctx_factory: Factory) -> None:
    ctx = ctx_factory({"kind": "http"})
    server = ApiServer(
        ctx,
        host="0.0.0.0",
        port=0,
        token=Secret(TOKEN, "t"),
        read_token=Secret(READ, "r"),
        clock=lambda: NOW,
    )
    paths = [
        "/v1/models",
        "/v1/models/churn",
        "/v1/models/churn/checks",
        "/v1/alerts",
        "/v1/jobs",
        "/v1/frameworks",
        "/v1/openapi.json",
    ]
    with server:
        base = f"http://127.0.0.1:{server.port}"
        gets = [r.template for r in server.router.routes if r.method == "GET"]
        assert sorted(p for p in gets if p.startswith("/v1/")) == sorted(
            p.replace("churn", "{name}") for p in paths
        )
        for path in paths:
            refused = httpx.get(base + path)
            assert refused.status_code == 401, path
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = httpx.get(base + path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401, path
            for token in (READ, TOKEN):
                ok = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"})
                assert ok.status_code == 200, (path, ok.text)
