"""A verification travels as JSON: `VerifySpec` in, `VerifyOutcome` out, both versioned."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

from checks.frameworks.verdict import (
    Agreement,
    Comparison,
    MetricGain,
    Timing,
    Verdict,
)
from checks.interface import TaskKind
from checks.performance.metrics import Metric
from retrain.interface import DataRef, RetrainError, VersionError

VERIFY_SPEC_VERSION = 1
# 2: `logged_versions` (the champion's pins of the upgraded packages); 1 reads as before.
VERIFY_OUTCOME_VERSION = 2


class VerifyError(RetrainError):
    """A verification could not run at all (no champion, unreadable data)."""


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """Rows to replay: the features and, where known, the label (canonical text or float)."""

    name: str
    data: DataRef


@dataclass(frozen=True, kw_only=True)
class VerifySpec:
    verification_id: str
    model: str
    registered_model: str
    alias: str
    tracking_uri: str
    task: TaskKind
    features: tuple[str, ...]
    # The label column of every dataset ("label"): missing where rows are unlabelled.
    label: str
    # "name==version" each; empty: the champion's own requirements (a re-build check).
    upgrades: tuple[str, ...]
    # The package index's base URL ([frameworks] index_url); pip reads {index_url}/simple/.
    index_url: str
    datasets: tuple[Dataset, ...]
    # Where candidate environments are cached, by the hash of what they hold.
    env_root: str
    deadline: datetime
    metric: Metric | None = None
    positive: str | None = None
    # Single-row calls timed for the latency percentiles.
    latency_rows: int = 200
    python_path: tuple[str, ...] = ()
    version: int = VERIFY_SPEC_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        data["deadline"] = self.deadline.isoformat()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VerifySpec:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise VerifyError(f"a verify spec is a JSON object, got {type(data).__name__}")
        version = data.get("version")
        if not isinstance(version, int) or version > VERIFY_SPEC_VERSION:
            raise VersionError("verify spec", version, VERIFY_SPEC_VERSION)
        metric = data.pop("metric", None)
        return cls(
            **{
                **data,
                "task": TaskKind(data["task"]),
                "metric": None if metric is None else Metric(metric),
                "features": tuple(data["features"]),
                "upgrades": tuple(data["upgrades"]),
                "python_path": tuple(data.get("python_path", ())),
                "datasets": tuple(
                    Dataset(name=d["name"], data=DataRef(**d["data"])) for d in data["datasets"]
                ),
                "deadline": datetime.fromisoformat(data["deadline"]),
            }
        )


def comparison_to_json(c: Comparison) -> dict[str, object]:
    data = asdict(c)
    data["verdict"] = c.verdict.value
    if c.metric is not None:
        data["metric"] = {**asdict(c.metric), "metric": c.metric.metric.value}
    return data


def comparison_from_json(data: dict[str, object]) -> Comparison:
    """The one reader of a stored or returned comparison."""
    metric = data.get("metric")
    current, candidate = data.get("current"), data.get("candidate")
    agreements = data.get("agreements") or []
    assert isinstance(agreements, list)
    return Comparison(
        verdict=Verdict(str(data["verdict"])),
        agreements=tuple(Agreement(**a) for a in agreements),
        metric=(
            None
            if not isinstance(metric, dict)
            else MetricGain(**{**metric, "metric": Metric(metric["metric"])})
        ),
        current=Timing(**current) if isinstance(current, dict) else None,
        candidate=Timing(**candidate) if isinstance(candidate, dict) else None,
        tolerance=float(data.get("tolerance", 1e-6)),  # type: ignore[arg-type]
        error=None if data.get("error") is None else str(data["error"]),
    )


@dataclass(frozen=True, kw_only=True)
class VerifyOutcome:
    verification_id: str
    verdict: Verdict
    comparison: Comparison
    # The champion's registered version that was replayed (None: it could not be resolved).
    model_version: str | None = None
    # "name old -> new" for each requirement the candidate changes against the current env.
    changes: tuple[str, ...] = ()
    # What pip installed into the candidate environment (requirement lines).
    installed: tuple[str, ...] = ()
    env_key: str = ""
    env_reused: bool = False
    # Versions of the upgraded packages as each environment imports them.
    current_versions: dict[str, str] = field(default_factory=dict)
    candidate_versions: dict[str, str] = field(default_factory=dict)
    # What was replayed, and what was missing ("no holdout logged with version 3").
    notes: tuple[str, ...] = ()
    # The version the champion's logged requirements pin for each upgraded package:
    # what the upgrade moves from (absent where they pin none).
    logged_versions: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    version: int = VERIFY_OUTCOME_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        data["comparison"] = comparison_to_json(self.comparison)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VerifyOutcome:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise VerifyError(f"a verify outcome is a JSON object, got {type(data).__name__}")
        version = data.get("version")
        if not isinstance(version, int) or version > VERIFY_OUTCOME_VERSION:
            raise VersionError("verify outcome", version, VERIFY_OUTCOME_VERSION)
        return cls(
            **{
                **data,
                "verdict": Verdict(data["verdict"]),
                "comparison": comparison_from_json(data["comparison"]),
                "changes": tuple(data["changes"]),
                "installed": tuple(data["installed"]),
                "notes": tuple(data["notes"]),
            }
        )
