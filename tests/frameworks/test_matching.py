"""The OSV range algorithm: on the real PyPA database, and on its corner cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checks.frameworks.advisories import load_path, parse_record
from checks.frameworks.matching import (
    AdvisoryIndex,
    affects_by_ranges,
    cvss2_base_score,
    cvss3_base_score,
)
from tests.frameworks.conftest import pypa_db

ML = ("torch", "tensorflow", "mlflow", "numpy", "scikit-learn", "pillow", "onnx")


def test_pypa_database_versions_lists_agree_with_ranges() -> None:
    """Every listed affected version is inside the ranges; every fixed version is not."""
    root = pypa_db() / "vulns"
    records = [r for package in ML for r in load_path(root / package)]
    assert len(records) >= 300, "the snapshot lost most of its ML advisories"
    listed = fixed = 0
    wrong: list[str] = []
    for record in records:
        for affected in record.affected:
            if affected.package not in ML:
                continue
            for version in affected.versions:
                listed += 1
                if not affects_by_ranges(affected, version):
                    wrong.append(f"{record.id}: {affected.package} {version} not flagged")
            for r in affected.ranges:
                if r.type != "ECOSYSTEM":
                    continue
                for event in r.events:
                    if event.kind == "fixed":
                        fixed += 1
                        if affects_by_ranges(affected, event.version):
                            wrong.append(f"{record.id}: fixed {event.version} flagged")
    print(f"PyPA check: {len(records)} advisories, {listed} listed versions, {fixed} fixed")
    assert not wrong, wrong[:20]
    # The snapshot of 2024-10-10 holds these many; a smaller figure means a parsing loss.
    assert listed >= 20000 and fixed >= 800


def _rec(events: list[dict[str, str]], **extra: object) -> dict[str, object]:
    return {
        "id": extra.pop("id", "PYSEC-1"),
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": extra.pop("package", "Demo_Pkg")},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "versions": extra.pop("versions", []),
            }
        ],
        **extra,
    }


@pytest.mark.parametrize(
    ("events", "version", "hit"),
    [
        ([{"introduced": "0"}, {"fixed": "1.2"}], "1.1.9", True),
        ([{"introduced": "0"}, {"fixed": "1.2"}], "1.2", False),
        ([{"introduced": "1.0"}, {"fixed": "1.2"}], "0.9", False),
        ([{"introduced": "1.0"}, {"last_affected": "1.4"}], "1.4", True),
        ([{"introduced": "1.0"}, {"last_affected": "1.4"}], "1.4.1", False),
        ([{"introduced": "1.0"}], "99", True),
        ([{"introduced": "1.0"}, {"limit": "2.0"}], "2.1", False),
        ([{"introduced": "1.0"}, {"limit": "2.0"}], "1.9", True),
        # Out-of-order events are sorted by version before the walk.
        (
            [{"fixed": "2.1"}, {"introduced": "2.0"}, {"fixed": "1.5"}, {"introduced": "1.0"}],
            "1.7",
            False,
        ),
        (
            [{"fixed": "2.1"}, {"introduced": "2.0"}, {"fixed": "1.5"}, {"introduced": "1.0"}],
            "2.0.5",
            True,
        ),
        # Pre-releases of the fix are still affected.
        ([{"introduced": "0"}, {"fixed": "2.0"}], "2.0rc1", True),
        # A local build label does not escape a fix: the public version is compared.
        ([{"introduced": "0"}, {"fixed": "1.13.1"}], "1.13.0+cu117", True),
        ([{"introduced": "0"}, {"fixed": "1.13.1"}], "1.13.1+cu117", False),
    ],
)
def test_range_walk(events: list[dict[str, str]], version: str, hit: bool) -> None:
    record = parse_record(_rec(events))
    assert affects_by_ranges(record.affected[0], version) is hit
    assert bool(AdvisoryIndex([record]).match("demo-pkg", version)) is hit


def test_versions_list_matches_without_ranges_and_names_are_normalized() -> None:
    record = parse_record(_rec([], versions=["0.5"]))
    index = AdvisoryIndex([record])
    assert index.match("DEMO.pkg", "0.5") and not index.match("demo-pkg", "0.6")
    assert index.match("demo-pkg", "0.5")[0].fixed is None


def test_aliases_merge_withdrawn_ignored_and_smallest_fix() -> None:
    pysec = _rec([{"introduced": "0"}, {"fixed": "1.3"}], id="PYSEC-2024-1", aliases=["GHSA-aaaa"])
    ghsa = _rec(
        [{"introduced": "0"}, {"fixed": "1.4"}, {"introduced": "2.0"}, {"fixed": "2.2"}],
        id="GHSA-aaaa",
        aliases=["CVE-2024-9"],
        database_specific={"severity": "HIGH"},
    )
    gone = _rec([{"introduced": "0"}], id="PYSEC-2024-2", withdrawn="2024-02-01T00:00:00Z")
    index = AdvisoryIndex([parse_record(r) for r in (pysec, ghsa, gone)])
    (match,) = index.match("demo-pkg", "1.0")
    assert match.vulnerability.id == "PYSEC-2024-1"
    assert match.vulnerability.ids == ("CVE-2024-9", "GHSA-aaaa", "PYSEC-2024-1")
    assert match.vulnerability.severity == "high"
    # Both merged records must be cleared: 1.3 fixes one, 1.4 both.
    assert match.fixed == "1.4"
    (later,) = index.match("demo-pkg", "2.1")
    assert later.fixed == "2.2"
    assert index.fix_candidates("demo-pkg") == ["1.3", "1.4", "2.2"]


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 2.8),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N", 3.3),
        ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ],
)
def test_cvss3_scores(vector: str, score: float) -> None:
    assert cvss3_base_score(vector) == score


def test_cvss2_and_unscorable() -> None:
    assert cvss2_base_score("AV:N/AC:L/Au:N/C:P/I:P/A:P") == 7.5
    assert (
        cvss3_base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") is None
    )
    record = parse_record(
        _rec(
            [{"introduced": "0"}],
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        )
    )
    (match,) = AdvisoryIndex([record]).match("demo-pkg", "1")
    assert (match.vulnerability.score, match.vulnerability.severity) == (9.8, "critical")


def test_yaml_times_become_plain_json() -> None:
    record = parse_record(
        {"id": "X-1", "modified": datetime(2024, 5, 1, tzinfo=UTC), "affected": []}
    )
    assert record.raw["modified"] == "2024-05-01T00:00:00Z"
