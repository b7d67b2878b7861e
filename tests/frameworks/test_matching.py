"""The OSV range algorithm: on the real PyPA database, and on its corner cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checks.frameworks.advisories import load_path, parse_record
from checks.frameworks.inventory import Inventory, Package, SourceKind
from checks.frameworks.matching import AdvisoryIndex, affects_by_ranges, group_records
from checks.frameworks.policy import FindingKind, Policy, evaluate
from checks.frameworks.support import load_support
from tests.frameworks.conftest import pypa_db

NOW = datetime(2026, 11, 25, tzinfo=UTC)
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


def test_yaml_times_become_plain_json() -> None:
    record = parse_record(
        {"id": "X-1", "modified": datetime(2024, 5, 1, tzinfo=UTC), "affected": []}
    )
    assert record.raw["modified"] == "2024-05-01T00:00:00Z"


# --------------------------------------------------------------------------- one advisory once


def _fixed_at(ident: str, fixed: str, *aliases: str, **extra: object) -> dict[str, object]:
    return _rec([{"introduced": "0"}, {"fixed": fixed}], id=ident, aliases=list(aliases), **extra)


def test_two_cves_sharing_a_ghsa_stay_two_findings_with_their_own_fixes() -> None:
    """Each CVE keeps its ids and its fix; the GHSA both list names each, joins neither."""
    records = [
        parse_record(r)
        for r in (
            _fixed_at("PYSEC-2021-88", "4.6", "CVE-2021-32633", "GHSA-shared"),
            _fixed_at("PYSEC-2021-104", "4.6.1", "CVE-2021-32674", "GHSA-shared", "GHSA-only-b"),
            # A GHSA record for both CVEs, with a later fix: a summary, never matched twice.
            _fixed_at("GHSA-broad", "5.0", "CVE-2021-32633", "CVE-2021-32674"),
        )
    ]
    index = AdvisoryIndex(records)
    first, second = sorted(index.match("demo-pkg", "4.5"), key=lambda m: m.vulnerability.id)
    assert first.vulnerability.id == "PYSEC-2021-104" and first.fixed == "4.6.1"
    assert first.vulnerability.ids == (
        "CVE-2021-32674",
        "GHSA-broad",
        "GHSA-only-b",
        "GHSA-shared",
        "PYSEC-2021-104",
    )
    assert second.vulnerability.id == "PYSEC-2021-88" and second.fixed == "4.6"
    assert "CVE-2021-32674" not in second.vulnerability.ids
    # 4.6 fixes CVE-2021-32633: only the other CVE is left, under its own ids.
    (left,) = index.match("demo-pkg", "4.6")
    assert (
        left.vulnerability.id == "PYSEC-2021-104" and "CVE-2021-32633" not in left.vulnerability.ids
    )
    assert index.match("demo-pkg", "4.6.1") == []
    assert index.records == 3
    # As findings: two, each with its own ids and fix, the smallest release clearing both.
    inventory = Inventory(
        environment="prod",
        source=SourceKind.REQUIREMENTS,
        target="requirements.txt",
        python_version="3.12.7",
        packages=(Package(name="demo-pkg", version="4.5"),),
    )
    report = evaluate(inventory, index, {}, load_support(), Policy(), NOW)
    found = sorted(
        (f.advisory_ids[0], f.fixed, f.recommended, "CVE-2021-32674" in f.advisory_ids)
        for f in report.findings
        if f.kind is FindingKind.VULNERABLE
    )
    assert found == [
        ("PYSEC-2021-104", "4.6.1", "4.6.1", True),
        ("PYSEC-2021-88", "4.6", "4.6.1", False),
    ]
    (status,) = report.packages
    assert status.vulnerabilities == 2


def test_records_without_a_cve_fold_into_the_one_cve_they_name_and_no_further() -> None:
    records = [
        parse_record(r)
        for r in (
            _fixed_at("PYSEC-1", "2.0", "CVE-2024-1", "GHSA-a", "GHSA-both"),
            _fixed_at("PYSEC-2", "3.0", "CVE-2024-2", "GHSA-b", "GHSA-both"),
            # Names only GHSA-a, which only CVE-2024-1's record lists: the same advisory.
            _fixed_at("GHSA-a", "2.0", "PYSEC-1"),
            # Names only the GHSA both CVEs list: which one it is cannot be told.
            _fixed_at("PYSEC-3", "1.5", "GHSA-both"),
            # A broad record whose second CVE has no record of its own stands alone.
            _fixed_at("GHSA-c", "1.2", "CVE-2024-1", "CVE-2024-3"),
        )
    ]
    groups = {tuple(sorted(r.id for r in g.records)) for g in group_records(records)}
    assert groups == {("GHSA-a", "PYSEC-1"), ("PYSEC-2",), ("PYSEC-3",), ("GHSA-c",)}
    ids = {m.vulnerability.id for m in AdvisoryIndex(records).match("demo-pkg", "1.0")}
    assert ids == {"PYSEC-1", "PYSEC-2", "PYSEC-3", "GHSA-c"}


def test_pypa_zope_advisories_sharing_a_ghsa_are_two() -> None:
    """Real records: Zope's CVE-2021-32633 (fixed in 4.6) and CVE-2021-32674 (4.6.1)
    both list GHSA-5pr9-v234-jw36; merged, 4.6 was reported under 32633's ids."""
    index = AdvisoryIndex(load_path(pypa_db() / "vulns" / "zope"))
    at_45 = {m.vulnerability.id: m for m in index.match("zope", "4.5")}
    assert at_45["PYSEC-2021-88"].fixed == "4.6"
    assert at_45["PYSEC-2021-104"].fixed == "4.6.1"
    assert "CVE-2021-32633" in at_45["PYSEC-2021-88"].vulnerability.ids
    assert "CVE-2021-32674" not in at_45["PYSEC-2021-88"].vulnerability.ids
    at_46 = [m for m in index.match("zope", "4.6") if "GHSA-5pr9-v234-jw36" in m.vulnerability.ids]
    (only,) = at_46
    assert only.vulnerability.id == "PYSEC-2021-104" and only.fixed == "4.6.1"
    assert "CVE-2021-32633" not in only.vulnerability.ids


def test_no_vulnerability_of_the_pypa_snapshot_holds_two_cves() -> None:
    records = load_path(pypa_db() / "vulns")
    groups = group_records(records)
    merged = [g for g in groups if len(g.records) > 1]
    two = [
        [r.id for r in g.records]
        for g in groups
        if len({n for r in g.records for n in (r.id, *r.aliases) if n.startswith("CVE-")}) > 1
    ]
    assert two == []
    # Every live record (2,651 of 2,661) is in one group. Merging aliases transitively
    # made 2,055 vulnerabilities, three of them holding two CVEs each; now 2,058, and
    # the records that really are one advisory (344 groups) still merge.
    live = [r for r in records if r.withdrawn is None]
    assert sum(len(g.records) for g in groups) == len(live) == 2651
    assert (len(groups), len(merged)) == (2058, 344)


# --------------------------------------------------------------------------- versions as text


def test_versions_list_is_text_whether_or_not_pep440_parses_it() -> None:
    record = parse_record(
        _rec(
            [{"introduced": "0"}, {"fixed": "3.0"}],
            versions=["1.0-beta-x", "2019.1.1-custom", "1.0"],
        )
    )
    index = AdvisoryIndex([record])
    for listed in ("1.0-beta-x", "2019.1.1-custom"):
        (match,) = index.match("demo-pkg", listed)
        # A version the ranges cannot place has no known fix.
        assert match.fixed is None
    assert index.match("demo-pkg", "2019.1.1-other") == []
    # PEP 440 equality also counts where both parse: "1.0.0" is the listed "1.0".
    (equal,) = index.match("demo-pkg", "1.0.0")
    assert equal.fixed == "3.0"
    # Through the policy: a finding with no fix to recommend, not a crash or a miss.
    inventory = Inventory(
        environment="prod",
        source=SourceKind.REQUIREMENTS,
        target="requirements.txt",
        python_version="3.12.7",
        packages=(Package(name="demo-pkg", version="2019.1.1-custom"),),
    )
    report = evaluate(inventory, index, {}, load_support(), Policy(), NOW)
    (finding,) = [f for f in report.findings if f.kind is FindingKind.VULNERABLE]
    assert (finding.installed, finding.fixed, finding.advisory_ids) == (
        "2019.1.1-custom",
        None,
        ("PYSEC-1",),
    )
