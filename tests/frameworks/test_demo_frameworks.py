"""The demo's frameworks part, through its own code: sync from its local index, then
the offline scan it prints for the old serving image."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from daemon.config import load_config
from daemon.demo import _frameworks, sync_frameworks
from daemon.demo_world import START, local_index, write_config
from daemon.jobs import JobContext
from daemon.store import migrate


def test_the_demo_flags_the_old_serving_image_from_its_local_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with local_index() as index:
        settings = load_config(
            write_config(tmp_path, index_url=index.url),
            environ={"MLMAINT_DEMO_API_TOKEN": "t" * 32},
        )
        ctx = JobContext.from_settings(settings)
        try:
            migrate.upgrade(ctx.engine)
            sync_frameworks(ctx, START)
        finally:
            ctx.close()
    url = settings.frameworks.index_url
    assert url.startswith("http://127.0.0.1:")
    synced = capsys.readouterr().out
    assert re.search(
        rf"frameworks sync: synced release data of \d+ package\(s\) from {url}", synced
    )
    ctx = JobContext.from_settings(settings)
    try:
        _frameworks(ctx, START + timedelta(days=42))
    finally:
        ctx.close()
    out = capsys.readouterr().out
    section = out.split("== serving-image", 1)[1].split("\n==", 1)[0]
    head = section.splitlines()[0]
    libyears = re.search(r"7 packages, ([\d.]+) libyears$", head)
    assert libyears is not None and float(libyears.group(1)) > 15, head
    for package, version in (("scikit-learn", "0.24.0"), ("numpy", "1.21.0"), ("pandas", "1.3.5")):
        assert re.search(
            rf"{package} +{re.escape(version)} +outdated +warning +security cadence: released",
            section,
        ), section
    assert re.search(
        r"scikit-learn +0\.24\.0 +outdated +warning +major cadence: 1\.x out since 2021-09-24",
        section,
    )
    assert re.search(
        r"requests +2\.32\.0 +yanked +warning +2\.32\.0 was yanked: Yanked due to", section
    )
    assert re.search(r"pillow +9\.5\.0 +major_behind", section)
    assert re.search(r"pillow +9\.5\.0 +stale", section)
    assert re.search(r"torch +1\.13\.0 +vulnerable", section)
    # Severity where the record has a CVSS vector, one line per advisory, most severe first.
    rated = re.findall(r"mlflow +2\.9\.0 +vulnerable +(\w+(?: [\d.]+)?) +(PYSEC-\S+)", section)
    assert rated[:3] == [
        ("high 8.1", "PYSEC-2023-253,"),
        ("high 7.5", "PYSEC-2023-252,"),
        ("medium 6.1", "PYSEC-2023-260,"),
    ], rated
    assert ("unknown", "PYSEC-2024-51,") in rated
    assert "release data from 2026-10-12, 42 days old" in section
    assert "support data as of 2025-10-15 (shipped, " in section
