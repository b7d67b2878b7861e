"""The model's schema: features from the signature or a sample, roles from the log.

Also the reading of a sample or reference file and the check that a reference
holds the schema's columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from checks.interface import TaskKind
from daemon.config import RESERVED_COLUMNS, FileFormat
from daemon.onboarding.request import ROLE_NAMES, ROLES, OnboardError, OnboardRequest, Schema

if TYPE_CHECKING:
    import pandas as pd

# MLflow signature types (mlflow.types.DataType names).
_NUMERIC_TYPES = frozenset({"integer", "long", "float", "double"})
_CATEGORICAL_TYPES = frozenset({"boolean", "string"})


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


def log_format(glob: str, given: FileFormat | None) -> FileFormat:
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
    for role in ROLES:
        if role in request.columns:
            roles[role] = request.columns[role]
            continue
        names = ROLE_NAMES[role]
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
                    f"sample: no {role} column (looked for {', '.join(ROLE_NAMES[role])}); "
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
) -> Schema:
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
    return Schema(
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        roles=roles,
        ignore=tuple(dict.fromkeys(ignore)),
    )


def check_reference_columns(frame: pd.DataFrame, schema: Schema, where: str) -> None:
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


def with_booleans(schema: Schema, reference: pd.DataFrame) -> Schema:
    """The schema with its categorical features that the reference holds as booleans
    (a bool column, or true/false, yes/no words) declared boolean, so every spelling
    a log or a pushed row uses is typed as the reference's is."""
    from checks.typed import boolean_spelled

    found = tuple(c for c in schema.categorical if c in reference and boolean_spelled(reference[c]))
    return replace(schema, boolean=found) if found else schema
