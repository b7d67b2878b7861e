"""`mlmaint onboard`: the command line's options as a request, the outcome printed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from checks.interface import TaskKind
from daemon.config import FileFormat, Settings
from daemon.onboarding.onboard import onboard
from daemon.onboarding.request import ROLES, OnboardError, OnboardRequest


def _when(text: object, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as exc:
        raise OnboardError(
            f"{option} {text!r}: expected an ISO time like 2026-03-01T00:00Z"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def request_of(name: str, options: Mapping[str, object]) -> OnboardRequest:
    """The command line's options as a request (click has checked the choices)."""

    def text(key: str) -> str | None:
        value = options.get(key)
        return None if value is None else str(value)

    def many(key: str) -> tuple[str, ...]:
        value = options.get(key) or ()
        return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()

    columns = {
        role: str(options[f"{role}_column"])
        for role in ROLES
        if options.get(f"{role}_column") is not None
    }
    task, fmt = text("task"), text("log_format")
    labels = text("labels") or "http"
    return OnboardRequest(
        name=name,
        model_uri=text("model_uri") or f"models:/{name}@champion",
        task=TaskKind(task) if task else None,
        sample=Path(str(options["sample"])) if options.get("sample") else None,
        reference=text("reference"),
        reference_start=_when(options.get("reference_start"), "--reference-start"),
        reference_end=_when(options.get("reference_end"), "--reference-end"),
        logs=text("logs"),
        log_format=FileFormat(fmt) if fmt else None,
        labels="none" if labels == "none" else "http",
        columns=columns,
        numeric=many("numeric"),
        categorical=many("categorical"),
        ignore=many("ignore"),
        positive=text("positive"),
        metric=text("metric"),
    )


def onboard_command(
    settings: Settings,
    config_path: Path,
    name: str,
    options: Mapping[str, object],
    *,
    echo: Callable[..., None],
    now: datetime | None = None,
) -> int:
    """`mlmaint onboard`: 0 when onboarded (or printed, with --dry-run), 1 on an error."""
    import warnings

    from daemon.store.engine import make_engine

    dry = bool(options.get("dry_run"))
    engine = make_engine(
        settings.store.url, settings.store.password_secret(), settings.store.pool_size
    )
    try:
        with warnings.catch_warnings():
            # MLflow's advice on type hints and sources is not the user's problem here.
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            done = onboard(
                request_of(name, options),
                settings,
                engine,
                now=now or datetime.now(UTC),
                config_path=config_path,
                write=not dry,
            )
    except OnboardError as exc:
        echo(f"onboard {name}: {exc}", err=True)
        return 1
    except Exception as exc:
        # A scoring or registry failure: named with the model, not a traceback.
        from retrain.interface import RetrainError

        if not isinstance(exc, RetrainError):
            raise
        echo(f"onboard {name}: {exc}", err=True)
        return 1
    finally:
        engine.dispose()
    echo(done.table, nl=False)
    if dry:
        echo("(dry run: nothing recorded, the config file is unchanged)", err=True)
        return 0
    echo(f"appended to {done.written_to}: valid", err=True)
    if done.reference is not None:
        echo(
            f"{name}: serving version {done.version} ({done.alias}); reference "
            f"{done.reference.uri} ({done.reference.rows} rows, sha256 "
            f"{done.reference.sha256[:12]}) from {done.reference_source}",
            err=True,
        )
    elif done.reference_kind == "window":
        echo(
            f"{name}: serving version {done.version} ({done.alias}); the reference is the "
            "first window of production (checks read 'insufficient data' until it holds rows)",
            err=True,
        )
    else:
        echo(
            f"{name}: serving version {done.version} ({done.alias}); no reference: "
            "it is not monitored until one is given (--reference)",
            err=True,
        )
    for note in done.notes:
        echo(f"note: {note}", err=True)
    pushed_labels = options.get("labels") != "none"
    for line in next_steps(
        settings, name, logs=options.get("logs") is not None, labels=pushed_labels
    ):
        echo(line, err=True)
    return 0


def next_steps(settings: Settings, name: str, *, logs: bool, labels: bool) -> tuple[str, ...]:
    """What to do after onboarding, as it really happens: `mlmaint check` right away
    reads a window the daemon has not sampled yet (0 rows). Pushed rows and labels are
    named by the routes the daemon serves them on (daemon/api/ingest.py)."""
    from daemon.api.ingest import LABELS, PREDICTIONS
    from daemon.checking.backfill import span_text

    service = settings.service
    host = f"[{service.http_host}]" if ":" in service.http_host else service.http_host
    base = f"http://{host}:{service.http_port}"
    backfill = settings.checks.backfill
    source = (
        "samples the logs"
        if logs
        else f"takes the predictions pushed to POST {base}{PREDICTIONS.format(name=name)}"
    )
    if backfill > timedelta(0):
        first = (
            f"next: mlmaint run: it {source}, then checks the last "
            f"{span_text(backfill)} of them ([checks] backfill) and goes on on schedule"
        )
    else:
        first = f"next: mlmaint run: it {source} and checks on schedule ([checks] backfill is 0)"
    steps = [first]
    if labels:
        steps.append(
            f"  labels, as they arrive: POST {base}{LABELS.format(name=name)} "
            "(Authorization: Bearer with service.api_token)"
        )
    steps.append(
        f"  or, once rows are sampled (mlmaint status): "
        f"mlmaint check {name} --from YYYY-MM-DD --to YYYY-MM-DD"
    )
    return tuple(steps)
