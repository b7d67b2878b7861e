"""New advisories are routed by severity: critical pages, low waits for the weekly report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks.advisories import parse_record
from checks.frameworks.inventory import Inventory, Package, SourceKind
from checks.frameworks.matching import AdvisoryIndex
from checks.frameworks.policy import (
    EnvironmentReport,
    FindingKind,
    PackageFinding,
    Policy,
    evaluate,
)
from checks.frameworks.severity import AdvisorySeverity
from checks.frameworks.support import load_support
from daemon.config import AdvisoryRoute, AdvisoryRouting, ConfigError, Severity, parse_config
from daemon.frameworks.findings import alerts_of
from daemon.frameworks.records import store_findings
from daemon.report.queries import frameworks
from daemon.store.tables import Alert, Notification
from tests.frameworks.conftest import osv_record

# 02:30 UTC, inside the quiet hours below.
NOW = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)
QUIET_END = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
V3_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V3_LOW = "CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N"  # 2.8


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime


def _finding(severity: AdvisorySeverity, ident: str) -> PackageFinding:
    return PackageFinding(
        environment="prod",
        package="pkg",
        installed="1.0",
        kind=FindingKind.VULNERABLE,
        severity=severity,
        detail="demo",
        advisory_ids=(ident,),
    )


@pytest.mark.parametrize("severity", list(AdvisorySeverity))
def test_every_advisory_severity_has_a_default_route(severity: AdvisorySeverity) -> None:
    expected = {
        AdvisorySeverity.CRITICAL: (AdvisoryRoute.PAGE, Severity.CRITICAL),
        AdvisorySeverity.HIGH: (AdvisoryRoute.ALERT, Severity.WARNING),
        AdvisorySeverity.MEDIUM: (AdvisoryRoute.ALERT, Severity.WARNING),
        AdvisorySeverity.UNKNOWN: (AdvisoryRoute.ALERT, Severity.WARNING),
        AdvisorySeverity.LOW: (AdvisoryRoute.REPORT, None),
        AdvisorySeverity.NONE: (AdvisoryRoute.REPORT, None),
    }[severity]
    assert AdvisoryRouting().route(severity) is expected[0]
    alerts = alerts_of("prod", [_finding(severity, "GHSA-1")], [])
    assert [a.severity for a in alerts] == ([] if expected[1] is None else [expected[1]])


def test_routing_is_configurable_and_validated() -> None:
    settings = parse_config(
        {"frameworks": {"routing": {"high": "page", "low": "alert", "unknown": "report"}}}
    )
    routing = settings.frameworks.routing
    found = [
        _finding(AdvisorySeverity.HIGH, "GHSA-h"),
        _finding(AdvisorySeverity.LOW, "GHSA-l"),
        _finding(AdvisorySeverity.UNKNOWN, "GHSA-u"),
    ]
    alerts = {a.subject: a.severity for a in alerts_of("prod", found, [], routing)}
    assert alerts == {"pkg:GHSA-h": Severity.CRITICAL, "pkg:GHSA-l": Severity.WARNING}
    with pytest.raises(ConfigError, match=r"frameworks\.routing\.low"):
        parse_config({"frameworks": {"routing": {"low": "email"}}})


def _report(environment: str, record: dict[str, object]) -> EnvironmentReport:
    inventory = Inventory(
        environment=environment,
        source=SourceKind.REQUIREMENTS,
        target="requirements.txt",
        python_version="3.12.7",
        packages=(Package(name="pkg", version="1.0"),),
    )
    index = AdvisoryIndex([parse_record(record)])
    return evaluate(inventory, index, {}, load_support(), Policy(), NOW)


def test_critical_pages_at_once_and_low_waits_for_the_report(
    session_factory: sessionmaker[Session],
) -> None:
    settings = parse_config(
        {
            "alerts": {
                "quiet_hours": {"start": "22:00", "end": "07:00"},
                "channels": [
                    {"kind": "file", "name": "outbox"},
                    {"kind": "file", "name": "pager", "min_severity": "critical"},
                ],
            }
        }
    )
    reports = {
        "critical-env": _report(
            "critical-env",
            osv_record(
                "PYSEC-C", "pkg", "0", "2.0", severity=[{"type": "CVSS_V3", "score": V3_CRITICAL}]
            ),
        ),
        "moderate-env": _report(
            "moderate-env",
            osv_record("GHSA-M", "pkg", "0", "2.0", database_specific={"severity": "MODERATE"}),
        ),
        "low-env": _report(
            "low-env",
            osv_record(
                "PYSEC-L", "pkg", "0", "2.0", severity=[{"type": "CVSS_V3", "score": V3_LOW}]
            ),
        ),
    }
    for report in reports.values():
        store_findings(session_factory, report, NOW, settings)
    with session_factory() as session:
        alerts = {a.scope: a.severity for a in session.scalars(select(Alert))}
        rows = [
            (n.channel, n.scope, n.not_before)
            for n in session.scalars(select(Notification).order_by(Notification.id))
        ]
        week = Span(start=NOW - timedelta(days=1), end=NOW + timedelta(days=1))
        listed = {e.environment: e.vulnerable for e in frameworks(session, week)}
    assert alerts == {"critical-env": "critical", "moderate-env": "warning"}
    # The critical advisory goes out now, to the pager too; the medium one waits for
    # the end of the quiet hours; the low one raised no alert at all.
    assert sorted(rows, key=str) == sorted(
        [
            ("outbox", "critical-env", None),
            ("pager", "critical-env", None),
            ("outbox", "moderate-env", QUIET_END),
        ],
        key=str,
    )
    # ... and the weekly report lists it.
    (low,) = listed["low-env"]
    assert (low.advisories, low.severity) == (("PYSEC-L",), "low")
