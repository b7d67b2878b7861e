"""Findings, upgrade targets, ignores, support windows and the outputs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from checks.frameworks.advisories import parse_record
from checks.frameworks.inventory import Inventory, Package, SourceKind
from checks.frameworks.matching import AdvisoryIndex
from checks.frameworks.output import render_table, to_cyclonedx, to_json
from checks.frameworks.policy import (
    EnvironmentReport,
    FindingKind,
    IgnoreRule,
    PackageFinding,
    Policy,
    Rule,
    evaluate,
)
from checks.frameworks.releases import Release, ReleaseInfo
from checks.frameworks.support import cuda_of, load_support
from tests.frameworks.conftest import osv_record

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _releases(name: str, versions: dict[str, str], yanked: tuple[str, ...] = ()) -> ReleaseInfo:
    return ReleaseInfo(
        package=name,
        releases=tuple(
            Release(
                version=v,
                uploaded=datetime.fromisoformat(t).replace(tzinfo=UTC),
                yanked=v in yanked,
            )
            for v, t in versions.items()
        ),
    )


def _inventory(*packages: tuple[str, str | None], python: str = "3.11.9") -> Inventory:
    return Inventory(
        environment="prod",
        source=SourceKind.REQUIREMENTS,
        target="requirements.txt",
        python_version=python,
        packages=tuple(
            Package(name=n, version=v, spec=None if v else f"{n}>=1") for n, v in packages
        ),
    )


INDEX = AdvisoryIndex(
    [
        parse_record(
            osv_record(
                "PYSEC-1",
                "pillow",
                "0",
                "9.0.1",
                severity=[
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
                ],
            )
        ),
        parse_record(osv_record("GHSA-2", "pillow", "9.0.1", "9.1.0")),
    ]
)
PILLOW = _releases(
    "pillow",
    {"8.4.0": "2021-10-15", "9.0.1": "2022-02-03", "9.1.0": "2022-04-01", "10.0.0": "2023-07-01"},
)


def test_vulnerable_recommends_smallest_release_clearing_all() -> None:
    report = evaluate(
        _inventory(("pillow", "8.4.0")), INDEX, {"pillow": PILLOW}, load_support(), Policy(), NOW
    )
    kinds = {f.kind for f in report.findings}
    assert {FindingKind.VULNERABLE, FindingKind.MAJOR_BEHIND, FindingKind.STALE} <= kinds
    vuln = next(f for f in report.findings if f.kind is FindingKind.VULNERABLE)
    # 9.0.1 fixes PYSEC-1 but is inside GHSA-2: 9.1.0 clears both.
    assert (vuln.advisory_ids, vuln.severity, vuln.score, vuln.fixed) == (
        ("PYSEC-1",),
        "critical",
        9.8,
        "9.0.1",
    )
    assert vuln.recommended == "9.1.0"
    (status,) = report.packages
    assert status.latest == "10.0.0" and status.libyears == 1.71
    assert report.libyears == 1.71


def test_offline_target_from_fixed_versions_and_ignores_with_expiry() -> None:
    report = evaluate(_inventory(("pillow", "9.0.0")), INDEX, {}, load_support(), Policy(), NOW)
    vuln = next(f for f in report.findings if f.kind is FindingKind.VULNERABLE)
    assert vuln.recommended == "9.1.0"
    policy = Policy(
        ignores=(
            IgnoreRule(id="PYSEC-1", reason="not reachable", until=date(2027, 1, 1)),
            IgnoreRule(id="GHSA-2", reason="expired", until=date(2026, 1, 1)),
        )
    )
    report = evaluate(_inventory(("pillow", "9.0.0")), INDEX, {}, load_support(), policy, NOW)
    ignored = next(f for f in report.findings if f.kind is FindingKind.VULNERABLE)
    assert ignored.ignored_reason == "not reachable (until 2027-01-01)" and not ignored.actionable
    assert not report.actionable


def test_yanked_minor_behind_unpinned_and_clean() -> None:
    numpy = _releases("numpy", {"1.25.0": "2026-06-01", "1.26.0": "2026-09-01"}, yanked=("1.25.0",))
    report = evaluate(
        _inventory(("numpy", "1.25.0"), ("requests", None)),
        INDEX,
        {"numpy": numpy},
        load_support(),
        Policy(),
        NOW,
    )
    kinds = sorted(f.kind.value for f in report.findings)
    assert kinds == ["minor_behind", "unpinned", "yanked"]
    clean = evaluate(
        _inventory(("numpy", "1.26.0")), INDEX, {"numpy": numpy}, load_support(), Policy(), NOW
    )
    assert clean.findings == () and clean.packages[0].libyears == 0.0


def test_python_eol_and_torch_cuda_matrix() -> None:
    support = load_support()
    assert support.as_of == date(2025, 10, 15) and "devguide.python.org" in support.describe()
    assert cuda_of("cu118") == "11.8" and cuda_of("cu130") == "13.0" and cuda_of("cpu") is None
    report = evaluate(
        _inventory(("torch", "2.8.0+cu118"), python="3.9.18"), INDEX, {}, support, Policy(), NOW
    )
    kinds = {f.kind for f in report.findings}
    assert {FindingKind.PYTHON_EOL, FindingKind.TORCH_CUDA, FindingKind.TORCH_PYTHON} - kinds == {
        FindingKind.TORCH_PYTHON
    }  # torch 2.8 supports 3.9: only the CUDA build and Python's EOL are findings
    report = evaluate(
        _inventory(("torch", "2.1.0"), python="3.12.1"), INDEX, {}, support, Policy(), NOW
    )
    assert FindingKind.TORCH_PYTHON in {f.kind for f in report.findings}


def pillow_report() -> EnvironmentReport:
    """An old pillow with advisories, scanned while the package index answered 500."""
    return evaluate(
        _inventory(("pillow", "8.4.0")),
        INDEX,
        {"pillow": PILLOW},
        load_support(),
        Policy(),
        NOW,
        unavailable=["package index http://x unavailable: HTTP 500"],
    )


def test_outputs() -> None:
    report = pillow_report()
    bom = to_cyclonedx([report], "0.1.0")
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.5"
    (component,) = bom["components"]  # type: ignore[misc]
    assert component["purl"] == "pkg:pypi/pillow@8.4.0"
    (vuln,) = bom["vulnerabilities"]  # type: ignore[misc]
    assert vuln["id"] == "PYSEC-1" and vuln["affects"] == [{"ref": "pkg:pypi/pillow@8.4.0"}]
    assert vuln["ratings"] == [
        {
            "severity": "critical",
            "score": 9.8,
            "method": "CVSSv31",
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        }
    ]
    data = to_json([report])
    findings = data["environments"][0]["findings"]  # type: ignore[index]
    assert {f["kind"] for f in findings} >= {"vulnerable", "source_unavailable"}
    table = render_table([report])
    assert "PYSEC-1" in table and "source_unavailable" in table and "support data as of" in table


@pytest.mark.parametrize("kind", list(FindingKind), ids=str)
def test_every_finding_kind_names_its_rule(kind: FindingKind) -> None:
    finding = PackageFinding(
        environment="e", package="p", installed="1", kind=kind, severity="info", detail=""
    )
    if kind is FindingKind.OUTDATED:
        # An outdated framework breaks a cadence, said on the finding.
        with pytest.raises(ValueError, match="names no cadence"):
            _ = finding.rule
        finding = dataclasses.replace(finding, cadence=Rule.MAJOR_CADENCE)
        assert finding.rule is Rule.MAJOR_CADENCE
    assert isinstance(finding.rule, Rule)
