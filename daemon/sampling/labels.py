"""Labels: parsed from any source into {prediction id: label}, values normalised.

Binary and regression labels are stored as the text of a float ("1.0"), so the
window reads them back as numbers; multiclass labels as strings. A label is
joined to its sampled prediction by id whenever it arrives: before the
prediction (parked in pending_labels until the prediction is stored) or after.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from daemon.config import ModelSettings, Task
from daemon.sampling.files import FileChunk
from daemon.sampling.sql import SqlChunk
from daemon.sampling.validation import Reason, Reject, excerpt


@dataclass(frozen=True)
class LabelBatch:
    labels: dict[str, str]
    rejects: tuple[Reject, ...]


def _label_text(value: object, task: Task) -> str:
    if task is Task.MULTICLASS:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"expected a class name, got {type(value).__name__}")
        return str(value)
    if isinstance(value, bool):
        return repr(float(value))
    if isinstance(value, int | float | str):
        number = float(value)
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ArithmeticError(f"{number}")
    return repr(number)


def labels_from_records(
    model: ModelSettings,
    records: Iterable[object],
    raws: Sequence[object] | None = None,
    pre_rejects: Iterable[Reject] = (),
) -> LabelBatch:
    schema = model.schema_
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
            rejects.append(Reject(Reason.MISSING_ID, f"{schema.id}: {pid!r}", raw))
            continue
        value = rec.get(schema.label)
        if value is None or value == "":
            rejects.append(Reject(Reason.MISSING_LABEL, f"{schema.label}: missing", raw))
            continue
        try:
            labels[pid] = _label_text(value, model.task)
        except ArithmeticError as exc:
            rejects.append(Reject(Reason.NON_FINITE, f"{schema.label}: {exc}", raw))
        except ValueError as exc:
            rejects.append(Reject(Reason.WRONG_TYPE, f"{schema.label}: {exc}", raw))
    return LabelBatch(labels, tuple(rejects))


def parse_labels(model: ModelSettings, chunk: FileChunk | SqlChunk) -> LabelBatch:
    if isinstance(chunk, SqlChunk):
        return labels_from_records(model, chunk.records)
    if chunk.table is not None:
        return labels_from_records(model, chunk.table.to_pylist(), pre_rejects=chunk.rejects)
    records: list[object] = []
    raws: list[bytes] = []
    rejects = list(chunk.rejects)
    for line in chunk.lines:
        try:
            if chunk.header:
                row = next(csv.reader([line.decode("utf-8")]))
                if len(row) != len(chunk.header):
                    raise ValueError(f"{len(row)} fields, the header has {len(chunk.header)}")
                record: object = dict(zip(chunk.header, row, strict=True))
            else:
                record = json.loads(line)
        except (ValueError, csv.Error, StopIteration) as exc:
            rejects.append(Reject(Reason.MALFORMED, str(exc)[:200], excerpt(line)))
            continue
        records.append(record)
        raws.append(line)
    return labels_from_records(model, records, raws, rejects)
