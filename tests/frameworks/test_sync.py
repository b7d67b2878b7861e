"""`mlmaint frameworks sync` against a real loopback index, then offline scans from the cache."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks.output import render_table
from checks.frameworks.policy import FindingKind
from checks.frameworks.releases import load_history
from daemon.cli import main
from daemon.config import Settings, parse_config
from daemon.frameworks.job import scan_frameworks
from daemon.frameworks.local_index import LocalIndex
from daemon.frameworks.releases import cached_releases, current_support
from daemon.frameworks.sync import run_sync
from daemon.jobs import JobContext
from daemon.store.tables import ReleaseCache
from tests.conftest import new_sqlite_url
from tests.frameworks.conftest import FakeIndex

SYNCED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SCANNED = datetime(2026, 12, 6, 6, 30, tzinfo=UTC)
OLD_IMAGE = "scikit-learn==0.24.0\nnumpy==1.21.0\npandas==1.3.5\nrequests==2.32.0\n"


def _settings(store: str, requirements: Path, **frameworks: object) -> Settings:
    return parse_config(
        {
            "store": {"url": store},
            "frameworks": {
                "environments": [
                    {"name": "serving", "kind": "requirements", "path": str(requirements)}
                ],
                **frameworks,
            },
        }
    )


@pytest.mark.parametrize("upload_times", [True, False], ids=["pep700", "json-api-times"])
def test_sync_then_offline_scan_flags_outdated_frameworks(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, upload_times: bool
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(OLD_IMAGE + "in-house-features==1.0\n")
    with LocalIndex(load_history(), as_of=SYNCED, upload_times=upload_times) as index:
        settings = _settings("sqlite://", requirements, index_url=index.url)
        ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
        with httpx.Client(timeout=5) as http:
            outcome = run_sync(ctx, SYNCED, http=http)
        hits = list(index.hits)
    assert outcome.synced == ("numpy", "pandas", "requests", "scikit-learn")
    assert outcome.not_found == ("in-house-features",) and outcome.ok
    # PEP 691 first; the JSON API only for the upload times a mirror's Simple pages lack.
    assert "/simple/scikit-learn/" in hits
    assert ("/pypi/scikit-learn/json" in hits) is (not upload_times)
    assert "/pypi/in-house-features/json" in hits  # not listed by Simple: asked once more

    # The index is gone: the scan (offline, the default) reads the cache only.
    outcome2 = scan_frameworks(ctx, SCANNED)
    (report,) = outcome2.reports
    # Past the cache's TTL (1 day by default), the note says how to refresh it.
    assert report.release_data == (
        "release data from 2026-12-01, 4 days old (4 of 5 packages; 1 not in the cache); "
        "older than the cache TTL (1d): run `mlmaint frameworks sync` to refresh it"
    )
    outdated: dict[str, list[str]] = {}
    for f in report.findings:
        if f.kind is FindingKind.OUTDATED:
            outdated.setdefault(f.package, []).append(f.detail)
    assert set(outdated) == {"scikit-learn", "numpy", "pandas"}
    # One finding per rule fired, each naming its rule.
    assert outdated["scikit-learn"] == [
        "security cadence: released 2020-12-22, 6.0 years old > 12 months",
        "major cadence: 1.x out since 2021-09-24 (1.0), 5.2 years ago > 3 years",
    ]
    assert outdated["pandas"][1] == (
        "major cadence: 2.x out since 2023-04-03 (2.0.0), 3.7 years ago > 3 years"
    )
    # numpy 2.0 came out in 2024-06: under the 3-year major cadence, no major rule.
    assert outdated["numpy"] == ["security cadence: released 2021-06-22, 5.5 years old > 12 months"]
    kinds = {(f.package, f.kind) for f in report.findings}
    assert ("requests", FindingKind.YANKED) in kinds and ("requests", FindingKind.STALE) in kinds
    # For frameworks the security cadence says what "stale" would.
    assert ("numpy", FindingKind.STALE) not in kinds
    assert ("numpy", FindingKind.MAJOR_BEHIND) in kinds
    libyears = {p.name: p.libyears for p in report.packages}
    assert libyears["in-house-features"] is None
    assert libyears["scikit-learn"] == 5.72  # 0.24.0 (2020-12-22) -> 1.9.1 (2026-09-10)
    assert libyears["numpy"] is not None and libyears["numpy"] > 4
    assert report.libyears == pytest.approx(sum(v for v in libyears.values() if v), abs=0.02)
    table = render_table([report])
    assert f"5 packages, {report.libyears} libyears (4 of 5 packages)" in table
    assert "release data from 2026-12-01, 4 days old" in table
    assert re.search(r"numpy +1\.21\.0 +outdated +warning +security cadence", table)


def test_sync_names_the_failures_and_keeps_the_rest(sqlite_template: Path, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(OLD_IMAGE + "in-house-features==1.0\n")
    store = new_sqlite_url(sqlite_template, tmp_path)
    with LocalIndex(load_history(), faults={"pandas": 500}) as index:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[store]\nurl = "{store}"\n[frameworks]\nindex_url = "{index.url}"\n'
            f'[[frameworks.environments]]\nname = "serving"\nkind = "requirements"\n'
            f'path = "{requirements}"\n'
        )
        result = CliRunner().invoke(main, ["--config", str(config), "frameworks", "sync"])
        url = index.url
    assert result.exit_code == 2, result.output
    assert f"synced release data of 3 package(s) from {url}" in result.stdout
    assert f"not on the index {url}: 1 package(s): in-house-features" in result.stdout
    assert (
        f"frameworks sync: pandas: package index {url} unavailable: "
        f"HTTP 500 on GET {url}/simple/pandas/" in result.stderr
    )
    from daemon.store.engine import make_engine, session_factory

    engine = make_engine(store)
    try:
        cached = cached_releases(
            session_factory(engine), url, ["numpy", "pandas", "requests", "scikit-learn"]
        )
    finally:
        engine.dispose()
    assert sorted(cached) == ["numpy", "requests", "scikit-learn"]
    # The scan that follows, offline, says what is missing rather than printing 0.
    scanned = CliRunner().invoke(main, ["--config", str(config), "frameworks", "--format", "json"])
    env = json.loads(scanned.stdout)["environments"][0]
    assert env["libyears_packages"] == 3 and env["libyears"] > 10
    # Synced a moment ago: its age in hours, never "0 days", and within the TTL.
    assert "less than an hour old" in env["release_data"], env["release_data"]
    assert "TTL" not in env["release_data"]
    pandas = next(p for p in env["packages"] if p["name"] == "pandas")
    assert pandas["libyears"] is None and pandas["latest"] is None


def test_an_unreachable_index_ends_the_pass_and_names_what_was_not_asked(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(OLD_IMAGE)
    with LocalIndex({}) as index:
        gone = index.url  # a port nobody listens on once the block ends
    settings = _settings("sqlite://", requirements, index_url=gone)
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    with httpx.Client(timeout=2) as http:
        outcome = run_sync(ctx, SYNCED, http=http)
    assert outcome.synced == () and not outcome.ok
    ((first, why),) = outcome.failed
    assert first == "numpy" and f"package index {gone} unavailable: ConnectError" in why
    assert outcome.skipped == ("pandas", "requests", "scikit-learn")
    assert outcome.error_lines()[-1] == (
        f"not synced, the index {gone} stopped answering: pandas, requests, scikit-learn"
    )


def test_with_no_release_data_libyears_are_unknown_not_zero(
    sqlite_template: Path, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(OLD_IMAGE)
    store = new_sqlite_url(sqlite_template, tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "{store}"\n[frameworks]\n[[frameworks.environments]]\n'
        f'name = "serving"\nkind = "requirements"\npath = "{requirements}"\n'
    )
    table = CliRunner().invoke(main, ["--config", str(config), "frameworks"]).stdout
    assert "4 packages, libyears unknown (no release data)" in table
    assert "0.0 libyears" not in table
    assert "no release data: run `mlmaint frameworks sync`" in table
    data = CliRunner().invoke(main, ["--config", str(config), "frameworks", "--format", "json"])
    env = json.loads(data.stdout)["environments"][0]
    assert env["libyears"] is None and env["libyears_packages"] == 0


def _support(as_of: str) -> dict[str, object]:
    shipped = Path("checks/frameworks/data/support.json")
    data = json.loads(shipped.read_text())
    data["as_of"] = as_of
    data["python"]["eol"]["3.15"] = "2031-10-31"
    return data


def test_sync_refreshes_support_data_and_keeps_the_shipped_copy_on_failure(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, fake_index: FakeIndex
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("")
    settings = _settings(
        "sqlite://",
        requirements,
        index_url=fake_index.url,
        support_url=f"{fake_index.url}/support.json",
    )
    ctx = JobContext(settings=settings, engine=engine, sessions=session_factory)
    today = SCANNED.date()
    shipped = current_support(session_factory, settings.frameworks)
    assert shipped.origin == "shipped" and shipped.is_stale(today)
    assert "(shipped, 417 days old: OLDER THAN A YEAR" in shipped.describe(today)

    fake_index.fault("/support.json", "500")
    with httpx.Client(timeout=2) as http:
        failed = run_sync(ctx, SYNCED, http=http)
    assert failed.errors == (
        f"support data from {fake_index.url}/support.json: "
        f"HTTP 500 on GET {fake_index.url}/support.json",
    )
    assert failed.support == "support data: kept the copy in use"
    assert current_support(session_factory, settings.frameworks).origin == "shipped"

    fake_index.json("/support.json", _support("2026-11-30"))
    with httpx.Client(timeout=2) as http:
        synced = run_sync(ctx, SYNCED, http=http)
    assert synced.ok and synced.support == (
        f"support data as of 2026-11-30 synced from {fake_index.url}/support.json"
    )
    fresh = current_support(session_factory, settings.frameworks)
    assert fresh.as_of.isoformat() == "2026-11-30" and "3.15" in fresh.python_eol
    assert fresh.describe(today).startswith(
        f"support data as of 2026-11-30 (synced from {fake_index.url}/support.json "
        "on 2026-12-01, 6 days old)"
    )
    with session_factory() as session:
        assert (
            session.scalar(
                select(ReleaseCache.fetched_at).where(ReleaseCache.package == "*support-data")
            )
            is not None
        )


def test_release_note_counts_and_ages() -> None:
    from daemon.frameworks.releases import release_note

    now = datetime(2026, 12, 6, tzinfo=UTC)
    one = now - timedelta(days=1)
    assert release_note({}, [], now) == "no pinned packages"
    assert release_note({"a": one}, ["a"], now) == "release data from 2026-12-05, 24 hours old"
    hours = now - timedelta(hours=5)
    assert release_note({"a": hours}, ["a"], now, timedelta(days=1)) == (
        "release data from 2026-12-05, 5 hours old"
    )
    assert release_note({"a": now - timedelta(hours=47)}, ["a"], now).endswith("47 hours old")
    assert release_note({"a": now - timedelta(hours=48)}, ["a"], now).endswith("2 days old")
    assert release_note({"a": one, "b": now - timedelta(days=20)}, ["a", "b", "c"], now) == (
        "release data from 2026-11-16 to 2026-12-05, 20 days old "
        "(2 of 3 packages; 1 not in the cache)"
    )
