"""Labels: parsed from any source into {prediction id: label}, values normalised.

Classification labels are stored as their canonical text (checks/typed.py):
a label sent as 1, 1.0, True or "1" is "1" or "true", never "1.0", so the
training snapshot's classes are the model's classes; a binary label must be
a boolean or a number (the window reads it back as 0/1). Regression labels
are stored as the text of a float. A CSV cell is read as what it spells
("True" is true). A label is joined to its sampled prediction by id whenever
it arrives: before the prediction (parked in pending_labels until the
prediction is stored) or after. A prediction row may carry its label too (the
schema's `label` column): it is typed here as well (`row_label`) and stored with
the row.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from checks.interface import TaskKind
from checks.typed import canonical_category, text_category, text_number
from daemon.sampling.files import FileChunk
from daemon.sampling.rows import Reason, Reject, excerpt, text_problem
from daemon.sampling.specs import SamplingSpec
from daemon.sampling.sql import SqlChunk


@dataclass(frozen=True)
class LabelBatch:
    labels: dict[str, str]
    rejects: tuple[Reject, ...]


def label_text(value: object, task: TaskKind, text_cells: bool) -> str | None:
    """The label as stored (the one typing of a label, whichever stream brings it);
    None when it is missing (an empty CSV cell). ValueError for a value of the wrong
    type, ArithmeticError for one that is not finite."""
    if isinstance(value, str) and text_cells:
        spelled = text_category(value)
        if spelled is None:
            return None
        value = spelled
    if task is TaskKind.REGRESSION:
        if isinstance(value, str):
            number = text_number(value)
            if number is None:
                return None
        elif isinstance(value, bool | int | float | Decimal):
            number = float(value)
        else:
            raise ValueError(f"expected a number, got {type(value).__name__}")
        if not math.isfinite(number):
            raise ArithmeticError(f"{number}")
        return repr(number)
    if not isinstance(value, str | bool | int | float | Decimal):
        raise ValueError(f"expected a class name, got {type(value).__name__}")
    if task is TaskKind.BINARY:
        # The checks read a binary label as 0/1: it must be a boolean or a number.
        number = text_number(value) if isinstance(value, str) else float(value)
        if number is None:
            return None
        if not math.isfinite(number):
            raise ArithmeticError(f"{number}")
        if isinstance(value, str):
            value = text_category(value)
    return canonical_category(value)


def row_label(value: object, task: TaskKind, text_cells: bool) -> str | None:
    """The label a prediction row carries (its schema's `label` column), as stored.

    A log written where the truth is known at once (or joined later by the team's
    own pipeline) holds the label beside the prediction; one that does not yet know
    it leaves it out, null, an empty cell or NaN (pandas' missing value): no label,
    the row is stored all the same and a label pushed later joins it.
    """
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    return label_text(value, task, text_cells)


def labels_from_records(
    spec: SamplingSpec,
    records: Iterable[object],
    raws: Sequence[object] | None = None,
    pre_rejects: Iterable[Reject] = (),
    *,
    text_cells: bool = False,
) -> LabelBatch:
    """`text_cells`: the records are rows of a text-only source (CSV)."""
    schema = spec.schema
    labels: dict[str, str] = {}
    rejects = list(pre_rejects)
    for i, rec in enumerate(records):
        raw = excerpt(raws[i] if raws is not None else rec)
        if not isinstance(rec, dict):
            rejects.append(Reject(Reason.MALFORMED, "expected an object", raw))
            continue
        pid = rec.get(schema.id)
        if isinstance(pid, int) and not isinstance(pid, bool):
            pid = str(pid)
        if not isinstance(pid, str) or not pid:
            rejects.append(Reject(Reason.MISSING_ID, _missing(schema.id, "id", pid, rec), raw))
            continue
        value = rec.get(schema.label)
        try:
            text = (
                None if value is None or value == "" else label_text(value, spec.task, text_cells)
            )
            if text is None:
                rejects.append(
                    Reject(Reason.MISSING_LABEL, _missing(schema.label, "label", value, rec), raw)
                )
                continue
            for col, held in ((schema.id, pid), (schema.label, text)):
                problem = text_problem(held)
                if problem is not None:
                    rejects.append(Reject(problem[0], f"{col}: {problem[1]}", raw))
                    break
            else:
                labels[pid] = text
        except ArithmeticError as exc:
            rejects.append(Reject(Reason.NON_FINITE, f"{schema.label}: {exc}", raw))
        except ValueError as exc:
            rejects.append(Reject(Reason.WRONG_TYPE, f"{schema.label}: {exc}", raw))
    return LabelBatch(labels, tuple(rejects))


def _missing(column: str, what: str, value: object, rec: dict[object, object]) -> str:
    """Which column was expected, and what the record held instead."""
    if column in rec:
        return f"the {what} column {column!r} holds {value!r}, not a {what}"
    keys = ", ".join(sorted(map(str, rec))) or "none"
    return f"no {what} column {column!r} in the record (its keys: {keys})"


def parse_labels(spec: SamplingSpec, chunk: FileChunk | SqlChunk) -> LabelBatch:
    if isinstance(chunk, SqlChunk):
        return labels_from_records(spec, chunk.records)
    if chunk.table is not None:
        return labels_from_records(spec, chunk.table.to_pylist(), pre_rejects=chunk.rejects)
    records: list[object] = []
    raws: list[bytes] = []
    rejects = list(chunk.rejects)
    for line in chunk.lines:
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            rejects.append(Reject(Reason.INVALID_UTF8, f"not UTF-8: {exc}", excerpt(line)))
            continue
        try:
            if chunk.header:
                row = next(csv.reader([decoded]))
                if len(row) != len(chunk.header):
                    raise ValueError(f"{len(row)} fields, the header has {len(chunk.header)}")
                record: object = dict(zip(chunk.header, row, strict=True))
            else:
                record = json.loads(decoded)
        except (ValueError, csv.Error, StopIteration) as exc:
            rejects.append(Reject(Reason.MALFORMED, str(exc)[:200], excerpt(line)))
            continue
        records.append(record)
        raws.append(line)
    return labels_from_records(spec, records, raws, rejects, text_cells=bool(chunk.header))
