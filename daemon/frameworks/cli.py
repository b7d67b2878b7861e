"""`mlmaint frameworks`: the scan as a table, JSON or CycloneDX, and its exit status;
`mlmaint frameworks sync`: the release cache and support data refreshed from the index;
`mlmaint frameworks verify`: the verdicts of upgrades replayed on a model."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from checks.frameworks import FrameworkError, output
from checks.frameworks.policy import EnvironmentReport
from checks.frameworks.verdict import Verdict, change_text, is_downgrade
from daemon.config import Settings
from daemon.frameworks.job import scan_frameworks
from daemon.jobs import JobContext

if TYPE_CHECKING:
    from daemon.frameworks.verify import Verified

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def render_reports(reports: Sequence[EnvironmentReport], width: int | None = None) -> str:
    """The table form: per environment a heading and its findings (daemon/tables.py's layout)."""
    from daemon.tables import Column, render, shorten, wrap

    columns = (
        Column("package"),
        Column("installed"),
        Column("finding"),
        Column("severity"),
        Column("ids / detail"),
        Column("upgrade to"),
    )
    blocks: list[str] = []
    for report in reports:
        python = f", Python {report.python_version}" if report.python_version else ""
        lines = [
            f"== {report.environment} ({report.source}: {report.target}{python}) "
            f"{len(report.packages)} packages, {output.libyears_text(report)}"
        ]
        findings = sorted(report.findings, key=output.finding_order)
        rows = []
        for f in findings:
            what = ", ".join(f.advisory_ids) if f.advisory_ids else f.detail
            if f.ignored_reason:
                what = f"{what} [ignored: {f.ignored_reason}]"
            rows.append(
                (
                    f.package,
                    f.installed,
                    f.kind.value,
                    output.severity_text(f),
                    shorten(what, 160),
                    f.recommended or f.fixed or "",
                )
            )
        lines.append(render(columns, rows, width=width) if rows else "no findings")
        if report.release_data:
            lines.append(wrap(report.release_data, width))
        lines.append(wrap(report.support, width))
        if report.advisories:
            lines.append(wrap(f"advisories: {report.advisories}", width))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def run_command(
    settings: Settings, fmt: str, now: datetime, *, alert: bool = False
) -> tuple[str, list[str], int]:
    """`mlmaint frameworks`: (document to print, error lines, exit status).

    Alerts only with `alert` (`--alert`); else the findings are stored as not
    alerted, for the daemon's scan to alert.

    0 when no actionable finding, 1 on findings, 2 when mlmaint itself failed
    (an environment could not be inventoried, the store is not migrated).
    """
    from daemon import __version__
    from daemon.frameworks.mirror import require_advisory_db
    from daemon.store.engine import StoreError
    from daemon.store.migrate import require_current

    try:
        require_advisory_db(settings.frameworks)
    except FrameworkError as exc:
        return "", [f"frameworks: {exc}"], EXIT_ERROR
    ctx = JobContext.from_settings(settings)
    try:
        require_current(ctx.engine)
        outcome = scan_frameworks(ctx, now, alert=alert)
    except (StoreError, FrameworkError, SQLAlchemyError) as exc:
        return "", [f"frameworks: {exc}"], EXIT_ERROR
    finally:
        ctx.close()
    reports = list(outcome.reports)
    if fmt == "json":
        text = output.dumps(output.to_json(reports))
    elif fmt == "cyclonedx":
        text = output.dumps(output.to_cyclonedx(reports, __version__))
    elif not reports and not settings.frameworks.environments:
        # An empty table would read as all clear: nothing was scanned.
        text = (
            "no environment scanned: none is configured ([[frameworks.environments]] in "
            "config.toml names the Python environments and images whose frameworks to check)"
        )
    else:
        text = render_reports(reports)
    errors = [f"frameworks: {e}" for e in outcome.errors]
    if errors:
        return text, errors, EXIT_ERROR
    return text, [], EXIT_FINDINGS if outcome.actionable else EXIT_CLEAN


def run_sync_command(
    settings: Settings, now: datetime, packages: Iterable[str] = ()
) -> tuple[str, list[str], int]:
    """`mlmaint frameworks sync`: (what was synced, failures, exit status).

    0 when every package came (or is not on the index), 2 when the index failed
    for some, or an environment could not be inventoried.
    """
    from daemon.frameworks.sync import run_sync
    from daemon.store.engine import StoreError
    from daemon.store.migrate import require_current

    ctx = JobContext.from_settings(settings)
    try:
        require_current(ctx.engine)
        outcome = run_sync(ctx, now, packages=packages)
    except (StoreError, FrameworkError, SQLAlchemyError) as exc:
        return "", [f"frameworks sync: {exc}"], EXIT_ERROR
    finally:
        ctx.close()
    errors = [f"frameworks sync: {line}" for line in outcome.error_lines()]
    return "\n".join(outcome.lines()), errors, EXIT_CLEAN if outcome.ok else EXIT_ERROR


def render_verifications(done: Sequence[Verified], width: int | None = None) -> str:
    from daemon.tables import Column, render, wrap

    if not done:
        return "nothing to verify: no --upgrade given and no vulnerable package on record"
    columns = (
        Column("model"),
        Column("version"),
        Column("upgrade"),
        Column("verdict"),
        Column("max diff"),
        Column("changed"),
        Column("p95"),
        Column("took"),
    )
    rows = []
    for v in done:
        c = v.outcome.comparison
        diff = c.max_abs_diff
        change = c.p95_change
        rows.append(
            (
                v.model,
                v.outcome.model_version or "?",
                change_text(v.package, v.installed, v.target),
                v.outcome.verdict.value,
                "" if diff is None else f"{diff:.3g}",
                "" if c.verdict.failed else f"{c.changed_share:.1%}",
                "" if change is None else f"{change:+.0%}",
                f"{v.outcome.duration_s:.1f}s",
            )
        )
    lines = [render(columns, rows, width=width)]
    # Each verification's line, then what it replayed and, if it failed, the output's end.
    for v in done:
        lines.append(wrap(f"{v.package} {v.target}: {v.headline}", width))
        lines.extend(wrap(f"  {note}", width) for note in v.outcome.notes)
        if v.outcome.comparison.error:
            lines.append(v.outcome.comparison.error.rstrip()[-1500:])
    # Per package, the first safe target (the walk tries the smallest first); a
    # downgrade is verified when asked, never recommended.
    safe: dict[str, Verified] = {}
    for v in done:
        if v.outcome.verdict is Verdict.SAFE and not _downgrade(v):
            safe.setdefault(v.package, v)
    lines.extend(
        f"recommended: {v.package}=={v.target} (verified safe on {v.model})" for v in safe.values()
    )
    return "\n".join(lines)


def _downgrade(v: Verified) -> bool:
    return is_downgrade(v.installed, v.target)


def verify_command(
    settings: Settings, model: str, upgrades: Sequence[str], fmt: str, now: datetime
) -> tuple[str, list[str], int]:
    """`mlmaint frameworks verify`: 0 every upgrade safe, 1 any not, 2 it could not run."""
    from daemon.frameworks.verify import VerifyStopped, verify_model
    from daemon.store.engine import StoreError
    from daemon.store.migrate import require_current
    from retrain.interface import RetrainError
    from retrain.verify.spec import comparison_to_json

    ctx = JobContext.from_settings(settings)
    stopped: list[str] = []
    try:
        require_current(ctx.engine)
        with quiet_third_party():
            done = verify_model(ctx, model, upgrades, now)
    except VerifyStopped as exc:
        # What was verified before it stands; the verification that could not run has no verdict.
        done, stopped = list(exc.done), [f"frameworks verify: {exc}"]
    except (StoreError, RetrainError, FrameworkError, SQLAlchemyError) as exc:
        return "", [f"frameworks verify: {exc}"], EXIT_ERROR
    finally:
        ctx.close()
    if stopped and not done:
        return "", stopped, EXIT_ERROR
    if fmt == "json":
        text = json.dumps(
            [
                {
                    "model": v.model,
                    "model_version": v.outcome.model_version,
                    "package": v.package,
                    "installed": v.installed,
                    "target": v.target,
                    "downgrade": _downgrade(v),
                    "verdict": v.outcome.verdict.value,
                    "headline": v.headline,
                    "cleared": list(v.cleared),
                    "comparison": comparison_to_json(v.outcome.comparison),
                    "notes": list(v.outcome.notes),
                    "duration_s": v.outcome.duration_s,
                }
                for v in done
            ],
            indent=2,
        )
    else:
        text = render_verifications(done)
    if stopped:
        return text, stopped, EXIT_ERROR
    unsafe = any(v.outcome.verdict is not Verdict.SAFE for v in done)
    return text, [], EXIT_FINDINGS if unsafe else EXIT_CLEAN


@contextmanager
def quiet_third_party() -> Iterator[None]:
    """Third-party deprecation and advice warnings (attrs, MLflow, pandas) kept off the
    command's output: its table is what it prints. mlmaint's own warnings still show."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category)
        for module in ("daemon", "checks", "retrain"):
            warnings.filterwarnings("default", category=UserWarning, module=rf"{module}(\.|$)")
        yield
