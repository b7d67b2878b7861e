"""The page at / and /models/<name>, served by the daemon's own HTTP server.

The store is filled by the real writers (tests/page/seed.py). Headless Chromium
(Debian's `chromium`) loads / from the server; its DOM after load is parsed and
every chart point is compared with a direct read of the store: the drift score
and threshold of each feature in each run, realized and estimated performance.
A screenshot at 1440x900 is written to the test's folder (printed; run with -s).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.interface import LABEL, PREDICTION, SCORE, CheckKind, CheckResult, Measure, Status
from daemon.api import ApiServer
from daemon.checking.records import KindRun, store_runs
from daemon.config import Secret, parse_config
from daemon.jobs import JobContext
from daemon.report.csp import header_policy, written_policy
from daemon.service_http import add_page
from daemon.store.engine import transaction
from daemon.store.tables import Alert, AlertState, CheckMetric, CheckRun, JobRun, Model
from tests.chromium import browser_env, headless
from tests.page.dom import Element, parse
from tests.page.seed import ADVISORY, DAYS, Seeded, context

WIDTH, HEIGHT = 1440, 900
XSS = "<script>alert(1)</script>"
XSS_FEATURE = '<img src=x onerror="alert(2)">'


@contextmanager
def serving(ctx: JobContext, now: datetime, **options: object) -> Iterator[ApiServer]:
    """The daemon's HTTP server with the page's routes, as the service mounts them."""
    server = ApiServer(ctx, **{"host": "127.0.0.1", "port": 0, "clock": lambda: now, **options})  # type: ignore[arg-type]
    add_page(server)
    with server:
        yield server


def browse(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = headless(profile, "--hide-scrollbars", *args, url)
    env = browser_env(profile)
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


# --------------------------------------------------------------------------- the store


def stored_drift(ctx: JobContext, model: str) -> dict[str, list[tuple[str, float, float | None]]]:
    """Per feature, (window end, score, threshold) of every drift run, oldest first."""
    with ctx.sessions() as session:
        rows = session.execute(
            select(
                CheckMetric.subject, CheckRun.window_end, CheckMetric.value, CheckMetric.threshold
            )
            .join(CheckRun, CheckRun.id == CheckMetric.run_id)
            .join(Model, Model.id == CheckRun.model_id)
            .where(Model.name == model, CheckRun.kind == CheckKind.DRIFT.value)
            .where(CheckMetric.subject != "dataset", CheckMetric.value.is_not(None))
            .order_by(CheckRun.window_end, CheckMetric.id)
        ).all()
    found: dict[str, list[tuple[str, float, float | None]]] = {}
    for subject, end, value, threshold in rows:
        found.setdefault(subject, []).append((end.isoformat(), value, threshold))
    return found


def stored_performance(ctx: JobContext, kind: CheckKind, name: str) -> list[tuple[str, float]]:
    """The headline metric's measure `name` of every run of `kind`, oldest first."""
    with ctx.sessions() as session:
        runs = session.execute(
            select(CheckRun.id, CheckRun.window_end, CheckRun.summary)
            .where(CheckRun.kind == kind.value)
            .order_by(CheckRun.window_end)
        ).all()
        out = []
        for rid, end, summary in runs:
            value = session.scalar(
                select(CheckMetric.value).where(
                    CheckMetric.run_id == rid,
                    CheckMetric.name == name,
                    CheckMetric.subject == summary["metric"],
                )
            )
            if value is not None:
                out.append((end.isoformat(), value))
        return out


def points(figure: Element, series: str) -> list[Element]:
    group = figure.one("g", data_series=series)
    return group.find_all("circle")


def assert_drift_matches(dom: Element, ctx: JobContext, model: str) -> None:
    section = dom.one("section", data_model=model)
    stored = stored_drift(ctx, model)
    assert len(stored) >= 5
    for feature, runs in stored.items():
        figure = section.one("figure", data_kind="drift", data_feature=feature)
        dots = points(figure, "score")
        assert [d.attrs["data-window-end"] for d in dots] == [end for end, _, _ in runs]
        assert [float(d.attrs["data-value"]) for d in dots] == [v for _, v, _ in runs]
        assert [float(d.attrs["data-threshold"]) for d in dots] == [t for _, _, t in runs]
        # Each point has its tooltip; the threshold is drawn as a line.
        assert all(d.one("title").text() for d in dots)
        assert figure.one("path", cls="threshold").attrs["d"].startswith("M")


def assert_drift_share_matches(dom: Element, ctx: JobContext, model: str) -> None:
    """The glance's drifted input features are the drift check's dataset rule's count
    (its stored "N of M columns drifted"); prediction, score and label drift are shown
    apart, each as the latest run stored it."""
    with ctx.sessions() as session:
        latest = session.scalar(
            select(CheckRun.id)
            .join(Model, Model.id == CheckRun.model_id)
            .where(Model.name == model, CheckRun.kind == CheckKind.DRIFT.value)
            .order_by(CheckRun.window_end.desc(), CheckRun.id.desc())
            .limit(1)
        )
        measures = {
            subject: (alerting, detail)
            for subject, alerting, detail in session.execute(
                select(CheckMetric.subject, CheckMetric.alerting, CheckMetric.detail).where(
                    CheckMetric.run_id == latest
                )
            )
        }
    found = re.fullmatch(r"(\d+) of (\d+) columns drifted", measures["dataset"][1] or "")
    assert found is not None, measures["dataset"]
    glance = dom.one("tr", cls="glance", data_model=model)
    assert glance.one("td", cls="drifted-inputs").text() == f"{found[1]} of {found[2]}"
    header = dom.one("table", cls="overview").find_all("th")
    assert any(th.text() == "Drifted input features" for th in header)
    outputs = {
        c.attrs["data-output"]: c
        for c in glance.one("td", cls="output-drift").find_all("span", cls="chip")
    }
    assert set(outputs) == {PREDICTION, SCORE, LABEL} & set(measures)
    assert set(outputs) >= {PREDICTION, SCORE}
    for name, chip in outputs.items():
        assert ("alert" in chip.classes) == measures[name][0], name
        assert chip.text() == f"{name} {'drifted' if measures[name][0] else 'ok'}"


def assert_threshold_drawn(figure: Element, series: str) -> None:
    """The series' own threshold path starts at its first point's stored threshold, on
    the y scale its points are drawn with (derived from two points' values and y)."""
    dots = points(figure, series)
    low = min(dots, key=lambda d: float(d.attrs["data-value"]))
    high = max(dots, key=lambda d: float(d.attrs["data-value"]))
    v0, v1 = float(low.attrs["data-value"]), float(high.attrs["data-value"])
    assert v1 > v0, f"{series}: need two distinct values to derive the scale"
    y0, y1 = float(low.attrs["cy"]), float(high.attrs["cy"])
    first = float(dots[0].attrs["data-threshold"])
    expected = y0 + (first - v0) * (y1 - y0) / (v1 - v0)
    path = figure.one("path", cls="threshold", data_series=series).attrs["d"]
    found = re.match(r"M([\d.]+),([\d.]+)", path)
    assert found is not None, path
    assert float(found.group(1)) == float(dots[0].attrs["cx"])
    assert abs(float(found.group(2)) - expected) < 0.2, (series, path, expected)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_page_in_chromium_holds_the_stored_values(
    seeded: tuple[JobContext, Seeded], tmp_path: Path
) -> None:
    ctx, seed_info = seeded
    with serving(ctx, seed_info.now) as server:
        answer = httpx.get(server.url + "/")
        assert answer.status_code == 200
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        # The page's own <meta> policy is the header's, less what only a header carries.
        meta = written_policy(answer.text)
        assert meta is not None
        assert header_policy(meta) == answer.headers["content-security-policy"]
        url = server.url + "/"
        dumped = browse(url, tmp_path / "profile-dom", "--dump-dom").stdout
        shot = tmp_path / "page.png"
        browse(
            url,
            tmp_path / "profile-shot",
            f"--window-size={WIDTH},{HEIGHT}",
            f"--screenshot={shot}",
        )
        full = tmp_path / "page-full.png"
        browse(
            url, tmp_path / "profile-full", f"--window-size={WIDTH},2400", f"--screenshot={full}"
        )
    print(f"\nscreenshots of / : {shot} (1440x900) and {full} (1440x2400)")
    dom = parse(dumped)
    # Self-contained: no script, nothing fetched from anywhere.
    assert not dom.find_all("script")
    assert not re.search(r'(src|href)="(https?:)?//', answer.text)

    # Every model in the store, at a glance and in its own section.
    with ctx.sessions() as session:
        names = set(session.scalars(select(Model.name)))
    assert {r.attrs["data-model"] for r in dom.find_all("tr", cls="glance")} == names
    assert {s.attrs["data-model"] for s in dom.find_all("section", cls="model")} == names
    glance = dom.one("tr", cls="glance", data_model=seed_info.model)
    assert "alerting" in glance.text()
    assert_drift_share_matches(dom, ctx, seed_info.model)
    section = dom.one("section", data_model=seed_info.model)

    # Every feature's drift score and threshold in every run, as stored.
    assert_drift_matches(dom, ctx, seed_info.model)
    age = section.one("figure", data_kind="drift", data_feature="age")
    assert "drifted" in age.classes
    assert sum(d.attrs["data-alerting"] == "true" for d in points(age, "score")) == DAYS - 5

    # Realized against estimated performance, as stored.
    perf = section.one("figure", data_kind="performance")
    realized = stored_performance(ctx, CheckKind.PERFORMANCE, "value")
    estimated = stored_performance(ctx, CheckKind.ESTIMATED_PERFORMANCE, "estimated")
    assert len(realized) == DAYS and len(estimated) == DAYS
    for series, stored in (("realized", realized), ("estimated", estimated)):
        dots = points(perf, series)
        assert [(d.attrs["data-window-end"], float(d.attrs["data-value"])) for d in dots] == stored
        assert all("data-threshold" in d.attrs for d in dots)
    # Each series against its own threshold, both drawn and both in the legend.
    for series in ("realized", "estimated"):
        assert_threshold_drawn(perf, series)
        assert (
            f"{series} threshold"
            in perf.one("span", cls="threshold-key", data_series=series).text()
        )
    realized_level = perf.one("path", cls="threshold", data_series="realized").attrs["d"]
    estimated_level = perf.one("path", cls="threshold", data_series="estimated").attrs["d"]
    assert realized_level != estimated_level
    assert perf.one("line", cls="baseline")
    assert "realized" in perf.text() and "estimated" in perf.text()

    # Every firing alert, the drift of age and the framework's advisory among them.
    with ctx.sessions() as session:
        firing = session.scalars(select(Alert).where(Alert.state == AlertState.FIRING)).all()
    assert {a.subject for a in firing} >= {"age", f"torch:{ADVISORY}"}
    table = dom.one("div", id="firing").one("table", cls="alerts")
    rows = {r.attrs["data-alert-id"]: r for r in table.find_all("tr", cls="alert")}
    assert set(rows) == {str(a.id) for a in firing}
    for a in firing:
        assert a.subject in rows[str(a.id)].text()

    # The champion: the store's serving version, with the alias, in the version history.
    with ctx.sessions() as session:
        serving_version = session.scalar(select(Model.current_version).where(Model.name == "churn"))
    assert serving_version == seed_info.champion
    assert section.one("span", cls="version").text() == seed_info.champion
    champion = section.one("tr", cls="champion")
    assert seed_info.champion in champion.text() and "@champion" in champion.text()
    rejected = [r for r in section.find_all("tr", cls="job") if "champion" not in r.classes]
    assert any(seed_info.rejected in r.text() and "not better" in r.text() for r in rejected)

    # The framework findings.
    findings = dom.one("div", data_environment="serving")
    text = findings.text()
    assert "torch" in text and ADVISORY in text and "numpy" in text and "major behind" in text

    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200


def test_the_page_reads_the_same_from_either_store(
    seeded: tuple[JobContext, Seeded],
) -> None:
    ctx, seed_info = seeded
    with serving(ctx, seed_info.now) as server:
        overview = httpx.get(server.url + "/")
        detail = httpx.get(server.url + "/models/churn")
        missing = httpx.get(server.url + "/models/nope")
    assert overview.status_code == 200 and detail.status_code == 200
    assert missing.status_code == 404
    assert_drift_matches(parse(overview.text), ctx, "churn")
    assert_drift_matches(parse(detail.text), ctx, "churn")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_an_empty_store_says_there_is_no_data_yet(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    bare = JobContext(
        settings=parse_config({"service": {"state_dir": str(tmp_path / "var")}}, "<test>", {}),
        engine=engine,
        sessions=session_factory,
    )
    configured = context(tmp_path, engine, session_factory)
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    with serving(bare, now) as server:
        empty = httpx.get(server.url + "/")
    assert empty.status_code == 200
    dom = parse(empty.text)
    assert "No data yet." in dom.one("div", id="no-data").text()
    assert "No framework scan stored yet" in empty.text
    # A daily scan that found nothing stores no finding: the page says it ran.
    with session_factory() as session, session.begin():
        session.add(JobRun(job_id="frameworks", last_success_at=now, last_status="ok"))
    with serving(bare, now) as server:
        clean = httpx.get(server.url + "/")
    assert "No framework scan stored yet" not in clean.text
    assert "Scanned 2026-03-02 12:00" in parse(clean.text).one("p", id="frameworks-clean").text()
    with serving(configured, now) as server:
        waiting = httpx.get(server.url + "/")
    assert waiting.status_code == 200
    section = parse(waiting.text).one("section", data_model="churn")
    assert "No data yet: no drift or performance run is stored" in section.text()
    assert "no data" in section.text()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_names_from_users_are_escaped(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = context(tmp_path, engine, session_factory)
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    result = CheckResult(
        kind=CheckKind.DRIFT,
        status=Status.ALERT,
        rows=100,
        measures=(
            Measure(
                subject=XSS_FEATURE,
                name="psi",
                value=0.5,
                threshold=0.2,
                status=Status.ALERT,
                detail=XSS,
            ),
        ),
    )
    with transaction(ctx.sessions) as session:
        store_runs(
            session,
            XSS,
            {CheckKind.DRIFT: KindRun(result=result, duration_s=0.01)},
            start=now.replace(hour=11),
            end=now,
        )
    with serving(ctx, now) as server:
        page = httpx.get(server.url + "/")
    assert page.status_code == 200
    assert XSS not in page.text and "<img" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    dom = parse(page.text)
    assert not dom.find_all("script") and not dom.find_all("img")
    # The names read back as the text they are.
    section = dom.one("section", data_model=XSS)
    assert section.one("h3", cls="model-name").text() == XSS
    figure = section.one("figure", data_feature=XSS_FEATURE)
    assert [float(d.attrs["data-value"]) for d in points(figure, "score")] == [0.5]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_beyond_loopback_the_page_needs_a_token(
    tmp_path: Path, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = context(tmp_path, engine, session_factory)
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    token, read = "t" * 32, "r" * 32
    with serving(
        ctx, now, host="0.0.0.0", token=Secret(token, "t"), read_token=Secret(read, "r")
    ) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(base + "/").status_code == 401
        assert httpx.get(base + "/models/churn").status_code == 401
        auth = {"Authorization": f"Bearer {read}"}
        assert httpx.get(base + "/", headers=auth).status_code == 200
        assert httpx.get(base + "/models/churn", headers=auth).status_code == 200
