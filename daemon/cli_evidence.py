"""`mlmaint evidence`: a past window's evidence, built again from the stored rows."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from daemon.cli_context import Context, needs, pass_ctx
from daemon.config import Needs


def parse_time(text: str) -> datetime:
    """An ISO 8601 time ("2026-11-19T12:00:00Z", "2026-11-19 12:00"); naive means UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise click.BadParameter(
            f"expected an ISO time like 2026-11-19T12:00:00Z, got {text!r}"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@click.command()
@needs(Needs.STORE)
@click.argument("model")
@click.option("--at", "at", required=True, help="end of the window, e.g. 2026-11-19T12:00:00Z")
@click.option("--evidently", is_flag=True, help="also write Evidently's full report (slow)")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the page (or Evidently's report) here instead of the evidence directory",
)
@pass_ctx
def evidence(ctx: Context, model: str, at: str, evidently: bool, out: Path | None) -> None:
    """Build the drift evidence of the window ending at TIME and print its path.

    The page is mlmaint's own; with --evidently the printed path is Evidently's
    report. Exit status: 0 written, 1 no usable reference, 2 bad arguments.
    """
    from daemon.checking.references import ReferenceUnavailable
    from daemon.evidence.rebuild import FutureWindow, rebuild_evidence
    from daemon.jobs import JobContext

    when = parse_time(at)
    settings = ctx.settings
    try:
        settings.model(model)
    except KeyError as exc:
        click.echo(str(exc.args[0]), err=True)
        sys.exit(2)
    job = JobContext.from_settings(settings)
    try:
        built = rebuild_evidence(job, model, when, evidently=evidently, out=out)
    except FutureWindow as exc:
        click.echo(f"evidence: {exc}", err=True)
        sys.exit(2)
    except ReferenceUnavailable as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    finally:
        job.close()
    drifted = [m.subject for m in built.result.alerting]
    click.echo(
        f"{model}: window ending {when:%Y-%m-%d %H:%M} UTC, {built.result.rows} rows, "
        f"{built.result.status.value}" + (f" ({', '.join(drifted)})" if drifted else ""),
        err=True,
    )
    click.echo(str(built.path))
