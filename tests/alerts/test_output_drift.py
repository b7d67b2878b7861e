"""The model's outputs drift as one alert per model: it fires while any of prediction,
score and label drifts, names those that do with their values, keeps one fingerprint
whichever of them drift, and resolves only once none does. Features keep their own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from checks.interface import CheckKind, CheckResult, Direction, Measure, Status
from daemon.alerts.finding import Finding
from daemon.alerts.jobs import alert_cycle
from daemon.checking.findings import OUTPUTS_SUBJECT, findings_of
from daemon.config import Severity
from daemon.store.tables import Alert, AlertState
from tests.alerts.conftest import MakeCtx, make_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LINK = "https://mlmaint.example.com/reports/evidence/7"


def _drift(values: dict[str, float]) -> CheckResult:
    """A drift result over one feature and the three outputs, PSI against 0.1 each."""
    measures = tuple(
        Measure(
            subject=subject,
            name="psi",
            value=value,
            threshold=0.1,
            status=Status.ALERT if value >= 0.1 else Status.OK,
            severity_ratio=value / 0.1 if value >= 0.1 else 0.0,
            alerts_when=Direction.ABOVE,
            detail="PSI",
        )
        for subject, value in values.items()
    )
    return CheckResult(kind=CheckKind.DRIFT, status=Status.ALERT, rows=400, measures=measures)


def _findings(values: dict[str, float]) -> list[Finding]:
    return findings_of("churn", _drift(values), LINK, critical_ratio=2.0)


def test_three_drifting_outputs_are_one_finding_that_names_them() -> None:
    found = _findings({"income": 0.05, "prediction": 0.31, "score": 0.12, "label": 0.15})
    assert [f.subject for f in found] == ["income", OUTPUTS_SUBJECT]
    outputs = found[1]
    assert outputs.firing and outputs.kind is CheckKind.DRIFT and outputs.link == LINK
    assert outputs.summary == (
        "drift of the model's outputs: prediction, PSI 0.31 above threshold 0.1; "
        "score, PSI 0.12 above threshold 0.1; label, PSI 0.15 above threshold 0.1"
    )
    # The worst output sets the severity (0.31 is 3.1x its threshold: critical) and
    # the value shown in listings; each output's value travels in the details.
    assert outputs.severity is Severity.CRITICAL
    assert (outputs.value, outputs.threshold) == (0.31, 0.1)
    assert outputs.details["drifted"] == "prediction, score, label"
    assert outputs.details["score.psi"] == 0.12
    # The fingerprint depends on the model, not on which outputs drift.
    only_label = _findings({"income": 0.05, "prediction": 0.01, "score": 0.02, "label": 0.15})
    assert only_label[1].fingerprint == outputs.fingerprint
    assert only_label[1].severity is Severity.WARNING
    assert only_label[1].summary == (
        "drift of the model's outputs: label, PSI 0.15 above threshold 0.1"
    )


def test_outputs_alert_fires_once_stays_while_any_drifts_and_resolves_when_none(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    ctx = make_ctx(
        make_settings(
            {
                "cooldown": "0s",
                "repeat_interval": "24h",
                "channels": [{"name": "outbox", "kind": "file", "path": str(outbox)}],
            }
        )
    )

    def items() -> list[dict[str, object]]:
        out = []
        for line in outbox.read_text().splitlines() if outbox.exists() else []:
            out.extend(json.loads(line)["payload"]["items"])
        return out

    alert_cycle(
        ctx, T0, _findings({"income": 0.2, "prediction": 0.31, "score": 0.12, "label": 0.15})
    )
    first = items()
    assert [(i["subject"], i["change"]) for i in first] == [
        ("income", "firing"),
        (OUTPUTS_SUBJECT, "firing"),
    ]
    # Outputs that clear while another still drifts resolve nothing and send nothing.
    alert_cycle(
        ctx,
        T0 + timedelta(hours=1),
        _findings({"income": 0.2, "prediction": 0.01, "score": 0.02, "label": 0.15}),
    )
    assert len(items()) == len(first)
    with ctx.sessions() as session:
        alerts = {a.subject: a for a in session.scalars(select(Alert))}
    assert set(alerts) == {"income", OUTPUTS_SUBJECT}
    assert alerts[OUTPUTS_SUBJECT].state == AlertState.FIRING
    assert alerts[OUTPUTS_SUBJECT].summary.endswith("label, PSI 0.15 above threshold 0.1")
    # None drifts: the one outputs alert resolves; the feature still firing stays so.
    alert_cycle(
        ctx,
        T0 + timedelta(hours=2),
        _findings({"income": 0.2, "prediction": 0.01, "score": 0.02, "label": 0.03}),
    )
    resolved = items()[len(first) :]
    assert [(i["subject"], i["change"]) for i in resolved] == [(OUTPUTS_SUBJECT, "resolved")]
    assert resolved[0]["summary"] == (
        "drift of the model's outputs back within their thresholds "
        "(prediction, PSI 0.01; score, PSI 0.02; label, PSI 0.03)"
    )
    with ctx.sessions() as session:
        states = {a.subject: a.state for a in session.scalars(select(Alert))}
    assert states == {"income": AlertState.FIRING, OUTPUTS_SUBJECT: AlertState.RESOLVED}
