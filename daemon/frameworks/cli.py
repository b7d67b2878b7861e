"""`mlmaint frameworks`: the scan as a table, JSON or CycloneDX, and its exit status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from checks.frameworks import FrameworkError, output
from daemon.config import Settings
from daemon.frameworks.job import scan_frameworks
from daemon.jobs import JobContext

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


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
        text = output.render_table(reports)
    errors = [f"frameworks: {e}" for e in outcome.errors]
    if errors:
        return text, errors, EXIT_ERROR
    return text, [], EXIT_FINDINGS if outcome.actionable else EXIT_CLEAN
