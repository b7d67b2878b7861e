"""Every link that leaves the daemon is absolute, under report.base_url.

A drifting window is checked and stored, its findings go through the alert
policy into the outbox, and each queued notification is rendered as each
channel sends it: the Slack webhook body, the email (text and HTML parts), the
alert file's line. Every URL in them, and every href of the weekly report, must
start with base_url; the evidence link must name the stored run and be served.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import CheckKind
from daemon.alerts import render
from daemon.alerts.channels.email import build_email
from daemon.alerts.channels.file import FileSender
from daemon.alerts.channels.interface import Outgoing
from daemon.alerts.channels.slack import blocks_for
from daemon.alerts.message import from_json
from daemon.alerts.policy import apply_findings
from daemon.checking.run import run_checks
from daemon.config import EmailChannel, Settings, parse_config
from daemon.jobs import JobContext
from daemon.links import evidence_url
from daemon.report import http
from daemon.report.deliver import build_report
from daemon.report.weeks import parse_week
from daemon.store.tables import CheckRun, Notification
from tests.evidence.frames import END, frame

# A base with a path: links must keep it, not only the host.
BASE = "https://mlmaint.example.org/ml"
URL = re.compile(r"""(?:https?|file)://[^\s"'<>|)]+|(?<![\w/])/(?:var|tmp|reports)/[^\s"'<>|)]+""")
HREF = re.compile(r"""href\s*=\s*["']([^"']*)["']""", re.I)
NUM, CAT = ["age", "income"], ["plan"]


def settings(tmp_path: Path) -> Settings:
    return parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "report": {"directory": str(tmp_path / "reports"), "base_url": BASE + "/"},
            "alerts": {
                "channels": [
                    {"name": "outbox", "kind": "file", "path": str(tmp_path / "outbox.jsonl")},
                    {
                        "name": "slack",
                        "kind": "slack",
                        "webhook_url": {"env": "TEST_SLACK_WEBHOOK"},
                    },
                    {
                        "name": "mail",
                        "kind": "email",
                        "sender": "mlmaint@example.org",
                        "recipients": ["ml@example.org"],
                        "tls": "none",
                    },
                ]
            },
            "models": [
                {
                    "name": "churn",
                    "source": {"kind": "http"},
                    "schema": {"numeric": NUM, "categorical": CAT},
                    "checks": {"min_rows": 50, "drift": {"thresholds": "evidently"}},
                }
            ],
        },
        "<test>",
        {"TEST_SLACK_WEBHOOK": "https://hooks.slack.example/T/B/x"},
    )


def urls(text: str) -> list[str]:
    return URL.findall(text)


def test_every_link_in_slack_email_file_and_the_report_is_absolute(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = JobContext(settings=settings(tmp_path), engine=engine, sessions=session_factory)
    model = ctx.settings.model("churn")
    cycle = run_checks(
        ctx,
        model,
        END,
        frame(600, 2, NUM, CAT, shifted=["age", "plan"]),
        frame(1500, 1, NUM, CAT),
        kinds=[CheckKind.DRIFT],
    )
    run = cycle.runs[CheckKind.DRIFT]
    assert run.run_id is not None and run.evidence_path is not None
    link = evidence_url(ctx.settings.report.base_url, run.run_id)
    assert link == f"{BASE}/reports/evidence/{run.run_id}"
    firing = [f for f in cycle.findings if f.firing]
    assert firing and all(f.link == link for f in firing)
    with session_factory.begin() as session:
        apply_findings(session, ctx.settings, cycle.findings, END)
        stored = session.scalar(select(CheckRun.evidence_path).where(CheckRun.id == run.run_id))
        rows = session.scalars(select(Notification)).all()
        queued = [(n.id, n.channel, n.kind, n.scope, dict(n.payload), n.created_at) for n in rows]
    # The file path stays in the store, for serving; it never reaches a message.
    assert stored == str(run.evidence_path)
    assert {channel for _, channel, *_ in queued} == {"outbox", "slack", "mail"}

    mail = ctx.settings.channel("mail")
    assert isinstance(mail, EmailChannel)
    seen_link = 0
    for nid, channel, kind, scope, payload, created in queued:
        message = Outgoing(
            notification_id=nid,
            channel=channel,
            kind=kind,
            scope=scope,
            payload=payload,
            created_at=created,
            attempt=1,
        )
        group = from_json(payload)
        email = build_email(mail, message, END)
        text_part = email.get_body(("plain",))
        html_part = email.get_body(("html",))
        assert text_part is not None and html_part is not None
        out = tmp_path / f"file-{nid}.jsonl"
        FileSender(out).send(message, END)
        bodies = {
            "slack": json.dumps(blocks_for(group)),
            "email text": text_part.get_content(),
            "email html": html_part.get_content(),
            "text": render.text(group),
            "html": render.html(group),
            "file": out.read_text(encoding="utf-8"),
        }
        for name, body in bodies.items():
            found = urls(body)
            assert link in body, f"{name} has no evidence link:\n{body[:2000]}"
            assert all(u.startswith(BASE + "/") for u in found), (name, found)
            assert str(run.evidence_path) not in body, name
            for href in HREF.findall(body):
                assert href.startswith(BASE + "/"), (name, href)
        seen_link += 1
    assert seen_link == len(queued)

    # The link is served: mlmaint's page, from the stored path.
    served = http.handle(ctx, link.removeprefix(BASE))
    assert served is not None and served.status == 200
    assert b">age</h3>" in served.body and b"<script" not in served.body.lower()

    # The weekly report of that week: every href in-page or absolute under the base.
    week = parse_week("2026-W47")
    built = build_report(ctx, week, END + timedelta(days=5))
    page = built.path.read_text(encoding="utf-8")
    hrefs = HREF.findall(page)
    assert link in hrefs
    assert all(h.startswith(("#", BASE + "/")) for h in hrefs), hrefs


def test_without_a_store_a_finding_has_no_link_rather_than_a_file_path(tmp_path: Path) -> None:
    """A library call (no context) writes the page but has no run to link to."""
    model = settings(tmp_path).model("churn")
    cycle = run_checks(
        None,
        model,
        END,
        frame(600, 2, NUM, CAT, shifted=["age"]),
        frame(1500, 1, NUM, CAT),
        kinds=[CheckKind.DRIFT],
        evidence_dir=tmp_path / "ev",
    )
    assert cycle.runs[CheckKind.DRIFT].evidence_path is not None
    assert any(f.firing for f in cycle.findings)
    assert all(f.link is None for f in cycle.findings)
