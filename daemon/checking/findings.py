"""A check's results as alert findings, in words a person reads once.

One finding per judged subject (a measure with a threshold and an OK or ALERT
status): firing when the measure alerts, not firing when it is fine, so a firing
alert resolves. Each value is said once, with the word that tells where it lies
against its threshold ("above", "below", "at"); a finding that is not firing is
worded as what a resolution says ("drift of income back below 0.1 (0.04)").

Severity follows the margin over the threshold (`alerts.critical_ratio`, in the
check's own unit: the measure's `severity_ratio`, 1 at the threshold) and the
dataset rule: one column just over its threshold is a warning, a large margin or
a dataset-level drift (drift_share of the columns) is critical.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import assert_never

from checks.interface import CheckKind, CheckResult, Direction, Measure, Status
from daemon.alerts.finding import Finding, StageKind
from daemon.config import Severity
from daemon.tables import fmt_value, utc_text

# The dataset-level drift rule's measure (checks/drift/check.py).
DATASET_SUBJECT = "dataset"

DEFAULT_CRITICAL_RATIO = 2.0


def short(value: float) -> str:
    """A value as people read it in a message: four significant digits (`fmt_value`)."""
    return fmt_value(value)


def position(value: float, threshold: float) -> str:
    """Where a value lies against its threshold, as shown (0.50000 vs 0.5 reads "at")."""
    if math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12) or short(value) == short(
        threshold
    ):
        return "at"
    return "above" if value > threshold else "below"


def ok_side(m: Measure) -> str:
    """The side of the threshold where the measure is fine."""
    return "below" if m.alerts_when is Direction.ABOVE else "above"


def severity_of(kind: CheckKind, m: Measure, critical_ratio: float) -> Severity:
    if kind is CheckKind.DRIFT and m.subject == DATASET_SUBJECT:
        # The dataset rule: most of the model's inputs moved at once.
        return Severity.CRITICAL
    return Severity.CRITICAL if m.severity_ratio >= critical_ratio else Severity.WARNING


def _subject(kind: CheckKind, m: Measure) -> str:
    if kind in (CheckKind.DRIFT, CheckKind.PERFORMANCE, CheckKind.ESTIMATED_PERFORMANCE):
        # One alert per column (drift) or metric, whatever test judged it.
        return m.subject
    return f"{m.subject}.{m.name}"


def _what(kind: CheckKind, m: Measure) -> str:
    """What is measured, as a person says it: "drift of income, PSI", "estimated roc_auc"."""
    match kind:
        case CheckKind.DRIFT:
            if m.subject == DATASET_SUBJECT:
                return "share of drifted columns"
            return f"drift of {m.subject}" + (f", {m.detail}" if m.detail else "")
        case CheckKind.PERFORMANCE:
            return m.subject
        case CheckKind.ESTIMATED_PERFORMANCE:
            return f"estimated {m.subject}"
        case CheckKind.QUALITY:
            return f"{m.name} of {m.subject}"
        case CheckKind.OPERATIONS:
            return f"{m.subject} {m.name}"
        case _:
            assert_never(kind)


def _notes(kind: CheckKind, m: Measure) -> str:
    # A drift's detail names its test, already said in `_what`.
    detail = None if kind is CheckKind.DRIFT and m.subject != DATASET_SUBJECT else m.detail
    notes = "; ".join(x for x in (detail, f"threshold {m.basis}" if m.basis else None) if x)
    return f" ({notes})" if notes else ""


def firing_summary(kind: CheckKind, m: Measure, value: float, threshold: float) -> str:
    """ "drift of income, PSI 0.31 above threshold 0.1 (threshold at n=500, …)"."""
    where = position(value, threshold)
    return f"{_what(kind, m)} {short(value)} {where} threshold {short(threshold)}" + _notes(kind, m)


def resolved_summary(kind: CheckKind, m: Measure, value: float, threshold: float) -> str:
    """ "drift of income, PSI back below 0.1 (0.04)": what a resolution says."""
    side = ok_side(m) if position(value, threshold) != "at" else "at"
    return f"{_what(kind, m)} back {side} {short(threshold)} ({short(value)})"


def findings_of(
    model: str,
    result: CheckResult,
    link: str | None = None,
    *,
    critical_ratio: float = DEFAULT_CRITICAL_RATIO,
    window_end: datetime | None = None,
) -> list[Finding]:
    """One finding per judged subject (measures with a threshold and an OK/ALERT status);
    the details name the window's end (`window_end`) for `alerts list --format json`."""
    out: list[Finding] = []
    for m in result.measures:
        value, threshold = m.value, m.threshold
        if threshold is None or value is None or m.status not in (Status.OK, Status.ALERT):
            continue
        firing = m.alerting
        words = firing_summary if firing else resolved_summary
        out.append(
            Finding(
                scope=model,
                kind=result.kind,
                subject=_subject(result.kind, m),
                firing=firing,
                severity=severity_of(result.kind, m, critical_ratio) if firing else Severity.INFO,
                summary=words(result.kind, m, value, threshold),
                value=value,
                threshold=threshold,
                link=link if result.kind is CheckKind.DRIFT else None,
                details={
                    "measure": m.name,
                    "rows": result.rows,
                    "basis": m.basis,
                    "alerts_when": m.alerts_when.value,
                    "window_end": utc_text(window_end),
                },
            )
        )
    return out


def monitoring_finding(model: str, why: str | None) -> Finding:
    """Whether the model can be checked at all: firing while it has no usable reference.

    Without a reference every check reads "insufficient data" (latency and errors
    included): left to a log line, the model would go unwatched for days. This is
    an ordinary alert (repeats, resolves once a reference is readable again).
    """
    if why is None:
        return Finding(
            scope=model,
            kind=StageKind.MONITORING,
            subject="reference",
            firing=False,
            severity=Severity.INFO,
            summary=f"{model} is monitored again: its reference is readable",
        )
    return Finding(
        scope=model,
        kind=StageKind.MONITORING,
        subject="reference",
        firing=True,
        severity=Severity.WARNING,
        summary=f"{model} is not monitored: no reference ({why})",
        details={"why": why},
    )
