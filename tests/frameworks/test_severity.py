"""Advisory severity: CVSS base scores (2, 3.x, 4.0), the database's word, or "unknown"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checks.frameworks.advisories import load_path, parse_record
from checks.frameworks.inventory import Inventory, Package, SourceKind
from checks.frameworks.matching import AdvisoryIndex, rating_of
from checks.frameworks.output import render_table, to_cyclonedx, to_json
from checks.frameworks.policy import FindingKind, Policy, evaluate
from checks.frameworks.severity import (
    SEVERITY_ORDER,
    AdvisorySeverity,
    CvssVersion,
    base_score,
    rate,
)
from checks.frameworks.support import load_support
from daemon.frameworks.cli import render_reports
from tests.frameworks.conftest import osv_record, pypa_db

NOW = datetime(2026, 11, 25, tzinfo=UTC)

# Real CVSS 4.0 vectors with the base scores their CNA published. The PyPA snapshot
# (2024-10-10) holds no CVSS_V4 entry yet (`grep -rl CVSS_V4` finds none), so the
# vectors are written here.
# CVE-2025-32434, torch.load(weights_only=True) RCE, GHSA-53q9-r3pm-6pq6: 9.3 critical.
TORCH_RCE_V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
# CVE-2025-3730, torch.nn.functional.ctc_loss denial of service (VulDB): 4.8 medium.
TORCH_CTC_V4 = "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"


@pytest.mark.parametrize(
    ("vector", "score", "severity"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "critical"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, "high"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, "medium"),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 2.8, "low"),
        ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9, "critical"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, "none"),
    ],
)
def test_cvss3_base_scores(vector: str, score: float, severity: str) -> None:
    scored = base_score("CVSS_V3", vector)
    assert scored is not None
    assert (scored.version, scored.score, scored.severity) == (CvssVersion.V3, score, severity)


def test_cvss3_vectors_of_the_pypa_snapshot_score_as_published() -> None:
    """MLflow's records carry CVSS 3.1 vectors; NVD lists these base scores for them."""
    published = {
        "PYSEC-2023-252": ("CVE-2023-6909", 7.5, "high"),
        "PYSEC-2023-253": ("CVE-2023-6831", 8.1, "high"),
        "PYSEC-2023-260": ("CVE-2023-6568", 6.1, "medium"),
    }
    records = {r.id: r for r in load_path(pypa_db() / "vulns" / "mlflow")}
    for ident, (cve, score, severity) in published.items():
        record = records[ident]
        assert cve in record.aliases
        rating = rating_of([record])
        assert (rating.score, rating.severity) == (score, severity), ident
        assert rating.vector == record.severity[0][1]


def test_cvss4_vectors_score_as_published() -> None:
    rce = base_score("CVSS_V4", TORCH_RCE_V4)
    ctc = base_score("CVSS_V4", TORCH_CTC_V4)
    assert rce is not None and (rce.score, rce.severity) == (9.3, "critical")
    assert ctc is not None and (ctc.score, ctc.severity) == (4.8, "medium")
    # Threat metrics (E:U, unreported exploit) lower the CVSS-BT score, not the base.
    threat = base_score("CVSS_V4", TORCH_RCE_V4 + "/E:U")
    assert threat is not None and threat.score == 9.3
    assert threat.vector == TORCH_RCE_V4 + "/E:U"


def test_cvss2_and_vectors_that_do_not_score() -> None:
    v2 = base_score("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P")
    assert v2 is not None and (v2.score, v2.severity) == (7.5, "high")
    assert base_score("CVSS_V4", "CVSS:4.0/AV:N/AC:L") is None
    assert base_score("CVSS_V3", TORCH_RCE_V4) is None
    assert base_score("Ubuntu", "high") is None


def test_the_newest_cvss_version_of_an_advisory_wins() -> None:
    """A GHSA record often carries 3.1 and 4.0 of one assessment: 4.0 is shown."""
    v3 = ("CVSS_V3", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:L")
    rating = rate([v3, ("CVSS_V4", TORCH_CTC_V4)])
    assert (rating.score, rating.severity, rating.vector) == (4.8, "medium", TORCH_CTC_V4)
    # Within one version, the highest score of the advisory's records.
    both = rate([("CVSS_V4", TORCH_CTC_V4), ("CVSS_V4", TORCH_RCE_V4)])
    assert (both.score, both.severity) == (9.3, "critical")


def _ghsa(**extra: object) -> dict[str, object]:
    return osv_record("GHSA-xxxx-yyyy-zzzz", "demo-pkg", "0", "2.0", **extra)


def test_database_word_when_no_vector_scores() -> None:
    moderate = rating_of([parse_record(_ghsa(database_specific={"severity": "MODERATE"}))])
    assert (moderate.score, moderate.severity, moderate.vector) == (None, "medium", None)
    record = _ghsa()
    record["affected"][0]["database_specific"] = {"severity": "HIGH"}  # type: ignore[index]
    assert rating_of([parse_record(record)]).severity == "high"
    # An unscorable vector does not hide the word; a word we do not know is not a rating.
    broken = [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}]
    low = _ghsa(severity=broken, database_specific={"severity": "LOW"})
    assert rating_of([parse_record(low)]).severity == "low"
    odd = _ghsa(database_specific={"severity": "IMPORTANT"})
    assert rating_of([parse_record(odd)]).severity == "unknown"


def test_unknown_is_printed_plainly_and_findings_sort_by_severity() -> None:
    records = [
        osv_record("PYSEC-LOW", "pkg", "0", "2.0", database_specific={"severity": "LOW"}),
        osv_record("PYSEC-NONE", "pkg", "0", "2.0"),
        osv_record(
            "PYSEC-V4", "pkg", "0", "2.0", severity=[{"type": "CVSS_V4", "score": TORCH_RCE_V4}]
        ),
        osv_record("PYSEC-MOD", "pkg", "0", "2.0", database_specific={"severity": "MODERATE"}),
    ]
    index = AdvisoryIndex([parse_record(r) for r in records])
    inventory = Inventory(
        environment="prod",
        source=SourceKind.REQUIREMENTS,
        target="requirements.txt",
        python_version="3.12.7",
        packages=(Package(name="pkg", version="1.0"),),
    )
    report = evaluate(inventory, index, {}, load_support(), Policy(), NOW)
    vulnerable = [f for f in report.findings if f.kind is FindingKind.VULNERABLE]
    assert [(f.advisory_ids[0], f.severity, f.score) for f in vulnerable] == [
        ("PYSEC-V4", "critical", 9.3),
        ("PYSEC-MOD", "medium", None),
        ("PYSEC-NONE", "unknown", None),
        ("PYSEC-LOW", "low", None),
    ]
    ids = ("PYSEC-V4", "PYSEC-MOD", "PYSEC-NONE", "PYSEC-LOW")
    for table in (render_table([report]), render_reports([report], width=200)):
        rows = [line for line in table.splitlines() if "PYSEC-" in line]
        # One row per advisory, most severe first.
        assert [next(i for i in ids if i in row) for row in rows] == list(ids)
        by_id = dict(zip(ids, rows, strict=True))
        assert "unknown" in by_id["PYSEC-NONE"].split() and "0.0" not in by_id["PYSEC-NONE"]
        assert "critical 9.3" in by_id["PYSEC-V4"] and "medium" in by_id["PYSEC-MOD"].split()
    (data,) = to_json([report])["environments"]  # type: ignore[misc]
    unknown = next(f for f in data["findings"] if f["advisory_ids"] == ["PYSEC-NONE"])
    assert (unknown["severity"], unknown["score"], unknown["vector"]) == ("unknown", None, None)
    ratings = {v["id"]: v["ratings"] for v in to_cyclonedx([report], "0.1.0")["vulnerabilities"]}  # type: ignore[union-attr]
    assert ratings["PYSEC-NONE"] == [{"severity": "unknown"}]
    assert ratings["PYSEC-V4"] == [
        {"severity": "critical", "score": 9.3, "method": "CVSSv4", "vector": TORCH_RCE_V4}
    ]


def test_every_severity_has_a_place_in_the_order() -> None:
    assert sorted(SEVERITY_ORDER) == sorted(AdvisorySeverity)
