"""What `mlmaint check` prints: a cycle's rows and JSON document, its segments'
lines, and a range's footers."""

from __future__ import annotations

import math
from collections.abc import Sequence

from checks.interface import CheckKind, Measure, Status
from checks.segments import OTHER
from daemon.checking.records import KindRun
from daemon.checking.run import CheckCycle
from daemon.tables import NO_STATUS, fmt_value, utc_text


def cycle_rows(cycle: CheckCycle) -> list[tuple[str, str, str, str, str, str]]:
    """(check, subject, measure, value, threshold, status) rows for a printed table."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    for kind, run in cycle.runs.items():
        r = run.result
        if not r.measures:
            rows.append((kind.value, "-", "-", "-", "-", f"{r.status.value}: {r.reason or ''}"))
        for m in r.measures:
            rows.append(
                (
                    kind.value,
                    m.subject,
                    # The statistic's name (the test that judged it) is the measure's.
                    m.name + (f" ({m.detail})" if m.detail and m.detail != m.name else ""),
                    fmt_value(m.value),
                    (fmt_value(m.threshold) + (f" ({m.basis})" if m.basis else ""))
                    if m.threshold is not None
                    else "",
                    _status(m),
                )
            )
    return rows


def _status(m: Measure) -> str:
    """The status alone; a measure with no threshold is informational, not "ok"."""
    if m.threshold is None and m.status is Status.OK:
        return NO_STATUS
    return m.status.value


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def cycle_document(cycle: CheckCycle) -> dict[str, object]:
    """`mlmaint check --format json`: the cycle, each run with its measures (no NaN: null),
    named as the /v1 API names them (a measure's `name`, times with a `Z`)."""
    document: dict[str, object] = {
        "model": cycle.model,
        "window_start": utc_text(cycle.window_start),
        "window_end": utc_text(cycle.window_end),
        "rows": cycle.rows,
        "firing": bool(cycle.firing),
        "runs": [
            {
                "check": kind.value,
                "status": run.result.status.value,
                "reason": run.result.reason,
                "rows": run.result.rows,
                "run_id": run.run_id,
                "replaced": run.replaced,
                "evidence": str(run.evidence_path) if run.evidence_path else None,
                "measures": [
                    {
                        "subject": m.subject,
                        "name": m.name,
                        "value": _finite(m.value),
                        "threshold": _finite(m.threshold),
                        "alerting": m.alerting,
                        "detail": m.detail,
                        "basis": m.basis,
                        "status": m.status.value,
                    }
                    for m in run.result.measures
                ],
            }
            for kind, run in cycle.runs.items()
        ],
    }
    document["findings"] = [
        {
            "kind": str(f.kind),
            "subject": f.subject,
            "severity": f.severity.value,
            "summary": f.summary,
            "link": f.link,
        }
        for f in cycle.firing
    ]
    if cycle.segment is not None:
        document["segment"] = cycle.segment
        return document
    document["firing"] = bool(cycle.firing) or any(part.firing for part in cycle.segments)
    document["segments"] = [cycle_document(part) for part in cycle.segments]
    document["unchecked_segments"] = [
        {"segment": segment, "reason": reason} for segment, reason in cycle.unchecked_segments
    ]
    return document


def segment_lines(cycle: CheckCycle) -> list[tuple[str, str]]:
    """(segment, line) per segment, checked or not, in the segments' order: each check's
    status, with the reason beside the check it explains. Measures: /v1/...?segment=."""
    lines = {
        part.segment or "": f"segment {part.segment}: {part.rows} rows, "
        + ", ".join(
            f"{k.value}={r.result.status.value}"
            + (
                f" ({r.result.reason})"
                if r.result.reason and r.result.status is not Status.OK
                else ""
            )
            for k, r in part.runs.items()
        )
        for part in cycle.segments
    }
    lines.update(
        (segment, f"segment {segment}: {reason}") for segment, reason in cycle.unchecked_segments
    )
    return [(name, lines[name]) for name in sorted(lines, key=_segment_order)]


def _segment_order(label: str) -> tuple[str, bool, str]:
    """Column, then value with "other" last: "region=eu" < "region=us" < "region=other"."""
    column, _, value = label.partition("=")
    return column, value == OTHER, value


def alerting_kinds(cycle: CheckCycle) -> list[str]:
    return [k.value for k, r in cycle.runs.items() if r.result.status is Status.ALERT]


def unjudged_segments(cycles: Sequence[CheckCycle]) -> list[str]:
    """Segments a range could not judge, so a silent segment is not taken for a healthy
    one: those not checked (too little reference), and each check of a segment that
    lacked rows or labels in some windows, with the latest window's reason."""
    told: dict[str, str] = {}
    short: dict[tuple[str, str], list[str]] = {}
    for cycle in cycles:
        for segment, reason in cycle.unchecked_segments:
            told[segment] = reason
        for part in cycle.segments:
            for kind, run in part.runs.items():
                if run.result.status is Status.INSUFFICIENT_DATA:
                    key = (part.segment or "", kind.value)
                    short.setdefault(key, []).append(run.result.reason or "no reason given")
    said = [f"{segment}: {told[segment]}" for segment in sorted(told, key=_segment_order)]
    for segment, check in sorted(short, key=lambda key: (*_segment_order(key[0]), key[1])):
        found = short[(segment, check)]
        said.append(
            f"{segment}: {check} not judged in {len(found)} of {len(cycles)} window(s) "
            f"(the latest: {found[-1]})"
        )
    return said


def unjudged(runs: Sequence[KindRun]) -> list[str]:
    """Per check kind, why its n/a windows were not judged: the reason itself when every
    window gave the same one, the latest window's and a count of the others when not."""
    reasons: dict[CheckKind, list[str]] = {}
    for run in runs:
        if run.result.status is Status.INSUFFICIENT_DATA:
            reasons.setdefault(run.result.kind, []).append(run.result.reason or "no reason given")
    said = []
    for kind, found in reasons.items():
        distinct = list(dict.fromkeys(found))
        more = len(distinct) - 1
        said.append(
            f"{kind.value}: {found[-1]}"
            + (f" (in the latest n/a window; {more} other reason(s))" if more else "")
        )
    return said


# A range prints one line per window within 80 columns (window end, rows, a status per
# kind): the longest kind's name and the longest status are shortened to fit it.
RANGE_HEADER = {
    CheckKind.PERFORMANCE: "perf.",
    CheckKind.ESTIMATED_PERFORMANCE: "est. perf.",
    CheckKind.OPERATIONS: "ops",
    CheckKind.MULTIVARIATE: "multivar.",
}
RANGE_STATUS = {Status.INSUFFICIENT_DATA: "n/a"}
