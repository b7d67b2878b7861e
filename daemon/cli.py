"""`mlmaint` commands.

Each command imports what it needs inside its body, so `mlmaint --help` and the
daemon's start-up never import torch, mlflow or evidently.

Each command also declares the secrets it uses (`@needs`, in cli_context); the
config is loaded with exactly those. A command that declares nothing gets the
daemon's needs; tests walk the tree so that none is left undeclared. The
printing lives with its stage: `cli_store` (db), `service_status`,
`service_unit`, each stage's `cli`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from daemon import __version__, cli_alerts, cli_checks, cli_evidence, cli_read, startup
from daemon.cli_context import (
    Context,
    Declared,
    Group,
    Leave,
    ModelOrCommand,
    declared,
    needs,
    pass_ctx,
)
from daemon.config import Needs, default_config_path

if TYPE_CHECKING:
    from daemon.config import SecretUse


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="config file (default: $MLMAINT_CONFIG or ./config.toml)",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default=None,
    help="override the configured log level",
)
@click.version_option(__version__, prog_name="mlmaint")
@click.pass_context
def main(click_ctx: click.Context, config_path: Path | None, log_level: str | None) -> None:
    """mlmaint: keeps machine-learning models healthy in production."""
    from daemon.logs import setup_logging
    from daemon.private import UMASK

    # A backstop for files third-party code creates (MLflow's store, job outputs): at
    # least 027, as the unit's UMask=, when run by hand; a stricter umask is kept.
    os.umask(os.umask(UMASK) | UMASK)
    # A command's output is its table: WARNING unless --log-level; `run` takes the config's.
    setup_logging(log_level or "WARNING")
    leave = click_ctx.obj if isinstance(click_ctx.obj, Leave) else None
    click_ctx.obj = Context(config_path or default_config_path(), leave)


# --------------------------------------------------------------------------- config


@main.group()
def config() -> None:
    """Validate and show the configuration."""


@config.command("check")
@needs(Needs.NOTHING)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["toml", "json"]),
    default="toml",
    show_default=True,
    help="TOML as the file writes it, or the JSON machine form",
)
@click.option("--all", "every", is_flag=True, help="every effective option, defaults included")
@pass_ctx
def config_check(ctx: Context, fmt: str, every: bool) -> None:
    """Validate the config file and print the resolved settings, secrets masked.

    It checks the file for the daemon: a secret that is not set fails it (78),
    with the commands that need that secret named. The TOML shows what differs
    from the defaults (durations as written) unless --all is given.
    """
    from daemon.cli_config import check_command

    sys.exit(check_command(ctx.settings, ctx.config_path, needed_by, fmt=fmt, every=every))


# --------------------------------------------------------------------------- db


@main.group()
def db() -> None:
    """The store's schema (alembic migrations)."""


@db.command("upgrade")
@needs(Needs.STORE)
@click.option("--revision", default="head", show_default=True)
@pass_ctx
def db_upgrade(ctx: Context, revision: str) -> None:
    """Migrate the store to the latest schema."""
    from daemon import cli_store

    ctx.with_engine(lambda engine: cli_store.upgrade(engine, revision), existing=False)


@db.command("current")
@needs(Needs.STORE)
@pass_ctx
def db_current(ctx: Context) -> None:
    """Print the store's schema revision and whether it is the latest."""
    from daemon import cli_store

    ctx.with_engine(cli_store.current)


@db.command("check")
@needs(Needs.STORE)
@pass_ctx
def db_check(ctx: Context) -> None:
    """Fail when the ORM tables and the migrations disagree (alembic check)."""
    from daemon import cli_store

    ctx.with_engine(cli_store.check)


# --------------------------------------------------------------------------- jobs


@main.command()
@needs(Needs.DAEMON)
@pass_ctx
def run(ctx: Context) -> None:
    """Run the daemon: the scheduler, the HTTP API and the jobs, until stopped."""
    from daemon.logs import setup_logging
    from daemon.service import run_service

    settings = ctx.settings
    if click.get_current_context().find_root().params.get("log_level") is None:
        setup_logging(settings.service.log_level.value)
    sys.exit(run_service(ctx.config_path, settings))


# The demo writes and loads its own config; it reads nothing of the user's.
@main.command()
@needs(Needs.NOTHING)
@click.option(
    "--workdir", type=click.Path(path_type=Path, file_okay=False), default=Path("var/demo")
)
@click.option("--days", type=int, default=42, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--serve",
    "serve_port",
    type=int,
    default=None,
    metavar="PORT",
    help="after the story, keep the page at / served on this loopback port until Ctrl-C",
)
def demo(workdir: Path, days: int, seed: int, serve_port: int | None) -> None:
    """Replay a simulated production with drift, alerts and a retrain."""
    from daemon.demo import run_demo

    sys.exit(run_demo(workdir, days=days, seed=seed, serve_port=serve_port))


# Opens the store (the models row of the serving version) and MLflow; no other secret.
@main.command()
@needs(Needs.STORE)
@click.argument("name")
@click.option(
    "--model-uri",
    default=None,
    metavar="models:/NAME@ALIAS",
    help="the registered model and its serving alias (default: models:/NAME@champion)",
)
@click.option(
    "--task",
    type=click.Choice(["binary_classification", "multiclass_classification", "regression"]),
    default=None,
    help="default: from the model (scikit-learn classifiers and regressors)",
)
@click.option(
    "--sample",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="a few rows of the prediction log (.jsonl, .csv, .parquet): its column names",
)
@click.option(
    "--reference",
    default=None,
    metavar="FILE|mlflow-dataset|first-window",
    help="what the checks compare with: a .parquet or .csv file, the dataset the version's "
    "run logged, or the first window of production",
)
@click.option(
    "--reference-start", default=None, help="first-window: ISO start (default: this hour)"
)
@click.option("--reference-end", default=None, help="first-window: ISO end (default: start + 1d)")
@click.option("--logs", default=None, metavar="GLOB", help="prediction log files (default: HTTP)")
@click.option(
    "--log-format",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    default=None,
    help="default: from the --logs suffix",
)
@click.option(
    "--labels",
    type=click.Choice(["http", "none"]),
    default="http",
    show_default=True,
    help="labels pushed to POST /v1/models/NAME/labels, or none",
)
@click.option("--id", "id_column", default=None, metavar="COLUMN", help="the prediction id")
@click.option("--timestamp", "timestamp_column", default=None, metavar="COLUMN")
@click.option("--prediction", "prediction_column", default=None, metavar="COLUMN")
@click.option("--score", "score_column", default=None, metavar="COLUMN", help="P(positive)")
@click.option("--label", "label_column", default=None, metavar="COLUMN")
@click.option("--latency", "latency_column", default=None, metavar="COLUMN")
@click.option("--error", "error_column", default=None, metavar="COLUMN")
@click.option("--numeric", multiple=True, metavar="COLUMN", help="monitor this input as numeric")
@click.option("--categorical", multiple=True, metavar="COLUMN", help="... as categorical")
@click.option("--ignore", multiple=True, metavar="COLUMN", help="a log column not to monitor")
@click.option("--positive", default=None, help="the positive class (default: the greatest)")
@click.option("--metric", default=None, help="the performance metric (default: the task's)")
@click.option("--dry-run", is_flag=True, help="print the table; record and write nothing")
@pass_ctx
def onboard(ctx: Context, /, name: str, **options: object) -> None:
    """Monitor NAME, a model that already serves from the MLflow registry.

    Appends its [[models]] table to the config file (validated with it first)
    and records its reference for the serving version.
    """
    from daemon.onboarding.cli import onboard_command

    sys.exit(onboard_command(ctx.settings, ctx.config_path, name, options, echo=click.echo))


@main.group(cls=ModelOrCommand)
def retrain() -> None:
    """Retrain MODEL now (`mlmaint retrain MODEL`), or roll it back."""


@retrain.command("now", hidden=True)
@needs(Needs.STORE)
@click.argument("model")
@click.option("--wait/--no-wait", default=True, show_default=True, help="wait for the job")
@pass_ctx
def retrain_now(ctx: Context, model: str, wait: bool) -> None:
    """Retrain MODEL now, whatever the policy says (the duplicate and cap guards hold)."""
    from daemon.retraining.cli import retrain_command

    sys.exit(retrain_command(ctx.settings, model, wait=wait, echo=click.echo))


@retrain.command("rollback")
@needs(Needs.STORE)
@click.argument("model")
@click.option("--pin-for", default=None, help="pin for this long, e.g. 7d (default: until unpin)")
@click.option("--until", default=None, help="pin until this date or ISO time (UTC): 2026-12-31")
@pass_ctx
def retrain_rollback(ctx: Context, model: str, pin_for: str | None, until: str | None) -> None:
    """Move MODEL's serving alias back to the version it replaced, and pin it there.

    While pinned, no retrain promotes automatically: the policy starts none, and
    `mlmaint retrain MODEL` registers its challenger without promoting it.
    """
    import getpass

    from daemon.retraining.cli import rollback_command

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    sys.exit(
        rollback_command(ctx.settings, model, echo=click.echo, pin_for=pin_for, until=until, by=who)
    )


@retrain.command("unpin")
@needs(Needs.STORE)
@click.argument("model")
@pass_ctx
def retrain_unpin(ctx: Context, model: str) -> None:
    """Lift MODEL's pin: retrains may promote again."""
    from daemon.retraining.cli import unpin_command

    sys.exit(unpin_command(ctx.settings, model, echo=click.echo))


# A worker talks to the broker only: the daemon's store and channels are not its business.
@main.command()
@needs(Needs.NOTHING)
@click.option(
    "--concurrency", type=int, default=1, show_default=True, help="one per GPU, or per CPU core"
)
@click.option("--hostname", default=None, help="Celery node name (default: celery@host)")
@click.option(
    "--queue",
    default=None,
    help="the queue to consume: [checks.celery] queue runs checks (default: the GPU queue)",
)
@pass_ctx
def worker(ctx: Context, concurrency: int, hostname: str | None, queue: str | None) -> None:
    """Start a Celery worker: retraining on this machine's GPU, or checks (--queue checks).

    A checks worker reads the store and writes the check runs: it needs the daemon's
    config (--config) and its store; the leader applies the findings.
    """
    if queue is not None and queue == ctx.settings.checks.celery.queue:
        from daemon.checking.worker import run_checks_worker

        run_checks_worker(ctx.settings, concurrency=concurrency, hostname=hostname)
        return
    from daemon.retraining.cli import worker_command

    if queue is not None and queue != ctx.settings.executor.celery.queue:
        raise click.BadParameter(
            f"no queue {queue!r}: checks run on {ctx.settings.checks.celery.queue!r}, "
            f"retraining on {ctx.settings.executor.celery.queue!r}",
            param_hint="--queue",
        )
    worker_command(ctx.settings, concurrency=concurrency, hostname=hostname)


@main.group()
def service() -> None:
    """systemd integration."""


@service.command("install")
@needs(Needs.NOTHING)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("/etc/systemd/system/mlmaint.service"),
    show_default=True,
)
@click.option("--user", default=None, help="a dedicated user (default: DynamicUser=yes)")
@click.option(
    "--exec",
    "executable",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="the mlmaint executable the unit starts, in the venv the service runs (default: this one)",
)
@click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("/etc/mlmaint/mlmaint.env"),
    show_default=True,
    help="EnvironmentFile with secrets (optional at start)",
)
@click.option(
    "--credential",
    "credentials",
    multiple=True,
    metavar="NAME=PATH",
    help="a systemd credential (LoadCredential), e.g. db-password=/etc/mlmaint/db-password",
)
@pass_ctx
def service_install(
    ctx: Context,
    output: Path,
    user: str | None,
    executable: Path | None,
    env_file: Path,
    credentials: tuple[str, ...],
) -> None:
    """Write the systemd unit file for this installation and config.

    The configured paths are checked against the unit's sandbox: those outside
    its StateDirectory are opened for what the daemon does with them, and a
    path the sandbox cannot give (under /tmp or /var/tmp) is refused, named.
    """
    from daemon.service_unit import install_command

    pairs: dict[str, Path] = {}
    for item in credentials:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"expected NAME=PATH, got {item!r}", param_hint="--credential")
        pairs[name] = Path(path).resolve()
    sys.exit(
        install_command(
            ctx.settings,
            ctx.config_path,
            output=output,
            user=user,
            executable=executable,
            env_file=env_file,
            credentials=pairs,
            echo=click.echo,
        )
    )


# --------------------------------------------------------------------------- rooms

main.add_command(cli_checks.check)
main.add_command(cli_evidence.evidence)
main.add_command(cli_read.frameworks)
main.add_command(cli_read.report)
main.add_command(cli_read.status)
main.add_command(cli_alerts.alerts)


# --------------------------------------------------------------------------- needs


def commands(
    group: click.Group = main, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every leaf command under `group` with its path of names."""
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            # A group that runs on its own (`mlmaint frameworks`) is a command too.
            if command.invoke_without_command:
                found.append(((*prefix, name), command))
            found.extend(commands(command, (*prefix, name)))
        else:
            found.append(((*prefix, name), command))
    return found


def needed_by(use: SecretUse) -> list[str]:
    """The command lines that resolve this secret, as a person would type them."""
    lines: list[str] = []
    for path, command in commands():
        found = declared(command) or Declared(Needs.DAEMON)
        if not use.area & found.needs:
            continue
        line = "mlmaint " + " ".join(path)
        option = found.channel_option
        if option is not None and use.area is Needs.CHANNELS:
            line += f" --{option} {use.channel}"
        lines.append(line)
    return lines


def console() -> None:
    """The `mlmaint` console script: `main`, and a quick exit for a command that asks."""
    leave = Leave()
    # No automatic garbage collection while the command loads its modules (startup.py).
    startup.pause()
    try:
        main(obj=leave)
    except SystemExit as exc:
        # Under a profiler or a tracer (cProfile, coverage) the usual exit writes their
        # results: no quick exit then.
        if leave.quickly and sys.getprofile() is None and sys.gettrace() is None:
            leave.now(exc.code)
        raise


if __name__ == "__main__":
    console()
