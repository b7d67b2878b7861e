"""`mlmaint frameworks`: the scan as a table, JSON or CycloneDX, and its exit status;
`mlmaint frameworks sync`: the release cache and support data refreshed from the index."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from checks.frameworks import FrameworkError, output
from checks.frameworks.policy import EnvironmentReport
from daemon.config import Settings
from daemon.frameworks.job import scan_frameworks
from daemon.jobs import JobContext

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


def run_command(settings: Settings, fmt: str, now: datetime) -> tuple[str, list[str], int]:
    """`mlmaint frameworks`: (document to print, error lines, exit status).

    0 when no actionable finding, 1 on findings, 2 when mlmaint itself failed
    (an environment could not be inventoried, the store is not migrated).
    """
    from daemon import __version__
    from daemon.store.engine import StoreError
    from daemon.store.migrate import require_current

    ctx = JobContext.from_settings(settings)
    try:
        require_current(ctx.engine)
        outcome = scan_frameworks(ctx, now)
    except (StoreError, FrameworkError, SQLAlchemyError) as exc:
        return "", [f"frameworks: {exc}"], EXIT_ERROR
    finally:
        ctx.close()
    reports = list(outcome.reports)
    if fmt == "json":
        text = output.dumps(output.to_json(reports))
    elif fmt == "cyclonedx":
        text = output.dumps(output.to_cyclonedx(reports, __version__))
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
