"""A column drifting in the whole window and in its segments: one line, its segments under it.

One check cycle of `churn` cut by region: `age` drifts in the whole window and in
region=eu and region=us, `income` in the whole window and in region=us, and
`tenure` in region=latam alone. Through the real policy and each channel's real
renderer: six alerts fire (each its own state and id), the email, Slack and HTML
bodies show three items, each whole-window item naming the segments where it
drifts too, with their values and alert ids, and latam's own drift on a line of its
own. The file channel's JSON, for machines, keeps every item.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind, CheckResult, Status
from daemon.alerts.finding import Finding
from daemon.alerts.fold import folded
from daemon.alerts.message import AlertItem, Change
from daemon.alerts.policy import apply_findings
from daemon.checking.findings import findings_of, in_segment
from daemon.config import Severity
from daemon.store.tables import Alert, AlertState
from tests.alerts.test_golden_messages import EVIDENCE, T0, _m, _rows, _settings, bodies


def _drift(*measures: tuple[str, float, bool]) -> CheckResult:
    return CheckResult(
        kind=CheckKind.DRIFT,
        status=Status.ALERT if any(f for _, _, f in measures) else Status.OK,
        rows=500,
        measures=tuple(
            _m(column, "psi", value, 0.1, firing, value / 0.1, detail="PSI")
            for column, value, firing in measures
        ),
    )


def cycle() -> list[Finding]:
    from daemon.checking.job import of_window

    whole = findings_of(
        "churn",
        _drift(("age", 0.42, True), ("income", 0.13, True), ("tenure", 0.03, False)),
        EVIDENCE,
    )
    segments = {
        "region=eu": _drift(("age", 0.51, True), ("income", 0.04, False), ("tenure", 0.02, False)),
        "region=us": _drift(("age", 0.38, True), ("income", 0.17, True), ("tenure", 0.05, False)),
        "region=latam": _drift(
            ("age", 0.06, False), ("income", 0.02, False), ("tenure", 0.24, True)
        ),
    }
    out = list(whole)
    for label, result in segments.items():
        out.extend(in_segment(f, label) for f in findings_of("churn", result, None))
    return of_window(out, T0 - timedelta(days=1), T0, 500)


def test_a_segments_repeat_is_told_under_the_whole_windows_item(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    settings = _settings(tmp_path)
    with session_factory.begin() as session:
        apply_findings(session, settings, cycle(), T0)
    with session_factory() as session:
        firing = {
            a.subject: a.id
            for a in session.scalars(select(Alert).where(Alert.state == AlertState.FIRING))
        }
    assert sorted(firing) == [
        "age",
        "income",
        "region=eu/age",
        "region=latam/tenure",
        "region=us/age",
        "region=us/income",
    ]
    told = bodies(settings, _rows(session_factory, 0), tmp_path)
    text = told["email.txt"]
    heads = [line for line in text.splitlines() if re.match(r"\[(WARNING|CRITICAL)\] ", line)]
    assert len(heads) == 3, text
    lines = text.splitlines()
    age = next(
        n for n, line in enumerate(lines) if "drift of age" in line and "in region" not in line
    )
    # Each segment with its own severity (critical, while the window's is a warning).
    assert lines[age + 1].strip() == (
        f"also in 2 segments: region=eu [CRITICAL] (alert {firing['region=eu/age']}): "
        f"PSI 0.51 above threshold 0.1; region=us [CRITICAL] (alert {firing['region=us/age']}): "
        "PSI 0.38 above threshold 0.1"
    )
    income = next(n for n, line in enumerate(lines) if "drift of income" in line)
    assert lines[income + 1].strip() == (
        f"also in 1 segment: region=us [WARNING] (alert {firing['region=us/income']}): "
        "PSI 0.17 above threshold 0.1"
    )
    # The next step still follows each item.
    assert lines[age + 2].strip() and "also in" not in lines[age + 2]
    assert any("in region=latam: drift of tenure" in h for h in heads)
    assert "also in 2 segments: region=eu [CRITICAL]" in told["email.html"]
    slack = json.loads(told["slack.json"])
    sections = " ".join(str(b["text"]["text"]) for b in slack["blocks"] if b["type"] == "section")
    assert sections.count("drift of age") == 1
    assert "also in 2 segments: region=eu [CRITICAL] (alert" in sections
    # The machine form keeps every alert.
    assert len(json.loads(told["file.json"])["payload"]["items"]) == 6


def _item(alert_id: int, subject: str, change: Change = Change.FIRING) -> AlertItem:
    return AlertItem(
        alert_id=alert_id,
        kind="drift",
        subject=subject,
        change=change,
        severity=Severity.WARNING,
        summary=subject,
        value=0.2,
        since=T0.isoformat(),
    )


def test_folding_needs_the_same_subject_kind_and_change_and_finds_a_slash_in_a_value() -> None:
    lines = folded(
        [
            _item(1, "age"),
            _item(2, "region=eu/west/age"),  # a segment value holding the separator
            _item(3, "region=us/age", Change.RESOLVED),  # another change: its own line
            _item(4, "region=us/income"),  # no whole-window partner
        ]
    )
    assert [(x.item.alert_id, [s.alert_id for _, s in x.segments]) for x in lines] == [
        (1, [2]),
        (3, []),
        (4, []),
    ]
    assert (
        lines[0].also()
        == "also in 1 segment: region=eu/west [WARNING] (alert 2): region=eu/west/age"
    )
