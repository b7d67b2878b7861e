"""`onboard`: the steps in order, from the registered version to the recorded table."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from daemon.config import Settings
from daemon.onboarding.reference import (
    positive_class,
    record_reference,
    reference_dir,
    reference_kind,
    scored_reference,
)
from daemon.onboarding.registered import (
    dataset_reference,
    encoded_columns,
    flavors,
    load_sklearn,
    parse_model_uri,
    resolve_version,
    signature_columns,
    sklearn_task,
)
from daemon.onboarding.request import (
    FIRST_WINDOW,
    FROM_DATASET,
    Onboarded,
    OnboardError,
    OnboardRequest,
)
from daemon.onboarding.schema import (
    check_reference_columns,
    infer_schema,
    read_frame,
    with_booleans,
)
from daemon.onboarding.table import model_table, render_model, validate_appended
from daemon.store.versions import registry_versions

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from retrain.interface import DataRef

log = logging.getLogger(__name__)


def require_store(engine: Engine) -> None:
    from daemon.store import migrate
    from daemon.store.engine import safe_url

    try:
        current = migrate.current_revision(engine)
    except Exception as exc:
        raise OnboardError(f"the store at {safe_url(engine)} cannot be read: {exc}") from exc
    if current != migrate.head_revision():
        raise OnboardError(
            f"the store at {safe_url(engine)} is at {current or 'no schema'}, not the latest: "
            "run `mlmaint db upgrade` first"
        )


def onboard(
    request: OnboardRequest,
    settings: Settings,
    engine: Engine,
    *,
    now: datetime,
    config_path: Path | None,
    write: bool = True,
) -> Onboarded:
    """Read the model, build its table and reference, record both (unless not `write`).

    With `write`, the reference is recorded (tags, store row) and the table
    appended to `config_path`; without, nothing is changed and the table is
    returned to be printed.
    """
    import mlflow

    from daemon.retraining.specs import tracking_uri
    from retrain import registry
    from retrain.snapshot import write_snapshot

    name, alias = parse_model_uri(request.model_uri)
    if name != request.name:
        raise OnboardError(
            f"model {request.name!r} and --model-uri {request.model_uri!r} differ: mlmaint "
            "registers retrained versions under the model's own name, so name it like the "
            f"registered model ({name!r})"
        )
    if any(m.name == name for m in settings.models):
        raise OnboardError(f"model {name!r} is configured already in {config_path}")
    if write:
        require_store(engine)
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow_client = registry.client(uri)
    version = resolve_version(mlflow_client, name, alias, uri)
    version_uri = f"models:/{name}/{version.version}"
    notes: list[str] = []

    signature = signature_columns(version_uri)
    estimator = load_sklearn(version_uri) if "sklearn" in flavors(version_uri) else None
    task = request.task or (sklearn_task(estimator) if estimator is not None else None)
    if task is None:
        raise OnboardError(
            f"{version_uri}: cannot tell its task from the model: give --task "
            f"({', '.join(t.value for t in TaskKind)})"
        )
    sample = read_frame(request.sample, "sample") if request.sample else None
    encoded = encoded_columns(estimator) if estimator is not None else set()
    schema = infer_schema(request, task, signature, sample, encoded)

    reference_frame: pd.DataFrame | None = None
    reference_source: str | None = None
    if request.reference == FROM_DATASET:
        path, reference_source = dataset_reference(mlflow_client, version)
        reference_frame = read_frame(path, f"the logged {reference_source}")
    elif request.reference not in (None, FIRST_WINDOW):
        path = Path(str(request.reference))
        reference_frame = read_frame(path, "reference")
        reference_source = str(path)
    if reference_frame is not None:
        check_reference_columns(reference_frame, schema, str(reference_source))
        schema = with_booleans(schema, reference_frame)
    positive = (
        positive_class(request, estimator, reference_frame, schema.roles["label"])
        if task is TaskKind.BINARY
        else None
    )

    snapshot: DataRef | None = None
    scored: pd.DataFrame | None = None
    columns: list[str] = []
    has_score = task is TaskKind.BINARY
    if reference_frame is not None:
        scored, columns, has_score = scored_reference(
            reference_frame, schema, task, positive, version_uri
        )
        if schema.roles["label"] not in scored.columns:
            notes.append(
                "the reference has no labels: the performance check has no baseline until "
                "a retrain records one"
            )
    label = schema.roles["label"]
    if sample is not None and label in sample.columns and label not in schema.ignore:
        notes.append(
            f"the sample holds labels ({label!r}): sampling stores each with its prediction, "
            "and the realized performance reads them (a label pushed later for an id "
            "replaces it)"
        )
    if settings.service.api_token is None and (request.labels == "http" or request.logs is None):
        notes.append(
            "service.api_token is not set: the HTTP API refuses pushed labels and "
            "predictions until it is"
        )
    if task is TaskKind.BINARY and not has_score:
        notes.append(f"{version_uri} gives labels only: no score column, no estimated performance")
    table = model_table(request, task, schema, alias, positive, estimator, has_score, now)
    header = [
        f"Written by `mlmaint onboard` on {now:%Y-%m-%d %H:%M} UTC for {request.model_uri} "
        f"(version {version.version}).",
    ]
    if reference_source is not None:
        header.append(f"Reference: {reference_source}.")
    text = render_model(table, header)
    existing = (
        config_path.read_text(encoding="utf-8") if config_path and config_path.exists() else ""
    )
    full = validate_appended(config_path, existing, text, name)
    written: Path | None = None
    if write:
        # Only a table that validates gets its reference written and recorded.
        if scored is not None:
            snapshot = write_snapshot(scored, reference_dir(settings, name), columns)
        # Every version the registry holds, not the serving one only: one registered
        # by hand before onboarding belongs to the model's history too.
        versions = registry_versions(mlflow_client, name)
        record_reference(engine, mlflow_client, name, str(version.version), snapshot, now, versions)
        if config_path is not None:
            config_path.write_text(full, encoding="utf-8")
            written = config_path
    kind = reference_kind(request)
    log.debug("onboarded %s version %s (reference %s)", name, version.version, kind)
    return Onboarded(
        name=name,
        version=str(version.version),
        alias=alias,
        table=text,
        reference_kind=kind,
        reference=snapshot,
        reference_source=reference_source,
        written_to=written,
        notes=tuple(notes),
    )
