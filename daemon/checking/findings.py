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

The model's outputs (prediction, score, label) move together when the model or
its population changes: their drift is one subject per model (`outputs`), which
names the outputs that drifted and their values, fires while any of them drifts
and resolves once none does. Each input feature keeps a subject of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import assert_never

from checks.interface import (
    LABEL,
    PREDICTION,
    SCORE,
    CheckKind,
    CheckResult,
    Direction,
    Measure,
    Status,
)
from checks.multivariate import METHOD_NAMES
from daemon.alerts.finding import Finding, StageKind
from daemon.alerts.message import max_severity
from daemon.config import Severity
from daemon.tables import fmt_value, utc_text

# The dataset-level drift rule's measure (checks/drift/check.py).
DATASET_SUBJECT = "dataset"

# The drift subject of the model's outputs, one per model (the columns below).
OUTPUTS_SUBJECT = "outputs"
OUTPUT_COLUMNS = (PREDICTION, SCORE, LABEL)

DEFAULT_CRITICAL_RATIO = 2.0

# Between a segment and the subject judged in it: "region=A/roc_auc".
SEGMENT_SEP = "/"


def segment_label(column: str, value: str) -> str:
    """A segment as runs and alerts name it: "region=A", "region=other"."""
    return f"{column}={value}"


def in_segment(finding: Finding, segment: str | None) -> Finding:
    """A finding of a segment's run: its own subject (so its own fingerprint and alert
    state), its summary saying which segment, the segment in its details."""
    if segment is None:
        return finding
    details = {**finding.details, "segment": segment, "measure_subject": finding.subject}
    return replace(
        finding,
        subject=f"{segment}{SEGMENT_SEP}{finding.subject}",
        summary=f"in {segment}: {finding.summary}",
        details=details,
    )


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


def drift_subject(column: str) -> str:
    """The alert subject of a drift measure's column: the model's outputs share one."""
    return OUTPUTS_SUBJECT if column in OUTPUT_COLUMNS else column


def _subject(kind: CheckKind, m: Measure) -> str:
    if kind in (
        CheckKind.DRIFT,
        CheckKind.PERFORMANCE,
        CheckKind.ESTIMATED_PERFORMANCE,
        CheckKind.MULTIVARIATE,
    ):
        # One alert per column (drift), metric or multivariate method, whatever test judged it.
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
        case CheckKind.MULTIVARIATE:
            return f"multivariate drift, {METHOD_NAMES.get(m.subject, m.subject)}"
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


def _judged(m: Measure) -> bool:
    """A measure with a value, a threshold and an OK or ALERT verdict: one to alert on."""
    return m.threshold is not None and m.value is not None and m.status in (Status.OK, Status.ALERT)


def _details(result: CheckResult, m: Measure, window_end: datetime | None) -> dict[str, object]:
    return {
        "measure": m.name,
        "rows": result.rows,
        "basis": m.basis,
        "alerts_when": m.alerts_when.value,
        "window_end": utc_text(window_end),
    }


def _output_value(m: Measure) -> str:
    """ "prediction, PSI 0.31 above threshold 0.1": one output, its test, where it lies."""
    assert m.value is not None and m.threshold is not None  # judged measures only
    test = f", {m.detail}" if m.detail else ""
    where = position(m.value, m.threshold)
    return f"{m.subject}{test} {short(m.value)} {where} threshold {short(m.threshold)}"


def outputs_summary(measures: Sequence[Measure]) -> str:
    """What the outputs' drift says: the drifted outputs and their values when firing,
    every judged output's value once none drifts."""
    drifted = [m for m in measures if m.alerting]
    if not drifted:
        values = "; ".join(
            f"{m.subject}{f', {m.detail}' if m.detail else ''} {short(m.value or 0.0)}"
            for m in measures
        )
        return f"drift of the model's outputs back within their thresholds ({values})"
    bases = {m.basis for m in drifted}
    if len(bases) == 1:
        # Said once when every drifted output's threshold has one source.
        [basis] = bases
        text = "; ".join(_output_value(m) for m in drifted)
        return f"drift of the model's outputs: {text}" + (f" (threshold {basis})" if basis else "")
    text = "; ".join(
        _output_value(m) + (f" (threshold {m.basis})" if m.basis else "") for m in drifted
    )
    return f"drift of the model's outputs: {text}"


def outputs_finding(
    model: str,
    result: CheckResult,
    measures: Sequence[Measure],
    link: str | None,
    *,
    critical_ratio: float,
    window_end: datetime | None,
) -> Finding:
    """One drift finding for the model's judged outputs: firing while any drifts, at the
    severity of the worst; its value and threshold are the worst drifted output's."""
    drifted = [m for m in measures if m.alerting]
    firing = bool(drifted)
    worst = max(drifted or measures, key=lambda m: m.severity_ratio)
    severity = (
        max_severity(*(severity_of(result.kind, m, critical_ratio) for m in drifted))
        if firing
        else Severity.INFO
    )
    details = _details(result, worst, window_end)
    details["drifted"] = ", ".join(m.subject for m in drifted) or None
    # Each judged output's value, for `alerts list --format json`.
    details.update({f"{m.subject}.{m.name}": m.value for m in measures})
    return Finding(
        scope=model,
        kind=result.kind,
        subject=OUTPUTS_SUBJECT,
        firing=firing,
        severity=severity,
        summary=outputs_summary(measures),
        value=worst.value,
        threshold=worst.threshold,
        link=link,
        details=details,
    )


def findings_of(
    model: str,
    result: CheckResult,
    link: str | None = None,
    *,
    critical_ratio: float = DEFAULT_CRITICAL_RATIO,
    window_end: datetime | None = None,
) -> list[Finding]:
    """One finding per judged subject (measures with a threshold and an OK/ALERT status),
    the drift of the model's outputs as one subject (`outputs_finding`); the details name
    the window's end (`window_end`) for `alerts list --format json`."""
    out: list[Finding] = []
    judged = [m for m in result.measures if _judged(m)]
    drift = result.kind is CheckKind.DRIFT
    outputs = [m for m in judged if drift and drift_subject(m.subject) == OUTPUTS_SUBJECT]
    for m in judged:
        if drift and drift_subject(m.subject) == OUTPUTS_SUBJECT:
            if m is outputs[0]:
                out.append(
                    outputs_finding(
                        model,
                        result,
                        outputs,
                        link,
                        critical_ratio=critical_ratio,
                        window_end=window_end,
                    )
                )
            continue
        value, threshold = m.value, m.threshold
        assert value is not None and threshold is not None  # judged measures only
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
                details=_details(result, m, window_end),
            )
        )
    return out


def monitoring_finding(model: str, why: str | None) -> Finding:
    """Whether the model can be checked at all: firing while it has no usable reference.

    Without a reference every check reads "insufficient data" (latency and errors
    included): left to a log line, the model would go unwatched for days. This is
    an ordinary alert (repeats, resolves once a reference is readable again).
    """
    return monitoring(
        model,
        "reference",
        why,
        firing=f"{model} is not monitored: no reference ({why})",
        resolved=f"{model} is monitored again: its reference is readable",
    )


def monitoring(model: str, subject: str, why: str | None, *, firing: str, resolved: str) -> Finding:
    """A "monitoring" finding of the model: firing (a warning that says `why`) or resolved."""
    if why is None:
        return Finding(
            scope=model,
            kind=StageKind.MONITORING,
            subject=subject,
            firing=False,
            severity=Severity.INFO,
            summary=resolved,
        )
    return Finding(
        scope=model,
        kind=StageKind.MONITORING,
        subject=subject,
        firing=True,
        severity=Severity.WARNING,
        summary=firing,
        details={"why": why},
    )
