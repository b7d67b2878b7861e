"""The cadence policy: which rule fires for a framework, and when neither does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checks.frameworks.inventory import Inventory, Package, SourceKind
from checks.frameworks.matching import AdvisoryIndex
from checks.frameworks.policy import (
    FRAMEWORKS,
    FindingKind,
    Policy,
    Rule,
    cadence_rules,
    evaluate,
)
from checks.frameworks.releases import Release, ReleaseInfo
from checks.frameworks.support import load_support
from daemon.config import parse_config
from daemon.frameworks.specs import policy_from

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _info(name: str, versions: dict[str, str]) -> ReleaseInfo:
    return ReleaseInfo(
        package=name,
        releases=tuple(
            Release(version=v, uploaded=datetime.fromisoformat(t).replace(tzinfo=UTC), yanked=False)
            for v, t in versions.items()
        ),
    )


FW = _info(
    "xgboost",
    {"1.7.0": "2022-11-01", "2.0.0": "2023-09-12", "2.1.0": "2024-06-20", "3.0.0": "2025-03-15"},
)


def test_security_cadence_fires_only_when_a_newer_release_exists() -> None:
    from packaging.version import Version

    (rule,) = cadence_rules(Version("2.1.0"), FW, Policy(), NOW)
    assert rule == (
        Rule.SECURITY_CADENCE,
        "security cadence: released 2024-06-20, 2.5 years old > 12 months",
    )
    # The newest release, however old, has nothing to move to.
    assert cadence_rules(Version("3.0.0"), FW, Policy(), NOW) == []
    # A longer cadence lets it pass.
    assert cadence_rules(Version("2.1.0"), FW, Policy(security_cadence_months=36), NOW) == []


def test_major_cadence_counts_from_the_first_release_of_a_newer_major() -> None:
    from packaging.version import Version

    rules = cadence_rules(Version("1.7.0"), FW, Policy(), NOW)
    assert rules == [
        (Rule.SECURITY_CADENCE, "security cadence: released 2022-11-01, 4.1 years old > 12 months"),
        (
            Rule.MAJOR_CADENCE,
            "major cadence: 2.x out since 2023-09-12 (2.0.0), 3.2 years ago > 3 years",
        ),
    ]
    # Under a 4-year major cadence only the security rule is left.
    assert len(cadence_rules(Version("1.7.0"), FW, Policy(major_cadence_years=4), NOW)) == 1
    # Seven months after its release, before any newer major: neither rule.
    assert cadence_rules(Version("2.1.0"), FW, Policy(), datetime(2025, 1, 20, tzinfo=UTC)) == []


@pytest.mark.parametrize("name", sorted(FRAMEWORKS))
def test_every_framework_gets_the_cadence(name: str) -> None:
    inventory = Inventory(
        environment="prod",
        source=SourceKind.REQUIREMENTS,
        target="requirements.txt",
        python_version="3.11.9",
        packages=(Package(name=name, version="1.7.0", spec=None),),
    )
    info = ReleaseInfo(package=name, releases=FW.releases)
    report = evaluate(inventory, AdvisoryIndex([]), {name: info}, load_support(), Policy(), NOW)
    kinds = [f.kind for f in report.findings if f.package == name]
    assert FindingKind.OUTDATED in kinds and FindingKind.STALE not in kinds
    outdated = [f for f in report.findings if f.kind is FindingKind.OUTDATED]
    assert [f.detail.split(":")[0] for f in outdated] == ["security cadence", "major cadence"]
    assert [f.rule for f in outdated] == [Rule.SECURITY_CADENCE, Rule.MAJOR_CADENCE]
    assert all(f.actionable and f.severity == "warning" for f in outdated)


def test_the_config_adds_frameworks_and_sets_the_cadences() -> None:
    settings = parse_config(
        {
            "frameworks": {
                "cadence_packages": ["CatBoost"],
                "security_cadence_months": 6,
                "major_cadence_years": 2,
            }
        }
    )
    policy = policy_from(settings.frameworks)
    assert "catboost" in policy.frameworks and policy.frameworks >= FRAMEWORKS
    assert policy.security_cadence_months == 6 and policy.major_cadence_years == 2
    defaults = policy_from(parse_config({}).frameworks)
    assert defaults.security_cadence_months == 12 and defaults.major_cadence_years == 3
    assert defaults.frameworks == FRAMEWORKS
    # A package outside the list keeps the plain "stale" rule.
    inventory = Inventory(
        environment="prod",
        source=SourceKind.REQUIREMENTS,
        target="requirements.txt",
        python_version="3.11.9",
        packages=(Package(name="pillow", version="1.7.0", spec=None),),
    )
    info = ReleaseInfo(package="pillow", releases=FW.releases)
    report = evaluate(inventory, AdvisoryIndex([]), {"pillow": info}, load_support(), defaults, NOW)
    assert {f.kind for f in report.findings} == {FindingKind.MAJOR_BEHIND, FindingKind.STALE}
