"""Onboarding: monitor a model that already serves, one mlmaint never trained.

`mlmaint onboard NAME --model-uri models:/NAME@ALIAS ...` reads the registered
version behind the alias, and from it (and from a sample of the prediction log
when given) writes the model's `[[models]]` table: task, source, labels,
schema, a retrain section fit for the model. It appends the table to the
config file after validating the whole file with it, so a table that would
not load is never written.

The reference is recorded for the serving version, the same way a retrain
records one (contracts: version tags `mlmaint.reference_uri` /
`mlmaint.reference_sha256` and the store's `models` row), so
`[models.reference] kind = "snapshot"` serves it now and a rollback to this
version restores it later. It comes from a file (Parquet, CSV), from the
dataset the version's MLflow run logged, or from a fixed first window of
production (`kind = "window"`). A file or dataset reference is typed like every
window (checks.typed), scored by the champion when it holds no predictions
(so the performance baseline and the calibration of scores exist), and
written as a content-hashed Parquet under the state dir.

Every failure is an `OnboardError` naming what is wrong and what to give.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from checks.interface import TaskKind
from daemon.config import RESERVED_COLUMNS, ConfigError, FileFormat, Needs, Settings, parse_config

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion
    from sqlalchemy import Engine

    from retrain.interface import DataRef

log = logging.getLogger(__name__)

# How `--reference` names the two references that are not files.
FROM_DATASET = "mlflow-dataset"
FIRST_WINDOW = "first-window"

_URI_RE = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[A-Za-z][A-Za-z0-9_-]{0,63})$")
# Column names a prediction log commonly uses for each role, in order of preference.
_ROLE_NAMES: Mapping[str, tuple[str, ...]] = {
    "id": ("prediction_id", "request_id", "id"),
    "timestamp": ("timestamp", "ts", "time", "created_at"),
    "prediction": ("prediction", "predicted", "y_pred", "pred"),
    "score": ("score", "probability", "proba", "prob"),
    "label": ("label", "target", "y"),
    "latency": ("latency_ms", "latency"),
    "error": ("error",),
    "memory": ("memory_mb",),
}
_ROLES = tuple(_ROLE_NAMES)
# MLflow signature types (mlflow.types.DataType names).
_NUMERIC_TYPES = frozenset({"integer", "long", "float", "double"})
_CATEGORICAL_TYPES = frozenset({"boolean", "string"})
# Dataset contexts whose rows the model did not train on, preferred for a reference:
# scores on training rows are too confident for an honest baseline and calibration.
_HELD_OUT_CONTEXTS = ("eval", "evaluation", "validation", "test", "holdout")
_CONTEXT_TAG = "mlflow.data.context"
# Encoders whose input columns are categorical whatever their dtype.
_ENCODERS = frozenset({"OneHotEncoder", "OrdinalEncoder", "TargetEncoder"})


class OnboardError(Exception):
    """Onboarding cannot go on; the message says what is wrong and what to give."""


@dataclass(frozen=True, kw_only=True)
class OnboardRequest:
    """What `mlmaint onboard` was asked: the model, where its data is, overrides."""

    name: str
    model_uri: str
    task: TaskKind | None = None
    sample: Path | None = None
    # A file path, FROM_DATASET or FIRST_WINDOW; None: no reference (the model is
    # then reported as not monitored until one is recorded).
    reference: str | None = None
    reference_start: datetime | None = None
    reference_end: datetime | None = None
    logs: str | None = None
    log_format: FileFormat | None = None
    labels: Literal["http", "none"] = "http"
    # Role -> column name given on the command line ("label": "churned").
    columns: Mapping[str, str] = field(default_factory=dict)
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    positive: str | None = None
    metric: str | None = None


@dataclass(frozen=True, kw_only=True)
class Onboarded:
    """What onboarding did: the table, the version and the reference it recorded."""

    name: str
    version: str
    alias: str
    table: str
    reference_kind: str
    reference: DataRef | None = None
    reference_source: str | None = None
    written_to: Path | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class _Schema:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    roles: Mapping[str, str]
    ignore: tuple[str, ...]

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)


# --------------------------------------------------------------------------- MLflow


def parse_model_uri(uri: str) -> tuple[str, str]:
    """`models:/NAME@ALIAS` -> (NAME, ALIAS); mlmaint follows an alias, not a number."""
    match = _URI_RE.match(uri.strip())
    if match is None:
        raise OnboardError(
            f"--model-uri {uri!r}: expected models:/NAME@ALIAS (e.g. models:/churn@champion); "
            "mlmaint follows the alias that marks the serving version"
        )
    return match.group("name"), match.group("alias")


def resolve_version(mlflow_client: MlflowClient, name: str, alias: str, where: str) -> ModelVersion:
    """The version `alias` points at, or an error naming what the registry holds."""
    from mlflow.exceptions import MlflowException

    try:
        registered = mlflow_client.get_registered_model(name)
    except MlflowException as exc:
        try:
            known = sorted(m.name for m in mlflow_client.search_registered_models())
        except MlflowException:
            known = []
        raise OnboardError(
            f"models:/{name}@{alias}: no registered model {name!r} in the MLflow registry at "
            f"{where} (registered: {', '.join(known) or 'none'}); check [mlflow] tracking_uri"
        ) from exc
    aliases = dict(registered.aliases or {})
    if alias not in aliases:
        try:
            versions = sorted(
                (str(v.version) for v in mlflow_client.search_model_versions(f"name='{name}'")),
                key=int,
            )
        except MlflowException:
            versions = []
        have = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
        raise OnboardError(
            f"models:/{name}@{alias}: model {name!r} has no alias {alias!r} (aliases: {have}; "
            f"versions: {', '.join(versions) or 'none'}); set it on the serving version, e.g. "
            f"MlflowClient().set_registered_model_alias({name!r}, {alias!r}, VERSION)"
        )
    return mlflow_client.get_model_version_by_alias(name, alias)


def signature_columns(model_uri: str) -> list[tuple[str, str]] | None:
    """(name, MLflow type) of the signature's named input columns; None without one."""
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri).signature
    if signature is None or signature.inputs is None:
        return None
    inputs = signature.inputs
    if inputs.is_tensor_spec() or not inputs.has_input_names():
        raise OnboardError(
            f"{model_uri}: its signature takes tensors or unnamed columns, which name no "
            "features: give --sample FILE (a few rows of its prediction log)"
        )
    out: list[tuple[str, str]] = []
    for spec in inputs.inputs:
        kind = getattr(spec.type, "name", None)
        out.append((str(spec.name), kind if isinstance(kind, str) else type(spec.type).__name__))
    return out


def flavors(model_uri: str) -> Mapping[str, object]:
    from mlflow.models import get_model_info

    return dict(get_model_info(model_uri).flavors or {})


def load_sklearn(model_uri: str) -> object:
    import mlflow.sklearn

    return mlflow.sklearn.load_model(model_uri)


def encoded_columns(estimator: object) -> set[str]:
    """Input columns a scikit-learn Pipeline routes to an encoder: categorical by design.

    An int-coded category (plan 1, 2, 3) is a `long` in the signature: only the
    model's own ColumnTransformer says it is a category.
    """
    found: set[str] = set()

    def walk(node: object, columns: Sequence[object] | None) -> None:
        if type(node).__name__ in _ENCODERS and columns is not None:
            found.update(str(c) for c in columns if isinstance(c, str))
        for step in getattr(node, "steps", None) or ():
            walk(step[1], columns)
        items = getattr(node, "transformers_", None) or getattr(node, "transformers", None) or ()
        for item in items:
            if isinstance(item, tuple) and len(item) == 3:
                cols = item[2]
                # A list, an Index or an array of names; a slice or a callable names none.
                named = None if isinstance(cols, str) or not hasattr(cols, "__iter__") else cols
                walk(item[1], list(named) if named is not None else None)

    walk(estimator, None)
    return found


def final_estimator(estimator: object) -> object:
    steps = getattr(estimator, "steps", None)
    return final_estimator(steps[-1][1]) if steps else estimator


def sklearn_task(estimator: object) -> TaskKind | None:
    model = final_estimator(estimator)
    classes = getattr(model, "classes_", None)
    if classes is not None:
        return TaskKind.BINARY if len(classes) == 2 else TaskKind.MULTICLASS
    estimator_type = getattr(model, "_estimator_type", None)
    if estimator_type == "regressor":
        return TaskKind.REGRESSION
    try:
        from sklearn.base import is_regressor

        return TaskKind.REGRESSION if is_regressor(model) else None
    except ImportError:
        return None


def retrain_section(estimator: object | None, positive: str | None) -> dict[str, object]:
    """sklearn: retrain the model's own estimator class with its non-default scalar params."""
    if estimator is None:
        # No trainer mlmaint can know: alert only, until someone names one.
        return {"enabled": False}
    import inspect

    model = final_estimator(estimator)
    cls = type(model)
    params: dict[str, object] = {}
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        defaults = {
            k: p.default
            for k, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        for key, value in sorted(get_params(deep=False).items()):
            simple = isinstance(value, bool | int | float | str) and not (
                isinstance(value, float) and value != value
            )
            if simple and key in defaults and defaults[key] != value:
                params[key] = value
    if positive is not None:
        params["positive_label"] = positive
    section: dict[str, object] = {
        "enabled": True,
        "trainer": "sklearn",
        "target": f"{cls.__module__.split('._')[0]}.{cls.__name__}",
    }
    if params:
        section["params"] = params
    return section


# --------------------------------------------------------------------------- frames


def read_frame(path: Path, what: str) -> pd.DataFrame:
    """A sample or reference file by its suffix: .parquet/.pq, .csv, .jsonl/.ndjson/.json."""
    import pandas as pd

    suffix = path.suffix.lower()
    if not path.exists():
        raise OnboardError(f"{what} {path}: file not found")
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".jsonl", ".ndjson", ".json"):
            return pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    except (OSError, ValueError) as exc:
        raise OnboardError(f"{what} {path}: cannot read it: {exc}") from exc
    raise OnboardError(f"{what} {path}: unknown format {suffix!r}; give .parquet, .csv or .jsonl")


def _log_format(glob: str, given: FileFormat | None) -> FileFormat:
    if given is not None:
        return given
    suffix = glob.rsplit(".", 1)[-1].lower() if "." in glob else ""
    for fmt in FileFormat:
        if suffix == fmt.value or (fmt is FileFormat.JSONL and suffix == "ndjson"):
            return fmt
    raise OnboardError(f"--logs {glob!r}: cannot tell its format; give --log-format")


def _roles(request: OnboardRequest, task: TaskKind, seen: Iterable[str] | None) -> dict[str, str]:
    """Role -> column: given on the command line, else found in the sample, else default."""
    columns = set(seen) if seen is not None else None
    roles: dict[str, str] = {}
    for role in _ROLES:
        if role in request.columns:
            roles[role] = request.columns[role]
            continue
        names = _ROLE_NAMES[role]
        if columns is None:
            # No sample: the names the config documents as defaults.
            if role in ("id", "timestamp", "prediction", "label") or (
                role == "score" and task is TaskKind.BINARY
            ):
                roles[role] = names[0]
            continue
        hit = next((n for n in names if n in columns), None)
        if hit is not None:
            roles[role] = hit
    if columns is not None:
        for role in ("id", "timestamp"):
            if role not in roles:
                raise OnboardError(
                    f"sample: no {role} column (looked for {', '.join(_ROLE_NAMES[role])}); "
                    f"name it with --{role} COLUMN"
                )
    roles.setdefault("prediction", "prediction")
    roles.setdefault("label", "label")
    if task is not TaskKind.BINARY:
        roles.pop("score", None)
    return roles


def infer_schema(
    request: OnboardRequest,
    task: TaskKind,
    signature: list[tuple[str, str]] | None,
    sample: pd.DataFrame | None,
    encoded: set[str],
) -> _Schema:
    """Features from the signature (or the sample), roles from the sample (or defaults)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    roles = _roles(request, task, None if sample is None else list(sample.columns))
    role_columns = set(roles.values())
    numeric: list[str] = []
    categorical: list[str] = []
    ignore = list(request.ignore)
    forced_num, forced_cat = set(request.numeric), set(request.categorical)
    if signature is not None:
        for name, kind in signature:
            if name in ignore:
                continue
            if name in forced_cat or (name not in forced_num and name in encoded):
                categorical.append(name)
            elif name in forced_num or kind in _NUMERIC_TYPES:
                numeric.append(name)
            elif kind in _CATEGORICAL_TYPES:
                categorical.append(name)
            else:
                raise OnboardError(
                    f"{request.model_uri}: input {name!r} has type {kind}, which mlmaint does not "
                    "monitor; give --numeric, --categorical or --ignore for it"
                )
        if sample is not None:
            missing = [c for c in (*numeric, *categorical) if c not in sample.columns]
            if missing:
                raise OnboardError(
                    f"sample {request.sample}: the model's inputs {', '.join(missing)} are not in "
                    "it; the log must hold every feature under the signature's name"
                )
            known = {*numeric, *categorical, *role_columns, *ignore}
            ignore.extend(c for c in sample.columns if c not in known)
    elif sample is not None:
        for name in sample.columns:
            if name in role_columns or name in ignore:
                continue
            column = sample[name]
            if name in forced_cat or (name not in forced_num and name in encoded):
                categorical.append(name)
            elif name in forced_num or (is_numeric_dtype(column) and not is_bool_dtype(column)):
                numeric.append(name)
            else:
                categorical.append(name)
    else:
        raise OnboardError(
            f"{request.model_uri}: the model was logged without a signature, so its features "
            "are unknown: give --sample FILE (a few rows of its prediction log), or log the "
            "model with a signature"
        )
    unknown = sorted((forced_num | forced_cat) - {*numeric, *categorical})
    if unknown:
        raise OnboardError(
            f"--numeric/--categorical name {', '.join(unknown)}, which the model does not take"
        )
    clash = sorted({*numeric, *categorical} & (role_columns | set(RESERVED_COLUMNS)))
    if clash:
        raise OnboardError(
            f"features {', '.join(clash)} clash with the prediction log's id, timestamp, "
            "prediction, score or label columns: name those with --id, --timestamp, --prediction, "
            "--score or --label"
        )
    return _Schema(
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        roles=roles,
        ignore=tuple(dict.fromkeys(ignore)),
    )


def check_reference_columns(frame: pd.DataFrame, schema: _Schema, where: str) -> None:
    """Every feature present; nothing the schema does not know (a renamed column, usually)."""
    missing = [c for c in schema.features if c not in frame.columns]
    if missing:
        raise OnboardError(f"reference {where}: features {', '.join(missing)} are missing from it")
    known = {*schema.features, *schema.roles.values(), *schema.ignore, "prediction", "score"}
    extra = [str(c) for c in frame.columns if c not in known]
    if extra:
        raise OnboardError(
            f"reference {where}: columns {', '.join(extra)} are not in the model's schema "
            f"(features: {', '.join(schema.features)}): give --label COLUMN if one is the "
            "label, --ignore COLUMN to leave one out (or --numeric/--categorical to monitor it)"
        )


def dataset_reference(mlflow_client: MlflowClient, version: ModelVersion) -> tuple[Path, str]:
    """The local file of the dataset the version's run logged (held-out data preferred)."""
    import mlflow.data
    from mlflow.exceptions import MlflowException

    what = f"models:/{version.name}/{version.version}"
    if not version.run_id:
        raise OnboardError(
            f"{what} was not logged in an MLflow run, so it has no logged dataset: "
            "give --reference FILE"
        )
    run_inputs = mlflow_client.get_run(version.run_id).inputs
    inputs = list(run_inputs.dataset_inputs or []) if run_inputs is not None else []
    if not inputs:
        raise OnboardError(
            f"run {version.run_id} of {what} logged no dataset (mlflow.log_input): "
            "give --reference FILE"
        )

    def rank(item: object) -> int:
        tags = {t.key: t.value for t in getattr(item, "tags", None) or []}
        return 0 if tags.get(_CONTEXT_TAG, "") in _HELD_OUT_CONTEXTS else 1

    problems: list[str] = []
    for item in sorted(inputs, key=rank):
        dataset = item.dataset
        try:
            local = mlflow.data.get_source(item).load()
        except (MlflowException, NotImplementedError, OSError, TypeError) as exc:
            problems.append(f"{dataset.name} ({dataset.source_type}: {type(exc).__name__})")
            continue
        path = Path(str(local))
        if path.is_file():
            tags = {t.key: t.value for t in item.tags or []}
            context = tags.get(_CONTEXT_TAG, "no context")
            return path, f"dataset {dataset.name!r} ({context}) of run {version.run_id}"
        problems.append(f"{dataset.name} ({dataset.source_type}: {path} is no file)")
    raise OnboardError(
        f"run {version.run_id} of {what}: no logged dataset can be read back as a file "
        f"({'; '.join(problems)}): give --reference FILE"
    )


def _scored(
    frame: pd.DataFrame,
    schema: _Schema,
    task: TaskKind,
    positive: str | None,
    scorer_uri: str,
) -> tuple[pd.DataFrame, list[str], bool]:
    """The reference as a window holds it: features, label, prediction (and score).

    Binary: label and prediction 0/1, score P(positive), as the retrain job writes
    its scored holdouts. Predictions the file holds are kept; otherwise the
    champion scores the rows. Returns the frame, its columns and whether it has a score.
    """
    import numpy as np

    from checks.typed import FrameSchema, canonical_category, type_frame
    from retrain.model_scoring import Output, load_scorer

    label = schema.roles["label"]
    prediction, score = schema.roles["prediction"], schema.roles.get("score")
    out = type_frame(
        frame,
        FrameSchema(
            numeric=schema.numeric,
            categorical=schema.categorical,
            label=label,
            label_numeric=task is TaskKind.REGRESSION,
        ),
    )
    columns = [*schema.features]
    has_label = label in out.columns
    if has_label:
        columns.append(label)
    has_prediction = prediction in out.columns
    has_score = score is not None and score in out.columns
    binary = task is TaskKind.BINARY
    if not has_prediction or (binary and score is not None and not has_score):
        scorer = load_scorer(scorer_uri, TaskKind(task.value), positive)
        predicted = np.asarray(scorer.predict(out.loc[:, list(schema.features)]))
        if binary and scorer.gives is Output.PROBABILITY:
            out["score"] = predicted.astype(np.float64)
            out["prediction"] = (predicted >= 0.5).astype(np.float64)
            has_score = True
        elif binary:
            out["prediction"] = np.asarray(
                [canonical_category(v) == positive for v in predicted], dtype=np.float64
            )
            has_score = False
        elif task is TaskKind.REGRESSION:
            out["prediction"] = predicted.astype(np.float64)
        else:
            out["prediction"] = [canonical_category(v) for v in predicted]
    else:
        rename = {prediction: "prediction"}
        if has_score and score is not None:
            rename[score] = "score"
        out = out.rename(columns=rename)
        if binary:
            out["prediction"] = _zero_one(out["prediction"], positive)
            if has_score:
                out["score"] = out["score"].astype(np.float64)
    if binary and has_label:
        out[label] = _zero_one(out[label], positive)
    columns.append("prediction")
    if binary and has_score:
        columns.append("score")
    return out, columns, has_score


def _zero_one(column: pd.Series, positive: str | None) -> pd.Series:
    """A binary label or prediction as 0.0/1.0 (missing stays NaN): the window's form."""
    import numpy as np

    from checks.typed import canonical_category

    texts = [canonical_category(v) for v in column]
    values = [np.nan if t is None else float(t == positive) for t in texts]
    return column.__class__(values, index=column.index, dtype=np.float64)


def _positive(
    request: OnboardRequest, estimator: object | None, frame: pd.DataFrame | None, label: str
) -> str | None:
    """The positive class as canonical text: given, else the greatest of the model's classes."""
    from checks.typed import canonical_category

    if request.positive is not None:
        return canonical_category(request.positive)
    classes = getattr(final_estimator(estimator), "classes_", None) if estimator else None
    if classes is None and frame is not None and label in frame.columns:
        classes = frame[label].dropna().unique()
    found = () if classes is None else list(classes)
    texts = sorted({t for t in (canonical_category(c) for c in found) if t is not None})
    if not texts:
        raise OnboardError(
            "cannot tell the positive class of this binary model: give --positive LABEL"
        )
    return texts[-1]


# --------------------------------------------------------------------------- TOML


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes are TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def render_model(table: Mapping[str, object], header: Sequence[str] = ()) -> str:
    """One `[[models]]` table: scalars first, then each sub-table as `[models.x.y]`."""
    lines = [f"# {h}" for h in header]
    lines.append("[[models]]")

    def emit(prefix: str, node: Mapping[str, object]) -> None:
        subs = []
        for key, value in node.items():
            if isinstance(value, Mapping) and not _inline(key):
                subs.append((key, value))
            else:
                lines.append(f"{_key(key)} = {_value(value)}")
        for key, value in subs:
            lines.append("")
            lines.append(f"[{prefix}.{_key(key)}]")
            emit(f"{prefix}.{_key(key)}", value)

    emit("models", table)
    return "\n".join(lines) + "\n"


def _inline(key: str) -> bool:
    return key in ("params", "schedule", "categories")


# --------------------------------------------------------------------------- recording


def _reference_dir(settings: Settings, name: str) -> Path:
    return (settings.service.state_dir / "references" / name).resolve()


def record_reference(
    engine: Engine,
    mlflow_client: MlflowClient | None,
    name: str,
    version: str,
    reference: DataRef | None,
    now: datetime,
) -> None:
    """The serving version and its reference, on the version's tags and the models row."""
    from sqlalchemy.orm import Session

    from daemon.store.models import ensure_model
    from daemon.store.tables import Model
    from retrain import registry

    if mlflow_client is not None and reference is not None:
        mlflow_client.set_model_version_tag(name, version, registry.TAG_REFERENCE, reference.uri)
        mlflow_client.set_model_version_tag(
            name, version, registry.TAG_REFERENCE_DIGEST, reference.sha256
        )
    if mlflow_client is not None:
        registry.record_decision(
            mlflow_client,
            name,
            version,
            "onboarded by mlmaint"
            + (f": reference {reference.sha256[:12]}" if reference else ": no reference file"),
        )
    with Session(engine) as session, session.begin():
        row = session.get_one(Model, ensure_model(session, name, now))
        row.current_version = version
        if reference is not None:
            row.reference_uri = reference.uri
            row.reference_sha256 = reference.sha256


def _require_store(engine: Engine) -> None:
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


def validate_appended(config_path: Path | None, existing: str, table: str, name: str) -> str:
    """The config file's text with the table appended, validated as a whole."""
    text = existing.rstrip("\n") + ("\n\n" if existing.strip() else "") + table
    source = str(config_path) if config_path else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OnboardError(
            f"{source}: the file with the new table is not valid TOML: {exc}"
        ) from exc
    try:
        # Secrets are resolved by the commands that use them: here the shape is checked.
        parse_config(data, source, needs=Needs.NOTHING)
    except ConfigError as exc:
        raise OnboardError(f"the table for {name} does not validate: {exc}") from exc
    return text


# --------------------------------------------------------------------------- onboarding


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
        _require_store(engine)
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
    positive = (
        _positive(request, estimator, reference_frame, schema.roles["label"])
        if task is TaskKind.BINARY
        else None
    )

    snapshot: DataRef | None = None
    scored: pd.DataFrame | None = None
    columns: list[str] = []
    has_score = task is TaskKind.BINARY
    if reference_frame is not None:
        scored, columns, has_score = _scored(reference_frame, schema, task, positive, version_uri)
        if schema.roles["label"] not in scored.columns:
            notes.append(
                "the reference has no labels: the performance check has no baseline until "
                "a retrain records one"
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
            snapshot = write_snapshot(scored, _reference_dir(settings, name), columns)
        record_reference(engine, mlflow_client, name, str(version.version), snapshot, now)
        if config_path is not None:
            config_path.write_text(full, encoding="utf-8")
            written = config_path
    kind = _reference_kind(request)
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


def _reference_kind(request: OnboardRequest) -> str:
    if request.reference == FIRST_WINDOW:
        return "window"
    return "snapshot"


def model_table(
    request: OnboardRequest,
    task: TaskKind,
    schema: _Schema,
    alias: str,
    positive: str | None,
    estimator: object | None,
    has_score: bool,
    now: datetime,
) -> dict[str, object]:
    """The `[[models]]` table as plain data, in the order config.toml documents it."""
    roles = dict(schema.roles)
    if not has_score:
        roles.pop("score", None)
    if request.logs is not None:
        # Absolute: the daemon's working directory (under systemd, its StateDirectory) is
        # not the one onboarding ran in.
        glob = request.logs if Path(request.logs).is_absolute() else str(Path.cwd() / request.logs)
        source: dict[str, object] = {
            "kind": "files",
            "glob": glob,
            "format": _log_format(request.logs, request.log_format).value,
        }
    else:
        source = {"kind": "http"}
    table: dict[str, object] = {"name": request.name, "task": task.value, "source": source}
    if request.labels == "http":
        table["labels"] = {"kind": "http"}
    schema_table: dict[str, object] = {
        "id": roles["id"],
        "timestamp": roles["timestamp"],
        "numeric": list(schema.numeric),
        "categorical": list(schema.categorical),
        "prediction": roles["prediction"],
    }
    for role in ("score", "label", "latency", "error", "memory"):
        if role in roles:
            schema_table[role] = roles[role]
    if schema.ignore:
        schema_table["ignore"] = list(schema.ignore)
    table["schema"] = schema_table
    if request.reference == FIRST_WINDOW:
        start = request.reference_start or now.replace(minute=0, second=0, microsecond=0)
        end = request.reference_end or start + timedelta(days=1)
        if end <= start:
            raise OnboardError(f"--reference-end {end} is not after --reference-start {start}")
        table["reference"] = {
            "kind": "window",
            "start": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "end": end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
    else:
        table["reference"] = {"kind": "snapshot"}
    if request.metric is not None:
        table["checks"] = {"performance": {"metric": request.metric}}
    retrain = retrain_section(estimator, positive)
    if alias != "champion":
        retrain["alias"] = alias
    table["retrain"] = retrain
    return table


# --------------------------------------------------------------------------- command


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
        for role in _ROLES
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
        settings.store.url, settings.secret("store.password"), settings.store.pool_size
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
    echo(f"next: mlmaint check {name}", err=True)
    return 0
