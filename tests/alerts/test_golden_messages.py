"""What people read: the Slack, email and file bodies of a firing and a resolved group.

One model's check cycle with drift, performance and operations subjects goes
through the real policy (one outbox row per channel) and each channel's real
renderer; the bodies are compared with the files under tests/alerts/golden/.
Any difference fails. To accept a deliberate change of wording, regenerate them
with `UPDATE_GOLDEN=1 pytest tests/alerts/test_golden_messages.py` and read the
diff as a person would: each value said once, a direction word that fits, the
alert's id, a next step on every item, a resolution that reads as one.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checks.causes import Baseline, CauseRanking, CauseSpec, rank_causes
from checks.interface import CheckKind, CheckResult, Direction, Measure, Status
from checks.multivariate import RECONSTRUCTION
from checks.performance.metrics import BaselineSource
from daemon.alerts.channels.email import build_email
from daemon.alerts.channels.file import FileSender
from daemon.alerts.channels.interface import Outgoing
from daemon.alerts.channels.slack import blocks_for
from daemon.alerts.finding import Finding
from daemon.alerts.message import from_json
from daemon.alerts.policy import apply_findings, sweep
from daemon.checking.causes import with_causes
from daemon.checking.findings import findings_of
from daemon.config import EmailChannel, Settings
from daemon.store.tables import Notification
from tests.alerts.conftest import make_settings

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# The link a drift finding carries: the service's page of the check run's evidence.
EVIDENCE = "https://mlmaint.example.com/reports/evidence/41"
RUNBOOK = "https://wiki.example.com/ml/runbooks/drift"


def _settings(tmp_path: Path) -> Settings:
    return make_settings(
        {
            "runbooks": {"drift": RUNBOOK},
            "channels": [
                {"name": "outbox", "kind": "file", "path": str(tmp_path / "outbox.jsonl")},
                {"name": "slack", "kind": "slack", "webhook_url": {"env": "SLACK_URL"}},
                {
                    "name": "email",
                    "kind": "email",
                    "host": "smtp.example.com",
                    "sender": "mlmaint@example.com",
                    "recipients": ["ml-team@example.com"],
                },
            ],
        },
        {"SLACK_URL": "https://hooks.slack.com/services/T0/B0/x"},
    )


def _m(
    subject: str,
    name: str,
    value: float,
    threshold: float,
    firing: bool,
    ratio: float = 0.0,
    *,
    below: bool = False,
    detail: str | None = None,
    basis: str | None = None,
) -> Measure:
    return Measure(
        subject=subject,
        name=name,
        value=value,
        threshold=threshold,
        status=Status.ALERT if firing else Status.OK,
        severity_ratio=ratio if firing else 0.0,
        alerts_when=Direction.BELOW if below else Direction.ABOVE,
        detail=detail,
        basis=basis,
    )


def cycle(firing: bool, end: datetime = T0) -> list[Finding]:
    """One check cycle of `churn` on the day ending at `end`: the measures as the checks
    hand them over, stamped with their window as the check job does."""
    from daemon.checking.job import of_window

    basis = "at n=500, calibrated for 1% false alarms"
    if firing:
        drift = (
            # Just over its threshold: a warning.
            _m("income", "psi", 0.1007, 0.1, True, 1.007, detail="PSI", basis=basis),
            # Exactly at its (inclusive) threshold.
            _m(
                "tenure", "wasserstein", 0.1, 0.1, True, 1.0, detail="Wasserstein distance (normed)"
            ),
            # A p-value far below its threshold: critical.
            _m(
                "age",
                "ks",
                0.0004,
                0.05,
                True,
                1 + math.log10(0.05 / 0.0004),
                below=True,
                detail="K-S p_value",
            ),
            # Two of the model's outputs drift, the label does not: one outputs alert.
            _m(
                "prediction",
                "ks",
                0.001,
                0.05,
                True,
                1 + math.log10(0.05 / 0.001),
                below=True,
                detail="K-S p_value",
            ),
            _m("score", "psi", 0.15, 0.1, True, 1.5, detail="PSI"),
            _m("label", "psi", 0.02, 0.1, False, detail="PSI"),
            # The dataset rule: critical whatever its margin.
            _m("dataset", "drifted_share", 1.0, 0.5, True, 2.0, detail="3 of 3 columns drifted"),
        )
        perf = (
            _m(
                "roc_auc",
                "value",
                0.7812,
                0.8,
                True,
                1.38,
                below=True,
                detail="baseline 0.85",
                basis="margin 0.05 off the baseline",
            ),
        )
        ops = (_m("latency", "p95_ms", 850.0, 500.0, True, 1.7),)
    else:
        drift = (
            _m("income", "psi", 0.0412, 0.1, False, detail="PSI", basis=basis),
            _m("tenure", "wasserstein", 0.031, 0.1, False, detail="Wasserstein distance (normed)"),
            _m("age", "ks", 0.31, 0.05, False, below=True, detail="K-S p_value"),
            _m("prediction", "ks", 0.42, 0.05, False, below=True, detail="K-S p_value"),
            _m("score", "psi", 0.03, 0.1, False, detail="PSI"),
            _m("label", "psi", 0.01, 0.1, False, detail="PSI"),
            _m("dataset", "drifted_share", 0.0, 0.5, False, detail="0 of 3 columns drifted"),
        )
        perf = (_m("roc_auc", "value", 0.8391, 0.8, False, below=True, detail="baseline 0.85"),)
        ops = (_m("latency", "p95_ms", 412.0, 500.0, False),)
    out: list[Finding] = []
    for kind, measures in (
        (CheckKind.DRIFT, drift),
        (CheckKind.PERFORMANCE, perf),
        (CheckKind.OPERATIONS, ops),
    ):
        status = Status.ALERT if firing else Status.OK
        result = CheckResult(kind=kind, status=status, rows=500, measures=measures)
        found = findings_of("churn", result, EVIDENCE if firing else None)
        if firing and kind is CheckKind.PERFORMANCE:
            # Why it fell, as the check cycle words it from the stored windows.
            found = [with_causes(f, causes()) for f in found]
        out.extend(found)
    return of_window(out, end - timedelta(days=1), end, 500)


def causes() -> CauseRanking:
    """The last seven windows: income's drift and the joint drift rise as roc_auc falls
    from its baseline (income reaching its threshold on the last); age's drift falls
    (r < 0) and tenure's is noise that never drifted: neither named. By the model's
    importance shares, only income is ranked: its latest drift (1.007 thresholds)
    times its share (0.6)."""
    return rank_causes(
        "roc_auc",
        Direction.BELOW,
        [0.86, 0.85, 0.86, 0.84, 0.83, 0.80, 0.7812],
        {
            "income": [0.2, 0.3, 0.2, 0.5, 0.6, 0.9, 1.007],
            "age": [3.1, 2.9, 3.0, 2.6, 2.2, 1.9, 1.6],
            "tenure": [0.4, 0.9, 0.3, 0.8, 0.7, 0.4, 0.6],
        },
        CauseSpec(),
        {"income": 0.6, "age": 0.3, "tenure": 0.1},
        baseline=Baseline(value=0.85, source=BaselineSource.REFERENCE),
        joint={RECONSTRUCTION: [1.01, 1.02, 1.0, 1.05, 1.09, 1.12, 1.2]},
        # The multivariate check alerted on the last two windows: the joint drift drifted.
        joint_alerting={RECONSTRUCTION: [False] * 5 + [True, True]},
    )


def _rows(sessions: sessionmaker[Session], after: int) -> list[Notification]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Notification).where(Notification.id > after).order_by(Notification.id)
            )
        )


def _outgoing(row: Notification) -> Outgoing:
    return Outgoing(
        notification_id=row.id,
        channel=row.channel,
        kind=row.kind,
        scope=row.scope,
        payload=row.payload,
        created_at=row.created_at,
        attempt=1,
    )


def bodies(settings: Settings, rows: list[Notification], tmp_path: Path) -> dict[str, str]:
    """Each channel's body as it goes out, keyed by golden file suffix."""
    by_channel = {r.channel: r for r in rows}
    assert sorted(by_channel) == ["email", "outbox", "slack"] and len(rows) == 3
    out: dict[str, str] = {}
    slack = by_channel["slack"]
    out["slack.json"] = json.dumps(blocks_for(from_json(slack.payload)), indent=2) + "\n"
    mail = by_channel["email"]
    channel = settings.channel("email")
    assert isinstance(channel, EmailChannel)
    email = build_email(channel, _outgoing(mail), mail.created_at)
    text, html = email.get_body(("plain",)), email.get_body(("html",))
    assert text is not None and html is not None
    out["email.txt"] = f"Subject: {email['Subject']}\n\n{text.get_content()}"
    out["email.html"] = html.get_content()
    file_row = by_channel["outbox"]
    path = tmp_path / f"file-{file_row.id}.jsonl"
    FileSender(path).send(_outgoing(file_row), file_row.created_at)
    [line] = path.read_text().splitlines()
    out["file.json"] = json.dumps(json.loads(line), indent=2, sort_keys=True) + "\n"
    return out


def compare(name: str, got: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(got)
        return
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    want = path.read_text()
    if got != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(keepends=True),
                got.splitlines(keepends=True),
                f"golden/{name}",
                "rendered now",
            )
        )
        pytest.fail(f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept):\n{diff}")


@pytest.fixture
def told(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> tuple[Settings, dict[str, dict[str, str]]]:
    """The firing group at T0 and, the checks clean an hour later, the resolved group
    once the cooldown (1 h) is over."""
    settings = _settings(tmp_path)
    with session_factory.begin() as session:
        apply_findings(session, settings, cycle(firing=True), T0)
    firing = _rows(session_factory, 0)
    with session_factory.begin() as session:
        quiet = apply_findings(
            session, settings, cycle(False, T0 + timedelta(hours=1)), T0 + timedelta(hours=1)
        )
    assert quiet.notification_ids == () and quiet.quiet == 7
    with session_factory.begin() as session:
        sweep(session, settings, T0 + timedelta(hours=2, minutes=1))
    resolved = _rows(session_factory, max(r.id for r in firing))
    return settings, {
        "firing": bodies(settings, firing, tmp_path),
        "resolved": bodies(settings, resolved, tmp_path),
    }


@pytest.mark.parametrize("group", ["firing", "resolved"])
@pytest.mark.parametrize("body", ["slack.json", "email.txt", "email.html", "file.json"])
def test_bodies_match_their_golden_files(
    told: tuple[Settings, dict[str, dict[str, str]]], group: str, body: str
) -> None:
    compare(f"{group}.{body}", told[1][group][body])


def _items(text: str) -> list[tuple[str, str]]:
    """(headline, next step) pairs of a plain-text body."""
    lines = text.splitlines()
    return [
        (line, lines[n + 1].strip())
        for n, line in enumerate(lines)
        if re.match(r"\[(CRITICAL|WARNING|INFO|RESOLVED)\] ", line)
    ]


def test_the_firing_email_says_each_value_once_where_it_lies_and_what_to_do(
    told: tuple[Settings, dict[str, dict[str, str]]],
) -> None:
    text = told[1]["firing"]["email.txt"]
    items = _items(text)
    assert len(items) == 7
    heads = {h.split("drift of ")[1].split(",")[0]: h for h, _ in items if "drift of" in h}
    assert heads["income"].startswith("[WARNING] drift of income, PSI 0.1007 above threshold 0.1")
    assert heads["tenure"].startswith(
        "[WARNING] drift of tenure, Wasserstein distance (normed) 0.1 at"
    )
    assert heads["age"].startswith("[CRITICAL] drift of age, K-S p_value 0.0004 below threshold")
    assert any(h.startswith("[CRITICAL] share of drifted columns 1 above") for h, _ in items)
    # The model's outputs: one item naming the two that drifted with their values, not
    # one per output; the label, which did not drift, is not named.
    outputs = [h for h, _ in items if "prediction" in h or "score" in h or "label" in h]
    assert outputs == [
        "[CRITICAL] drift of the model's outputs: prediction, K-S p_value 0.001 below "
        "threshold 0.05; score, PSI 0.15 above threshold 0.1 — alert 4"
    ]
    assert any(h.startswith("[WARNING] roc_auc 0.7812 below threshold 0.8") for h, _ in items)
    # Why it fell: from the baseline, each end said as the head says it ("baseline 0.85");
    # what follows it, never age (r < 0) nor tenure (never drifted).
    why = (
        "; roc_auc fell 0.0688 from 0.85 (reference) to 0.7812; it follows income "
        "(r = 0.99) and the joint drift of the features (reconstruction error, r = 0.98)"
    )
    assert sum(why in h for h, _ in items) == 1, items
    # The same words in every body: once in each, twice in the file channel's record
    # (the item's summary and the plain-text body).
    for name, times in (("slack.json", 1), ("email.html", 1), ("file.json", 2)):
        body = told[1]["firing"][name]
        assert body.count(why) == times, name
        assert "age (r" not in body
    assert any(h.startswith("[WARNING] latency p95_ms 850 above threshold 500") for h, _ in items)
    for head, step in items:
        # Each value once; never "beyond"; the alert's id; a next step with its ack command.
        assert head.count("0.1007") <= 1 and "beyond" not in head
        alert_id = re.search(r" — alert (\d+)$", head)
        assert alert_id is not None, head
        # The alerting window, not the one ending now.
        assert step.startswith("Next: ") and "`mlmaint check churn --at 2026-03-02T10:00Z`" in step
        # Said once for the group below, not on every item.
        assert "alerts ack" not in step and EVIDENCE not in step, step
    # The drift items (the decay's causes speak of drift too, but it is no drift item).
    drift_steps = [s for h, s in items if "] drift of " in h or "] share of drifted" in h]
    assert len(drift_steps) == 5
    assert all(RUNBOOK in s for s in drift_steps)
    assert "Subject: [mlmaint] [critical] churn: 7 alerts (7 firing)" in text
    # Which window, how long, how many rows; the evidence and one ack for all, once each.
    assert "Checked on the window of 1d ending 2026-03-02 10:00 UTC, 500 rows." in text
    assert text.count(EVIDENCE) == 1 and f"Evidence: {EVIDENCE}" in text
    assert text.count("mlmaint alerts ack --model churn") == 1
    assert "Acknowledge all 7 firing alerts of churn" in text
    slack = told[1]["firing"]["slack.json"]
    assert "window of 1d ending 2026-03-02 10:00 UTC, 500 rows" in slack
    assert slack.count("mlmaint alerts ack --model churn") == 1 and slack.count(EVIDENCE) == 1
    html = told[1]["firing"]["email.html"]
    assert html.count(EVIDENCE) == 1 and html.count("alerts ack --model churn") == 1


def test_the_resolved_email_reads_as_resolved(
    told: tuple[Settings, dict[str, dict[str, str]]],
) -> None:
    text = told[1]["resolved"]["email.txt"]
    items = _items(text)
    assert len(items) == 7
    assert text.startswith("Subject: [mlmaint] [resolved] churn: 7 alerts (7 resolved)")
    # Resolved by the window that cleared them, which the message names.
    assert "Checked on the window of 1d ending 2026-03-02 11:00 UTC, 500 rows." in text
    assert "alerts ack" not in text
    for head, step in items:
        assert head.startswith("[RESOLVED] resolved: ") and step == "Next: nothing to do"
        assert "critical" not in head.lower() and "warning" not in head.lower()
    heads = [h for h, _ in items]
    assert "[RESOLVED] resolved: drift of income, PSI back below 0.1 (0.0412) — alert 1" in heads
    assert any("drift of age, K-S p_value back above 0.05 (0.31)" in h for h in heads)
    assert any("roc_auc back above 0.8 (0.8391)" in h for h in heads)
    slack = told[1]["resolved"]["slack.json"]
    assert ":white_check_mark:" in slack and ":red_circle:" not in slack


def test_any_difference_from_a_golden_file_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.UPDATE", False)
    want = (GOLDEN / "firing.email.txt").read_text()
    compare("firing.email.txt", want)
    with pytest.raises(pytest.fail.Exception, match=r"differs from its golden file"):
        compare("firing.email.txt", want.replace("above", "beyond", 1))


def test_a_failed_retraining_reads_as_a_failure_with_its_next_step() -> None:
    from daemon.alerts import render
    from daemon.alerts.channels.slack import blocks_for
    from daemon.alerts.message import AlertGroup, AlertItem, Change
    from daemon.config import Severity

    failed = AlertItem(
        alert_id=7,
        kind="retrain",
        subject="failure",
        change=Change.NOTICE,
        severity=Severity.WARNING,
        summary="churn: retrain job j-1 failed: ModuleNotFoundError: No module named 'xgb'",
        since=T0.isoformat(),
    )
    group = AlertGroup(scope="churn", items=(failed,))
    text = render.text(group)
    assert render.subject_line(group).startswith("[mlmaint] [warning] churn: retrain job j-1")
    assert "[WARNING] churn: retrain job j-1 failed: ModuleNotFoundError" in text
    assert "Next: read the job's error, fix it and retry with `mlmaint retrain churn`" in text
    # An event is told once: nothing to acknowledge, no green, no "resolved".
    assert "alerts ack" not in text and "resolved" not in text.lower()
    assert "#1b5e20" not in render.html(group)
    slack = json.dumps(blocks_for(group))
    assert ":large_orange_circle:" in slack and "white_check_mark" not in slack


def test_a_run_given_up_on_the_workers_points_at_the_workers() -> None:
    from daemon.alerts import render
    from daemon.alerts.message import AlertGroup, AlertItem, Change
    from daemon.config import Severity

    given_up = AlertItem(
        alert_id=8,
        kind="monitoring",
        subject="check workers",
        change=Change.FIRING,
        severity=Severity.WARNING,
        summary="churn: a check run was given up (no worker started it)",
        since=T0.isoformat(),
    )
    text = render.text(AlertGroup(scope="churn", items=(given_up,)))
    assert "has no reference" not in text
    assert "Next: check that `mlmaint worker --queue checks` runs with this config" in text
    assert "mlmaint_check_queue_lag_seconds" in text and "`mlmaint status`" in text
