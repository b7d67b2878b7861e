"""Is an upgrade safe for this model? Two replays of the champion compared, and the verdict.

`frameworks verify` scores the same rows twice: in the current environment and
in a candidate one with the upgrade applied. Everything here is pure: arrays
and figures in, frozen results out.

- Agreement per dataset: the largest absolute difference of the numeric
  outputs (probabilities, values) and the share of rows whose label changed
  (classification: the label, or the probability's side of 0.5; regression:
  a value that moved by more than the tolerance).
- The metric on labelled rows, both sides, with a paired bootstrap interval
  of the candidate's gain (the same resampled rows for both sides, so the
  interval is about the upgrade, not about the sample).
- Latency (p50, p95 of single-row calls) and peak memory (the replaying
  process's ru_maxrss) of each side.

Verdict: `safe` when every output agrees within the tolerance (1e-6), no
label changed and the metric's gain interval is not wholly below zero;
`changes predictions` otherwise; `fails to install` / `fails to load` when
the candidate environment could not be built or could not load the model.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from checks.frameworks.matching import AdvisoryIndex, parse_version
from checks.frameworks.releases import ReleaseInfo
from checks.interface import TaskKind
from checks.performance.metrics import LOWER_IS_BETTER, Metric, metric_values

# Outputs closer than this are "identical": float noise of a rebuilt BLAS or a
# reordered sum stays below it, a changed model does not.
TOLERANCE = 1e-6
# Below this many labelled rows no metric interval is computed.
MIN_LABELLED = 20


class Verdict(enum.StrEnum):
    SAFE = "safe"
    CHANGES_PREDICTIONS = "changes predictions"
    FAILS_TO_INSTALL = "fails to install"
    FAILS_TO_LOAD = "fails to load"

    @property
    def failed(self) -> bool:
        return self in (Verdict.FAILS_TO_INSTALL, Verdict.FAILS_TO_LOAD)


@dataclass(frozen=True, kw_only=True)
class Agreement:
    """How one dataset's outputs compare between the current and the candidate environment."""

    dataset: str
    rows: int
    # None when the outputs are labels (nothing to subtract).
    max_abs_diff: float | None
    # Rows whose label changed (classification) or whose value moved beyond the tolerance.
    changed: int

    @property
    def changed_share(self) -> float:
        return self.changed / self.rows if self.rows else 0.0

    def identical(self, tolerance: float = TOLERANCE) -> bool:
        close = self.max_abs_diff is None or self.max_abs_diff <= tolerance
        return close and self.changed == 0


@dataclass(frozen=True, kw_only=True)
class MetricGain:
    """The model's metric on both sides and the bootstrap interval of the candidate's gain.

    The gain is signed so that positive is better (for a loss, current minus candidate).
    """

    metric: Metric
    dataset: str
    rows: int
    current: float
    candidate: float
    low: float
    high: float
    confidence: float

    @property
    def gain(self) -> float:
        if self.metric in LOWER_IS_BETTER:
            return self.current - self.candidate
        return self.candidate - self.current

    @property
    def worse(self) -> bool:
        """The whole interval lies below zero: the candidate scores worse, beyond chance."""
        return self.high < 0.0


@dataclass(frozen=True, kw_only=True)
class Timing:
    """One environment's replay: single-row latency and the process's peak memory."""

    p50_ms: float
    p95_ms: float
    peak_rss_mb: float


@dataclass(frozen=True, kw_only=True)
class Comparison:
    verdict: Verdict
    agreements: tuple[Agreement, ...] = ()
    metric: MetricGain | None = None
    current: Timing | None = None
    candidate: Timing | None = None
    tolerance: float = TOLERANCE
    # The tail of pip's or the loader's output when the candidate failed.
    error: str | None = None

    @property
    def max_abs_diff(self) -> float | None:
        diffs = [a.max_abs_diff for a in self.agreements if a.max_abs_diff is not None]
        return max(diffs) if diffs else None

    @property
    def changed_share(self) -> float:
        rows = sum(a.rows for a in self.agreements)
        return sum(a.changed for a in self.agreements) / rows if rows else 0.0

    @property
    def rows(self) -> int:
        return sum(a.rows for a in self.agreements)

    @property
    def p95_change(self) -> float | None:
        """The candidate's p95 latency relative to the current one (-0.08 is 8% faster)."""
        if self.current is None or self.candidate is None or self.current.p95_ms <= 0:
            return None
        return self.candidate.p95_ms / self.current.p95_ms - 1.0


def _labels_of(values: npt.NDArray[np.generic], numeric: bool) -> npt.NDArray[np.generic]:
    """Hard labels: a probability's side of 0.5, or the labels as given."""
    if numeric:
        return (values.astype(np.float64) >= 0.5).astype(np.int8)
    return values.astype(str)


def agreement(
    dataset: str,
    current: npt.NDArray[np.generic],
    candidate: npt.NDArray[np.generic],
    task: TaskKind,
    *,
    numeric: bool,
    tolerance: float = TOLERANCE,
) -> Agreement:
    """Compare one dataset's outputs. `numeric`: probabilities or values, not labels."""
    if current.shape != candidate.shape:
        raise ValueError(
            f"{dataset}: the two environments returned {current.shape} and {candidate.shape} "
            "outputs for the same rows"
        )
    rows = len(current)
    if not numeric:
        changed = int((current.astype(str) != candidate.astype(str)).sum())
        return Agreement(dataset=dataset, rows=rows, max_abs_diff=None, changed=changed)
    a, b = current.astype(np.float64), candidate.astype(np.float64)
    diff = np.abs(a - b)
    # Both missing is agreement; one missing is the largest disagreement there is.
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
    max_diff = float(diff.max()) if rows else 0.0
    if task is TaskKind.REGRESSION:
        changed = int((diff > tolerance).sum())
    else:
        changed = int((_labels_of(a, True) != _labels_of(b, True)).sum())
    return Agreement(dataset=dataset, rows=rows, max_abs_diff=max_diff, changed=changed)


def metric_gain(
    task: TaskKind,
    metric: Metric,
    dataset: str,
    truth: npt.NDArray[np.generic],
    current: npt.NDArray[np.generic],
    candidate: npt.NDArray[np.generic],
    *,
    numeric: bool,
    positive: str | None = None,
    replicates: int = 400,
    confidence: float = 0.95,
    seed: int = 0,
) -> MetricGain | None:
    """The metric on both sides with a paired Poisson-bootstrap interval of the gain.

    `truth` holds canonical text labels (classification) or numbers
    (regression); missing labels are dropped. None when too few rows are
    labelled or the metric needs scores the outputs are not.
    """
    if task is TaskKind.REGRESSION:
        y = truth.astype(np.float64)
        keep = ~np.isnan(y)
    else:
        text = np.asarray([None if v is None else str(v) for v in truth], dtype=object)
        keep = np.asarray([v is not None and v != "nan" for v in text], dtype=bool)
    if int(keep.sum()) < MIN_LABELLED:
        return None

    def arrays(
        out: npt.NDArray[np.generic],
    ) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.generic], npt.NDArray[np.float64] | None]:
        if task is TaskKind.REGRESSION:
            return y[keep], out[keep].astype(np.float64), None
        labels = text[keep].astype(str)
        if task is TaskKind.MULTICLASS:
            return labels, out[keep].astype(str), None
        label01 = (labels == str(positive)).astype(np.float64)
        if numeric:
            score = out[keep].astype(np.float64)
            return label01, (score >= 0.5).astype(np.float64), score
        return label01, (out[keep].astype(str) == str(positive)).astype(np.float64), None

    label_a, pred_a, score_a = arrays(current)
    label_b, pred_b, score_b = arrays(candidate)
    if metric in (Metric.ROC_AUC, Metric.LOG_LOSS) and (score_a is None or score_b is None):
        return None
    n = len(label_a)
    rng = np.random.default_rng(seed)
    # Row 0: weights of one (the metric itself); the rest: Poisson(1) replicates,
    # the same rows for both sides.
    weights = np.vstack([np.ones((1, n)), rng.poisson(1.0, size=(replicates, n))]).astype(
        np.float64
    )
    a = metric_values(task, (metric,), label_a, pred_a, score_a, weights)[metric]
    b = metric_values(task, (metric,), label_b, pred_b, score_b, weights)[metric]
    gains = (a - b) if metric in LOWER_IS_BETTER else (b - a)
    finite = gains[1:][np.isfinite(gains[1:])]
    if not math.isfinite(float(a[0])) or not math.isfinite(float(b[0])) or not len(finite):
        return None
    tail = (1.0 - confidence) / 2.0
    return MetricGain(
        metric=metric,
        dataset=dataset,
        rows=n,
        current=float(a[0]),
        candidate=float(b[0]),
        low=float(np.quantile(finite, tail)),
        high=float(np.quantile(finite, 1.0 - tail)),
        confidence=confidence,
    )


def timing(latencies_s: Sequence[float], peak_rss_kb: float) -> Timing:
    """Latency percentiles of single-row calls; ru_maxrss is in KiB on Linux."""
    values = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    p50, p95 = np.quantile(values, [0.5, 0.95]) if len(values) else (math.nan, math.nan)
    return Timing(p50_ms=float(p50), p95_ms=float(p95), peak_rss_mb=peak_rss_kb / 1024.0)


def decide(
    agreements: Sequence[Agreement],
    metric: MetricGain | None,
    *,
    current: Timing | None = None,
    candidate: Timing | None = None,
    tolerance: float = TOLERANCE,
) -> Comparison:
    """`safe` or `changes predictions`, from replays that both ran."""
    same = bool(agreements) and all(a.identical(tolerance) for a in agreements)
    if metric is not None and metric.worse:
        same = False
    return Comparison(
        verdict=Verdict.SAFE if same else Verdict.CHANGES_PREDICTIONS,
        agreements=tuple(agreements),
        metric=metric,
        current=current,
        candidate=candidate,
        tolerance=tolerance,
    )


def failed(verdict: Verdict, error: str) -> Comparison:
    if not verdict.failed:
        raise ValueError(f"{verdict.value!r} is not a failure")
    return Comparison(verdict=verdict, error=error)


def _percent(change: float) -> str:
    # A real minus sign: "p95 −8%".
    sign = "−" if change < 0 else "+"
    return f"{sign}{abs(change) * 100:.0f}%"


def describe(comparison: Comparison) -> str:
    """What the verdict means, in one clause list: "predictions identical to 1e-6; p95 −8%"."""
    c = comparison
    match c.verdict:
        case Verdict.FAILS_TO_INSTALL | Verdict.FAILS_TO_LOAD:
            last = (c.error or "").strip().splitlines()[-1:] or ["no output"]
            return f"{c.verdict.value}: {last[0][:200]}"
        case Verdict.SAFE:
            parts = [f"predictions identical to {c.tolerance:g}"]
        case Verdict.CHANGES_PREDICTIONS:
            diff = c.max_abs_diff
            parts = [
                "changes predictions"
                + ("" if diff is None else f": max difference {diff:.3g}")
                + f", {c.changed_share:.1%} of {c.rows} labels changed"
            ]
    if c.metric is not None:
        m = c.metric
        parts.append(
            f"{m.metric.value} on the {m.dataset} {m.current:.4f} → {m.candidate:.4f} "
            f"(gain {m.gain:+.4f}, {m.confidence:.0%} interval {m.low:+.4f} to {m.high:+.4f})"
        )
    change = c.p95_change
    if change is not None:
        parts.append(f"p95 {_percent(change)}")
    return "; ".join(parts)


def is_downgrade(installed: str, target: str) -> bool:
    """The target is below the version moved from (both readable as versions)."""
    before, after = parse_version(installed), parse_version(target)
    return before is not None and after is not None and after < before


def change_text(package: str, installed: str, target: str) -> str:
    """ "torch 1.13.0 → 2.6.0"; a target below the pinned version is labelled a downgrade."""
    down = " (downgrade)" if is_downgrade(installed, target) else ""
    return f"{package} {installed or '?'} → {target}{down}"


def headline(
    package: str, installed: str, target: str, cleared: Sequence[str], c: Comparison
) -> str:
    """The alert and report line: "torch 1.13.0 → 2.6.0 clears CVE-…; predictions identical…"."""
    clears = f" clears {', '.join(cleared)}" if cleared else ""
    return f"{change_text(package, installed, target)}{clears}; {describe(c)}"


def smallest_safe(candidates: Sequence[str], verdicts: Mapping[str, Verdict]) -> str | None:
    """The first of `candidates` (smallest first, each clearing the advisories) verified safe."""
    return next((c for c in candidates if verdicts.get(c) is Verdict.SAFE), None)


def clearing_candidates(
    package: str,
    installed: str,
    index: AdvisoryIndex,
    info: ReleaseInfo | None,
    ignored_ids: frozenset[str] = frozenset(),
) -> list[str]:
    """Releases above `installed` that no live advisory affects, smallest first.

    The releases the index (or the release cache) lists; without them, the
    advisories' own fixed versions. The first is the scan's recommended target
    (`policy.recommend(smallest=True)`); verify walks on from it while a
    candidate changes predictions.
    """
    floor = parse_version(installed)
    if floor is None:
        return []
    if info is not None:
        versions = [str(v) for v, _ in info.stable() if v > floor]
    else:
        versions = [v for v in index.fix_candidates(package) if (parse_version(v) or floor) > floor]

    def clears(version: str) -> bool:
        return all(set(m.vulnerability.ids) & ignored_ids for m in index.match(package, version))

    return [v for v in versions if clears(v)]
