"""MLflow: experiments, registered versions, the serving alias, roll back.

Versions carry the job id, the data digest and the trigger as tags; the serving
alias (not a stage: stages are deprecated) marks the champion, and each promoted
version remembers which version it replaced, so a roll back needs no history
of our own.

Decisions about a version (promoted, kept the champion, rolled back, serving
again) are history: each goes under a new numbered tag (`mlmaint.decision.0001`,
...), never over an earlier one; `mlmaint.decision` repeats the latest for
readers that want only that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrain.interface import RegistryError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

TAG_JOB = "mlmaint.job_id"
TAG_DIGEST = "mlmaint.data_digest"
TAG_TRIGGER = "mlmaint.trigger"
TAG_SNAPSHOT = "mlmaint.snapshot_uri"
# The scored holdout the version's checks compare with.
TAG_REFERENCE = "mlmaint.reference_uri"
TAG_REFERENCE_DIGEST = "mlmaint.reference_sha256"
TAG_CODE = "mlmaint.code_version"
TAG_FRAMEWORKS = "mlmaint.framework_versions"
TAG_PREVIOUS = "mlmaint.previous_champion"
TAG_DECISION = "mlmaint.decision"
# Numbered decision tags: TAG_DECISION + ".0001", ".0002", ...
DECISION_DIGITS = 4


def client(tracking_uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def ensure_experiment(mlflow_client: MlflowClient, name: str, artifact_location: str) -> str:
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    # Explicit artifact location: otherwise artifacts land under the working directory.
    return str(mlflow_client.create_experiment(name, artifact_location=artifact_location))


def by_alias(mlflow_client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise RegistryError(f"cannot read alias {alias!r} of {name!r}: {exc}") from exc


def promote(
    mlflow_client: MlflowClient, name: str, alias: str, version: str, previous: str | None
) -> None:
    if previous is not None:
        mlflow_client.set_model_version_tag(name, version, TAG_PREVIOUS, previous)
    mlflow_client.set_registered_model_alias(name, alias, version)


def decisions(tags: dict[str, str]) -> list[str]:
    """A version's decisions, oldest first, from its tags."""
    prefix = TAG_DECISION + "."
    numbered = sorted(
        (int(key.removeprefix(prefix)), value)
        for key, value in tags.items()
        if key.startswith(prefix) and key.removeprefix(prefix).isdigit()
    )
    return [value for _, value in numbered]


def record_decision(mlflow_client: MlflowClient, name: str, version: str, text: str) -> str:
    """Add a decision to a version's history; returns the tag key it went under.

    Earlier decisions are never overwritten: each takes the next number.
    """
    from mlflow.exceptions import MlflowException

    try:
        tags = dict(mlflow_client.get_model_version(name, version).tags)
        prefix = TAG_DECISION + "."
        taken = [
            int(key.removeprefix(prefix))
            for key in tags
            if key.startswith(prefix) and key.removeprefix(prefix).isdigit()
        ]
        key = f"{prefix}{max(taken, default=0) + 1:0{DECISION_DIGITS}d}"
        mlflow_client.set_model_version_tag(name, version, key, text)
        mlflow_client.set_model_version_tag(name, version, TAG_DECISION, text)
    except MlflowException as exc:
        raise RegistryError(
            f"cannot record a decision on {name!r} version {version}: {exc}"
        ) from exc
    return key


@dataclass(frozen=True, kw_only=True)
class Rollback:
    model: str
    from_version: str
    to_version: str
    # The rolled-back-to version's reference (its tags); None where it has none.
    reference_uri: str | None
    reference_sha256: str | None


def rollback(tracking_uri: str, name: str, alias: str = "champion", *, note: str = "") -> Rollback:
    """Move `alias` back to the version the current champion replaced.

    Both versions get the decision in their history; `note` (who, when, the pin)
    is added to it.
    """
    mlflow_client = client(tracking_uri)
    current = by_alias(mlflow_client, name, alias)
    if current is None:
        raise RegistryError(f"model {name!r} has no {alias!r} version to roll back")
    previous = current.tags.get(TAG_PREVIOUS)
    if previous is None:
        raise RegistryError(
            f"{name!r} version {current.version} replaced no earlier champion: nothing to roll "
            "back to"
        )
    target = mlflow_client.get_model_version(name, previous)
    mlflow_client.set_registered_model_alias(name, alias, previous)
    suffix = f" ({note})" if note else ""
    record_decision(
        mlflow_client, name, str(current.version), f"rolled back to version {previous}{suffix}"
    )
    record_decision(
        mlflow_client,
        name,
        str(previous),
        f"serving again: rolled back from version {current.version}{suffix}",
    )
    return Rollback(
        model=name,
        from_version=str(current.version),
        to_version=str(previous),
        reference_uri=target.tags.get(TAG_REFERENCE, target.tags.get(TAG_SNAPSHOT)),
        reference_sha256=target.tags.get(TAG_REFERENCE_DIGEST, target.tags.get(TAG_DIGEST)),
    )


def version_tags(
    job_id: str,
    digest: str,
    trigger: str,
    snapshot_uri: str,
    code_version: dict[str, str],
    frameworks: dict[str, str],
) -> dict[str, str]:
    return {
        TAG_JOB: job_id,
        TAG_DIGEST: digest,
        TAG_TRIGGER: trigger,
        TAG_SNAPSHOT: snapshot_uri,
        TAG_CODE: json.dumps(code_version, sort_keys=True),
        TAG_FRAMEWORKS: json.dumps(frameworks, sort_keys=True),
    }


def version_with_digest(mlflow_client: MlflowClient, name: str, digest: str) -> str | None:
    """The earliest version of `name` trained on the snapshot `digest`, or None.

    A snapshot's digest is its content: a version that carries it was trained
    on exactly these rows, so training again would only register a twin.
    """
    from mlflow.exceptions import MlflowException

    # Backticks: the tag key holds a dot, which the filter grammar otherwise reads as a path.
    query = f"name = '{name}' and tags.`{TAG_DIGEST}` = '{digest}'"
    try:
        found = mlflow_client.search_model_versions(query)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise RegistryError(f"cannot search the versions of {name!r}: {exc}") from exc
    versions = sorted(int(v.version) for v in found)
    return str(versions[0]) if versions else None
