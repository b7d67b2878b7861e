"""`mlmaint demo` end to end: the six-week story holds and its reports render offline.

Runs the real command in a subprocess (the demo quiets library warnings and
logging for its own output, which must not leak into the other tests).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.report.conftest import free_port
from tests.report.test_browser import HEIGHT, WIDTH, RecordingProxy, screenshot


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    server = RecordingProxy(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    workdir = tmp_path_factory.mktemp("demo") / "state"
    done = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "demo", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return workdir, done.stdout


def test_drift_is_flagged_on_the_drifted_days_only(demo: tuple[Path, str]) -> None:
    _, out = demo
    days = [ln for ln in out.splitlines() if re.match(r"day +\d+ ", ln)]
    assert len(days) == 42
    flagged = {ln.split()[1] for ln in days if "drift=alert" in ln}
    injected = {ln.split()[1] for ln in days if "drift injected" in ln}
    assert flagged, out
    assert flagged <= injected
    assert "drift flagged on clean days: none" in out
    # Quality sees the new plan and realized performance drops on the drifted days.
    assert any("drift injected" in ln and "quality=alert" in ln for ln in days)
    assert any("drift injected" in ln and "perf=alert" in ln for ln in days)


def test_the_decayed_model_is_retrained_promoted_and_checked_against(
    demo: tuple[Path, str],
) -> None:
    _, out = demo
    # Drift failed three days in a row, the performance one day: a drift job.
    assert re.search(r"retrain job \w+ trigger=drift state=succeeded version=2 promoted=True", out)
    # People heard of it: the promotion's message, with the metric before and after.
    assert re.search(
        r"decision told: promotion: churn: promoted version 2 over version 1: "
        r"\w+ \d\.\d{4} -> \d\.\d{4}; retrained for drift",
        out,
    ), out[-3000:]
    days = [ln for ln in out.splitlines() if re.match(r"day +\d+ ", ln)]
    assert days[0].endswith("v1") and days[-1].endswith(("v2", "v3"))
    # After the promotion the new version's reference makes the drift alert clear.
    assert "drift=ok" in days[-1]


def test_the_outbox_holds_firing_repeat_and_resolved_messages(demo: tuple[Path, str]) -> None:
    workdir, out = demo
    changes: Counter[str] = Counter()
    for line in (workdir / "outbox.jsonl").read_text().splitlines():
        for item in json.loads(line)["payload"]["items"]:
            changes[item["change"]] += 1
    assert changes["firing"] > 0 and changes["repeat"] > 0 and changes["resolved"] > 0
    assert "rejected predictions: extra_column=6, missing_column=6, wrong_type=6" in out


def test_the_framework_scan_flags_the_old_serving_image(demo: tuple[Path, str]) -> None:
    _, out = demo
    section = out.split("== serving-image", 1)[1].split("==", 1)[0]
    assert re.search(r"torch +1\.13\.0 +vulnerable .*PYSEC-2022-43015", section)
    assert re.search(r"mlflow +2\.9\.0 +vulnerable +high 8\.1 +PYSEC-2023-253", section)
    # From the release cache the demo synced from its local index at the start.
    assert re.search(r"7 packages, \d+\.\d+ libyears\n", section)
    assert re.search(
        r"numpy +1\.21\.0 +outdated +warning +security cadence: released 2021-06-22", section
    )
    assert re.search(r"requests +2\.32\.0 +yanked", section)
    assert "release data from 2026-10-12, 42 days old" in section


def test_six_weekly_reports_render_offline_in_chromium(
    demo: tuple[Path, str], proxy: RecordingProxy, tmp_path: Path
) -> None:
    workdir, out = demo
    reports = sorted((workdir / "reports").glob("mlmaint-report-*.html"))
    weeks = [p.stem.removeprefix("mlmaint-report-") for p in reports]
    # The six simulated weeks (and the week before, reported on the first Monday).
    assert {f"2026-W{w}" for w in range(42, 48)} <= set(weeks), weeks
    reports = [p for p in reports if p.stem >= "mlmaint-report-2026-W42"]
    assert str(reports[-1]) in out
    for report in (reports[3], reports[-1]):  # the drifted week and the last one
        html = report.read_text()
        for section in ("Summary", "Models", "Frameworks", "Daemon health"):
            assert f"<h2>{section}" in html, (report.name, section)
        assert 'class="chart" src="data:image/' in html
        assert not re.search(r"""src=["']https?://""", html)
        # Links are absolute under report.base_url (the default here): they work from
        # the archived file and the attachment, and load nothing.
        hrefs = re.findall(r"""href=["']([^"']*)["']""", html)
        assert all(h.startswith(("#", "http://127.0.0.1:8787/")) for h in hrefs), hrefs
        shot = workdir / f"{report.stem}.png"
        screenshot(report, shot, proxy, tmp_path / f"profile-{report.stem}")
        assert not proxy.requests, "\n".join(proxy.requests)
        image = Image.open(shot).convert("RGB")
        assert image.size == (WIDTH, HEIGHT)
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 200


def test_the_demo_ends_with_the_page_and_the_drift_days_evidence(demo: tuple[Path, str]) -> None:
    workdir, out = demo
    page = re.search(r"^page: (\S+) ", out, re.M)
    assert page is not None, out[-2000:]
    html = Path(page.group(1)).read_text()
    assert "churn" in html and "<svg" in html
    evidence = re.search(r"^evidence of day 21: (\S+)$", out, re.M)
    assert evidence is not None, out[-2000:]
    assert Path(evidence.group(1)).is_file()
    assert Path(evidence.group(1)).is_relative_to(workdir.resolve())


def test_day_21_ranks_the_shifted_features_first(demo: tuple[Path, str]) -> None:
    workdir, out = demo
    # The simulation shifts charges, usage, support calls and the plans from day 21 on;
    # tenure and region stay as they were.
    shifted = {"monthly_charges", "usage_gb", "support_calls", "plan"}
    ranking = re.search(r"^   ranking of day 21 \(14 windows\): (.+)$", out, re.M)
    assert ranking is not None, out[-3000:]
    features = [item.split(" r=")[0] for item in ranking.group(1).split(", ")]
    assert set(features[:4]) == shifted and set(features[4:]) == {"tenure_months", "region"}
    # The drop from the baseline the check compares against, both ends said.
    told = re.search(
        r"^   causes of day 21: roc_auc fell (0\.\d+) from (0\.\d+) \(reference\) to (0\.\d+); "
        r"it follows (.+)$",
        out,
        re.M,
    )
    assert told is not None, out[-3000:]
    fell, was, now = (float(told.group(i)) for i in (1, 2, 3))
    assert fell == pytest.approx(was - now) and fell > 0
    named = re.findall(r"(\w+) \(r = (?:0\.\d\d|1\.00)\)", told.group(4))
    assert named and set(named) <= shifted and "r = -" not in told.group(4)
    # The decay alert says it, and so does the drifted week's report under the alert.
    summaries = [
        item["summary"]
        for line in (workdir / "outbox.jsonl").read_text().splitlines()
        for item in json.loads(line)["payload"]["items"]
        if item.get("kind") == "performance" and item.get("change") == "firing"
    ]
    assert any("; it follows " in s for s in summaries), summaries
    html = (workdir / "reports" / "mlmaint-report-2026-W45.html").read_text()
    assert re.search(
        r"why: roc_auc fell 0\.\d+ from 0\.\d+ \(reference\) to 0\.\d+; "
        r"it follows (usage_gb|plan|monthly_charges)",
        html,
    )
