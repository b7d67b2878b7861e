"""The README's "Use the checks from Python", run as it stands.

Its Python block runs in a directory of its own where `advisory-database` is
the PyPA advisory database snapshot (the full one beside the repository when
present, else the real PyPA records shipped with mlmaint), and must print what
the section says it prints: the drift, quality and estimated-performance
verdicts with their measures, and the advisories of the requirements file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from daemon.frameworks.mirror import SHARED_ADVISORY_DB, shipped_advisory_source
from tests.onboarding import readme


def test_the_library_section_prints_what_it_says(tmp_path: Path) -> None:
    (code,) = readme.blocks("python", readme.LIBRARY)
    (shown,) = readme.blocks("text", readme.LIBRARY)
    source = shipped_advisory_source()
    if source.is_dir():
        (tmp_path / "advisory-database").symlink_to(source)
    else:
        (tmp_path / "advisory-database").mkdir()
        shutil.copy(source, tmp_path / "advisory-database" / source.name)
    env = {**os.environ, "PYTHONPATH": str(readme.ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout.splitlines()
    # Each verdict, with the measures that alert.
    assert "drift: alert" in printed and "quality: alert" in printed
    assert "estimated_performance: alert" in printed
    assert any(line.startswith("  age wasserstein = ") for line in printed), done.stdout
    assert any(line.startswith("  plan new_category_share = ") for line in printed)
    assert any(line.startswith("  roc_auc estimated = ") for line in printed)
    # The status with its reason: a feature gone from the frame, too few rows.
    assert "drift: error (plan missing from the current frame; 50 rows, 100 needed)" in printed
    for line in printed:
        if line.startswith("  ") and " = " in line:
            value, threshold = line.split(" = ")[1].split(", threshold ")
            # An alerting measure is beyond its threshold: above, or below for roc_auc.
            above = float(value) >= float(threshold.split()[0])
            assert above != line.startswith("  roc_auc"), line
    # The advisories of the pinned packages; the unpinned one cannot be checked.
    assert any(
        line.startswith("torch 1.12.1: vulnerable [unknown] PYSEC-2022-43015, CVE-2022-45907")
        for line in printed
    ), done.stdout
    assert any(line.startswith("pillow 9.0.0: vulnerable") for line in printed)
    assert "numpy (unpinned): unpinned" in done.stdout
    assert not any(line.startswith("requests") for line in printed)
    if source == SHARED_ADVISORY_DB:
        # The whole PyPA database: exactly what the README shows.
        assert done.stdout == shown, done.stdout
