"""Data that holds markup runs no script in any page mlmaint writes or serves.

A drift check writes its evidence for a window whose feature names and
category values hold `</script>` breakouts and event-handler markup: mlmaint's
own page, and (configured once per firing) Evidently's report. Each file opened
from disk, the same pages served by the daemon's HTTP server, and the weekly
report that links them are each loaded in headless Chromium. Its DOM (after
scripts ran) must hold no element with an event handler, its console must show
neither the payloads' marker nor any policy violation (Evidently's own scripts
are allowed by hash), and the hostile names must show as text on a page that
rendered.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from checks.interface import CheckKind, Status
from daemon.api import ApiServer
from daemon.checking.run import run_checks
from daemon.config import parse_config
from daemon.evidence.write import evidently_path
from daemon.jobs import JobContext
from daemon.report.deliver import build_report
from daemon.report.weeks import parse_week
from daemon.service_http import add_reports
from daemon.store.engine import session_factory
from daemon.store.tables import CheckRun
from tests.chromium import browser_env, headless

# alert() as the issue reported it; console.log() so a hook sees a handler run.
BREAKOUT = "</script><img src=x onerror=alert(1)>"
SVG = "<svg onload=alert(1)>"
LOGGED = "</script><img src=x onerror=console.log(/mlmaint-injected/)>"
LOGGED_SVG = "<svg onload=console.log(/mlmaint-injected/)>"
NUMERIC = ("age", BREAKOUT, LOGGED)
CATEGORICAL = ("plan", SVG)
NOW = datetime(2026, 11, 19, 12, tzinfo=UTC)


def frame(n: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.array([BREAKOUT, SVG, LOGGED, LOGGED_SVG, "basic"], dtype=object)
    return pd.DataFrame(
        {
            "prediction_id": [f"{seed}-{i}" for i in range(n)],
            "timestamp": [NOW - timedelta(minutes=i) for i in range(n)],
            "age": rng.normal(40 + 10 * shift, 10, n),
            BREAKOUT: rng.normal(shift, 1, n),
            LOGGED: rng.normal(shift, 1, n),
            "plan": rng.choice(values, n, p=[0.3, 0.1, 0.1, 0.1, 0.4] if shift else None),
            SVG: rng.choice(values, n),
            "score": rng.random(n),
        }
    )


@dataclass(frozen=True)
class Loaded:
    dom: str
    console: list[str]


class _Probe(HTMLParser):
    """Elements with an event-handler attribute, and the text outside scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.handlers: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self._raw = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._raw = tag in ("script", "style")
        if any(name.lower().startswith("on") for name, _ in attrs):
            self.handlers.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self._raw = False

    def handle_data(self, data: str) -> None:
        if not self._raw:
            self.text.append(data)


def load(url: str, profile: Path) -> Loaded:
    """The DOM after the page's scripts ran, and the console lines, from headless Chromium."""
    command = headless(
        profile,
        "--enable-logging=stderr",
        "--v=0",
        # Time for the dashboard's scripts to draw before the DOM is dumped.
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    )
    env = browser_env(profile)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=45, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{url} never finished loading: an alert() from injected script blocks it")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Loaded(dom=done.stdout, console=console)


def assert_inert(page: Loaded, *, shown: tuple[str, ...]) -> None:
    # An alert() blocks the dump: an empty DOM is what a running payload looks like too.
    assert len(page.dom) > 1000, page.console
    probe = _Probe()
    probe.feed(page.dom)
    assert probe.handlers == [], probe.handlers[:5]
    assert not [line for line in page.console if "mlmaint-injected" in line], page.console
    # The page's own scripts all ran: nothing was refused by its policy.
    assert not [line for line in page.console if "Content Security Policy" in line], page.console
    text = "".join(probe.text)
    for name in shown:
        assert name in text, f"{name!r} is not shown as text"


@pytest.fixture
def evidence_ctx(engine: Engine, tmp_path: Path) -> Iterator[JobContext]:
    settings = parse_config(
        {
            "service": {"state_dir": str(tmp_path / "state")},
            "report": {"directory": str(tmp_path / "reports")},
            "evidence": {"evidently_on_firing": True},
            "models": [
                {
                    "name": "churn",
                    "source": {"kind": "http"},
                    "schema": {
                        "numeric": list(NUMERIC),
                        "categorical": list(CATEGORICAL),
                        "score": "score",
                    },
                    "reference": {"kind": "snapshot"},
                    "checks": {"min_rows": 50},
                }
            ],
        },
        "<test>",
        {},
    )
    yield JobContext(settings=settings, engine=engine, sessions=session_factory(engine))


@pytest.fixture
def served(evidence_ctx: JobContext) -> Iterator[ApiServer]:
    """The daemon's HTTP server with the report routes, mounted as the service mounts them."""
    server = ApiServer(evidence_ctx, host="127.0.0.1", port=0)
    add_reports(server)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_evidence_and_report_run_no_injected_script(
    evidence_ctx: JobContext, served: ApiServer, tmp_path: Path
) -> None:
    ctx = evidence_ctx
    model = ctx.settings.model("churn")
    cycle = run_checks(
        ctx, model, NOW, frame(400, 2, shift=1.0), frame(600, 1, shift=0.0), kinds=[CheckKind.DRIFT]
    )
    drift = cycle.runs[CheckKind.DRIFT]
    assert drift.result.status is Status.ALERT
    evidence = drift.evidence_path
    assert evidence is not None and evidence.is_file()
    written = evidence.read_text(encoding="utf-8")
    assert "</script><img" not in written and "<svg onload" not in written
    names = (BREAKOUT, LOGGED)

    # (a) The file itself, opened from disk: its own <meta> policy applies.
    assert_inert(load(evidence.as_uri(), tmp_path / "p-file"), shown=names)

    # (b) The page as the daemon serves it, with the policy as a header: mlmaint's own
    # page has no script at all.
    with ctx.sessions() as session:
        run_id = session.scalars(select(CheckRun.id).where(CheckRun.kind == "drift")).one()
    url = f"{served.url}/reports/evidence/{run_id}"
    with urllib.request.urlopen(url, timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'none'" in policy
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in policy
    assert_inert(load(url, tmp_path / "p-http"), shown=names)

    # (b') Evidently's report of the window that started the firing: from disk and
    # served, its own scripts run by hash and the data's markup stays text.
    report_file = evidently_path(evidence)
    assert report_file.is_file()
    assert_inert(load(report_file.as_uri(), tmp_path / "p-evidently-file"), shown=names)
    with urllib.request.urlopen(f"{url}/evidently", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'sha256-" in script_src
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in policy
    assert_inert(load(f"{url}/evidently", tmp_path / "p-evidently-http"), shown=names)

    # (c) The weekly report that lists the drifted columns and links the evidence.
    built = build_report(ctx, parse_week("2026-W47"), NOW + timedelta(days=5))
    report = load(built.path.as_uri(), tmp_path / "p-report")
    assert_inert(report, shown=names)
    assert "<script" not in report.dom.lower()
    served_report = load(f"{served.url}/reports/2026-W47", tmp_path / "p-served-report")
    assert_inert(served_report, shown=names)

    # A page written without a policy (an older mlmaint, Evidently's save_html) is
    # served with no script allowed: its data was not escaped for a <script>.
    report_file.write_text("<html><head><script>var d = 1;</script></head><body></body></html>")
    with urllib.request.urlopen(f"{url}/evidently", timeout=10) as response:
        assert "script-src 'none'" in response.headers["Content-Security-Policy"]
