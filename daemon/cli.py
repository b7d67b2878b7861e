"""`mlmaint` commands.

Each command imports what it needs inside its body, so `mlmaint --help` and the
daemon's start-up never import torch, mlflow or evidently.

Each command also declares the secrets it uses (`@needs`); the config is loaded
with exactly those, so `db upgrade` runs without the Slack webhook while `run`
still refuses to start (78) when any secret of an enabled feature is missing.
A command that declares nothing gets the daemon's needs; tests walk the tree so
that none is left undeclared.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from daemon import __version__
from daemon.config import EX_CONFIG, ConfigError, Needs, default_config_path, load_config

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from daemon.config import SecretUse, Settings

log = logging.getLogger(__name__)

EX_SOFTWARE = 70
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75


@dataclasses.dataclass(frozen=True)
class Declared:
    """The secrets a command resolves when it loads the config.

    `needs`: the areas of secrets it uses. `channel_option`: the option naming
    the one alert channel whose secrets it needs, instead of every channel's.
    """

    needs: Needs
    channel_option: str | None = None


_DECLARED = "_mlmaint_needs"
_F = TypeVar("_F", bound=Callable[..., object])


def needs(areas: Needs, *, channel_option: str | None = None) -> Callable[[_F], _F]:
    """Declare a command's secrets; put it right under `@group.command(...)`."""

    def mark(function: _F) -> _F:
        setattr(function, _DECLARED, Declared(areas, channel_option))
        return function

    return mark


def declared(command: click.Command) -> Declared | None:
    """What `command` declared it needs; None when it declared nothing."""
    found = getattr(command.callback, _DECLARED, None)
    return found if isinstance(found, Declared) else None


class Group(click.Group):
    """A secret asked for after loading that is not set exits 78, as at loading."""

    group_class = type

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(EX_CONFIG)


class Context:
    """What every command shares: where the config is, loaded on first use."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The config, with the secrets the running command declared it needs."""
        if self._settings is None:
            click_ctx = click.get_current_context()
            found = declared(click_ctx.command) or Declared(Needs.DAEMON)
            channels = None
            if found.channel_option is not None:
                channels = (str(click_ctx.params[found.channel_option]),)
            try:
                self._settings = load_config(self.config_path, needs=found.needs, channels=channels)
            except ConfigError as exc:
                click.echo(str(exc), err=True)
                sys.exit(EX_CONFIG)
        return self._settings

    def engine(self) -> Engine:
        from daemon.store.engine import make_engine

        store = self.settings.store
        return make_engine(store.url, self.settings.secret("store.password"), store.pool_size)


pass_ctx = click.make_pass_decorator(Context)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="config file (default: $MLMAINT_CONFIG or ./config.toml)",
)
@click.option("--log-level", default=None, help="override the configured log level")
@click.version_option(__version__, prog_name="mlmaint")
@click.pass_context
def main(click_ctx: click.Context, config_path: Path | None, log_level: str | None) -> None:
    """mlmaint: keeps machine-learning models healthy in production."""
    from daemon.logs import setup_logging
    from daemon.private import UMASK

    # A backstop for files third-party code creates (MLflow's store, job outputs): at
    # least 027, as the unit's UMask=, when run by hand; a stricter umask is kept.
    os.umask(os.umask(UMASK) | UMASK)
    setup_logging(log_level or "INFO")
    click_ctx.obj = Context(config_path or default_config_path())


# --------------------------------------------------------------------------- config


@main.group()
def config() -> None:
    """Validate and show the configuration."""


@config.command("check")
@needs(Needs.NOTHING)
@pass_ctx
def config_check(ctx: Context) -> None:
    """Validate the config file and print the resolved settings, secrets masked.

    It checks the file for the daemon: a secret that is not set fails it (78),
    with the commands that need that secret named.
    """
    from daemon.config import masked_dump, secret_uses

    settings = ctx.settings
    if settings.unresolved:
        problems = [
            f"{use.key}: {settings.unresolved[use.key]}; needed by {', '.join(needed_by(use))}"
            for use in secret_uses(settings)
            if use.key in settings.unresolved
        ]
        click.echo(str(ConfigError(str(ctx.config_path), problems)), err=True)
        sys.exit(EX_CONFIG)
    click.echo(json.dumps(masked_dump(settings), indent=2, sort_keys=False, default=str))
    click.echo(f"{ctx.config_path}: valid, {len(settings.models)} model(s)", err=True)


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
    from daemon.store import migrate
    from daemon.store.engine import safe_url

    engine = ctx.engine()
    try:
        migrate.upgrade(engine, revision)
        click.echo(f"{safe_url(engine)}: at {migrate.current_revision(engine)}")
    finally:
        engine.dispose()


@db.command("current")
@needs(Needs.STORE)
@pass_ctx
def db_current(ctx: Context) -> None:
    """Print the store's schema revision and whether it is the latest."""
    from daemon.store import migrate
    from daemon.store.engine import safe_url

    engine = ctx.engine()
    try:
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
        state = "up to date" if current == head else f"behind, head is {head}"
        click.echo(f"{safe_url(engine)}: {current or 'empty'} ({state})")
        if current != head:
            sys.exit(1)
    finally:
        engine.dispose()


@db.command("check")
@needs(Needs.STORE)
@pass_ctx
def db_check(ctx: Context) -> None:
    """Fail when the ORM tables and the migrations disagree (alembic check)."""
    from alembic.util import AutogenerateDiffsDetected

    from daemon.store import migrate

    engine = ctx.engine()
    try:
        migrate.check(engine)
    except AutogenerateDiffsDetected as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    finally:
        engine.dispose()


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
def demo(workdir: Path, days: int, seed: int) -> None:
    """Replay a simulated production with drift, alerts and a retrain."""
    from daemon.demo import run_demo

    sys.exit(run_demo(workdir, days=days, seed=seed))


# --alert records findings and queues notifications; the daemon delivers them.
@main.command()
@needs(Needs.STORE)
@click.argument("model")
@click.option("--window", "window", default=None, help="window length, e.g. 24h (default: config)")
@click.option("--alert/--no-alert", default=False, help="hand the findings to the alert policy")
@pass_ctx
def check(ctx: Context, model: str, window: str | None, alert: bool) -> None:
    """Run a model's checks once on its latest window and print a table."""
    from daemon.checking import print_check

    sys.exit(print_check(ctx.settings, model, window=window, alert=alert))


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
    from daemon.onboarding import onboard_command

    sys.exit(onboard_command(ctx.settings, ctx.config_path, name, options, echo=click.echo))


class _ModelOrCommand(Group):
    """`retrain MODEL` and `retrain rollback MODEL`: a first word that is no subcommand
    is a model name, handed to the `now` subcommand."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "now", self.commands["now"], args
        return super().resolve_command(ctx, args)


@main.group(cls=_ModelOrCommand)
def retrain() -> None:
    """Retrain MODEL now (`mlmaint retrain MODEL`), or roll it back."""


@retrain.command("now", hidden=True)
@needs(Needs.STORE)
@click.argument("model")
@click.option("--wait/--no-wait", default=True, show_default=True, help="wait for the job")
@pass_ctx
def retrain_now(ctx: Context, model: str, wait: bool) -> None:
    """Retrain MODEL now, whatever the policy says (the duplicate and cap guards hold)."""
    from daemon.retraining import retrain_command

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

    from daemon.retraining import rollback_command

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
    from daemon.retraining import unpin_command

    sys.exit(unpin_command(ctx.settings, model, echo=click.echo))


@main.command()
@needs(Needs.STORE)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "cyclonedx"]),
    default="table",
    show_default=True,
)
@pass_ctx
def frameworks(ctx: Context, fmt: str) -> None:
    """Scan the configured environments for outdated and vulnerable frameworks.

    Exit status: 0 clean, 1 findings, 2 when the scan itself failed.
    """
    from datetime import UTC, datetime

    from daemon.frameworks.cli import run_command

    text, errors, status = run_command(ctx.settings, fmt, datetime.now(UTC))
    if text:
        click.echo(text)
    for line in errors:
        click.echo(line, err=True)
    sys.exit(status)


# --send queues the summary and the email in the outbox; the daemon delivers them.
@main.command()
@needs(Needs.STORE)
@click.option("--week", default=None, help="ISO week, e.g. 2026-W47 (default: last week)")
@click.option("--send", is_flag=True, help="also queue the Slack summary and the email")
@pass_ctx
def report(ctx: Context, week: str | None, send: bool) -> None:
    """Build the weekly maintenance report and print its path."""
    from daemon.report.deliver import run_report_command

    sys.exit(run_report_command(ctx.settings, week, send=send))


@main.command()
@needs(Needs.STORE)
@pass_ctx
def status(ctx: Context) -> None:
    """Print the daemon's state from the store; exit 69 when the store cannot be read."""
    from daemon.leader import describe_leader
    from daemon.metrics import read_state
    from daemon.service import format_status
    from daemon.store.engine import safe_url

    engine = ctx.engine()
    try:
        try:
            leader = describe_leader(engine)
        except Exception as exc:  # the store may be down: say so, still print the rest
            leader = f"unknown ({type(exc).__name__})"
        state = read_state(engine)
        click.echo(format_status(engine, leader, state=state))
        if state.error:
            # A script or a monitor that runs `mlmaint status` must not read this as fine.
            click.echo(
                f"mlmaint status: cannot read the store {safe_url(engine)}: {state.error}",
                err=True,
            )
            sys.exit(EX_UNAVAILABLE)
    finally:
        engine.dispose()


# A worker talks to the broker only: the daemon's store and channels are not its business.
@main.command()
@needs(Needs.NOTHING)
@click.option("--concurrency", type=int, default=1, show_default=True, help="one per GPU")
@click.option("--hostname", default=None, help="Celery node name (default: celery@host)")
@pass_ctx
def worker(ctx: Context, concurrency: int, hostname: str | None) -> None:
    """Start a Celery worker that trains on this machine's GPU."""
    from daemon.retraining import worker_command

    worker_command(ctx.settings, concurrency=concurrency, hostname=hostname)


@main.group()
def alerts() -> None:
    """Firing alerts, acknowledgements and channel tests."""


@alerts.command("list")
@needs(Needs.STORE)
@pass_ctx
def alerts_list(ctx: Context) -> None:
    """List firing alerts."""
    from daemon.alerts.cli import list_command

    sys.exit(list_command(ctx.settings))


@alerts.command("ack")
@needs(Needs.STORE)
@click.argument("alert_id", type=int)
@click.option("--until", default=None, help="ISO time or duration ('4h', '2d'); default: resolve")
@click.option("--note", default=None, help="why it is acknowledged")
@pass_ctx
def alerts_ack(ctx: Context, alert_id: int, until: str | None, note: str | None) -> None:
    """Silence a firing alert's repeats until it resolves or a given time."""
    from daemon.alerts.cli import ack_command

    sys.exit(ack_command(ctx.settings, alert_id, until, note))


@alerts.command("test")
@needs(Needs.STORE | Needs.CHANNELS, channel_option="channel")
@click.option("--channel", "channel", required=True, help="a channel name from [[alerts.channels]]")
@pass_ctx
def alerts_test(ctx: Context, channel: str) -> None:
    """Send a test message through one channel now."""
    from daemon.alerts.cli import test_command

    sys.exit(test_command(ctx.settings, channel))


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
    import shutil

    from daemon.sandbox import (
        SandboxError,
        configured_paths,
        installation_paths,
        missing,
        plan_sandbox,
    )
    from daemon.service import unit_file

    pairs: dict[str, Path] = {}
    for item in credentials:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"expected NAME=PATH, got {item!r}", param_hint="--credential")
        pairs[name] = Path(path).resolve()
    if executable is not None:
        # Another installation (e.g. /opt/mlmaint/.venv): its executable and its venv.
        exec_start = executable.absolute()
        installation = [
            ("the mlmaint executable (--exec)", exec_start),
            ("the venv of --exec", exec_start.parent.parent),
        ]
    else:
        found = shutil.which("mlmaint")
        exe = Path(found) if found else Path(sys.executable).with_name("mlmaint")
        exec_start = exe.resolve() if not exe.is_symlink() else exe.absolute()
        installation = installation_paths(exec_start)
    config = ctx.config_path.resolve()
    settings = ctx.settings
    paths = configured_paths(settings, config=config, installation=installation)
    try:
        sandbox = plan_sandbox(paths)
    except SandboxError as exc:
        click.echo(f"{ctx.config_path}: {exc}", err=True)
        sys.exit(EX_CONFIG)
    text = unit_file(
        exec_start=exec_start,
        config=config,
        settings=settings,
        user=user,
        env_file=env_file,
        credentials=pairs,
        sandbox=sandbox,
    )
    for entry in missing(sandbox):
        click.echo(
            f"warning: {entry.key}: {entry.path} does not exist; create it before starting "
            "the service (systemd does not start a unit whose ReadWritePaths= or BindPaths= "
            "is missing)",
            err=True,
        )
    writes = (*sandbox.read_write, *sandbox.bind)
    if user is None and writes:
        click.echo(
            "warning: DynamicUser=yes allocates the service's user at each start, so it "
            f"cannot own {', '.join(str(e.path) for e in writes)}: pass --user with a "
            "system user that owns them, or keep the daemon's files under /var/lib/mlmaint",
            err=True,
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}; then: systemctl daemon-reload && systemctl enable --now mlmaint")


# --------------------------------------------------------------------------- needs


def commands(
    group: click.Group = main, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every leaf command under `group` with its path of names."""
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
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


if __name__ == "__main__":
    main()
