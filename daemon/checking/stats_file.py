"""A reference's statistics kept on disk, so a fresh process does not rebuild them.

`mlmaint check` starts a new process each time: without this, every run sorted
each numeric column of the reference again and fitted its score calibration
(importing scikit-learn, about a second). The statistics are written once per
(reference digest, layout) under the state directory's `cache/references/`, as
an `.npz` of plain arrays (never pickles) with a JSON header; the same numbers
come back, so a run on a cached reference gives the results a fresh build gives.

One file per model: writing a new reference's statistics removes the model's
older ones, so the cache holds at most one reference per model. A file that is
missing, of another version, or unreadable is a miss; a cache that cannot be
written (another user's state directory) is skipped. Neither stops a check.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from checks.reference import Calibration, CategoricalStats, NumericStats, ReferenceStats
from daemon.private import write_private

log = logging.getLogger(__name__)

# Bump when the statistics or this file's layout change: older files are then misses.
STATS_FILE_VERSION = 1


def stats_path(directory: Path, model: str, digest: str, layout_key: str) -> Path:
    # The model's name is hashed into the name: any name is a safe file name then.
    owner = hashlib.sha256(model.encode()).hexdigest()[:16]
    return directory / f"{owner}-{digest[:24]}-{layout_key[:16]}.npz"


def load_stats(
    directory: Path, model: str, digest: str, layout_key: str, frame: pd.DataFrame
) -> ReferenceStats | None:
    """The statistics stored for this reference and layout (with `frame`, the typed
    reference, as their frame), or None."""
    path = stats_path(directory, model, digest, layout_key)
    try:
        with np.load(path, allow_pickle=False) as stored:
            head = json.loads(bytes(stored["header"]).decode())
            if (
                head.get("version") != STATS_FILE_VERSION
                or head.get("digest") != digest
                or head.get("layout") != layout_key
            ):
                return None
            numeric = {
                meta["name"]: NumericStats(
                    name=meta["name"],
                    sorted=stored[f"sorted_{i}"],
                    rows=meta["rows"],
                    missing=meta["missing"],
                    std=meta["std"],
                    nunique=meta["nunique"],
                    uniques=stored[f"uniques_{i}"],
                )
                for i, meta in enumerate(head["numeric"])
            }
            calibration = None
            if head.get("calibration") is not None:
                calibration = Calibration(
                    x=stored["calibration_x"],
                    y=stored["calibration_y"],
                    rows=head["calibration"],
                )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("reference statistics %s unreadable (%s): computed again", path, exc)
        return None
    categorical = {
        meta["name"]: CategoricalStats(
            name=meta["name"],
            counts=dict(meta["counts"]),
            rows=meta["rows"],
            missing=meta["missing"],
        )
        for meta in head["categorical"]
    }
    return ReferenceStats(
        digest=digest,
        rows=head["rows"],
        numeric=numeric,
        categorical=categorical,
        columns=tuple(head["columns"]),
        frame=frame,
        calibration=calibration,
    )


def save_stats(directory: Path, model: str, stats: ReferenceStats, layout_key: str) -> None:
    """Store `stats` for this model's layout, replacing the model's older files."""
    if not all(isinstance(k, str) for c in stats.categorical.values() for k in c.counts):
        return  # JSON keeps text keys only; such a reference is simply not kept
    arrays: dict[str, np.ndarray] = {}
    numeric = []
    for i, column in enumerate(stats.numeric.values()):
        arrays[f"sorted_{i}"] = column.sorted
        arrays[f"uniques_{i}"] = column.uniques
        numeric.append(
            {
                "name": column.name,
                "rows": column.rows,
                "missing": column.missing,
                "std": column.std,
                "nunique": column.nunique,
            }
        )
    calibration = stats.calibration
    if calibration is not None:
        arrays["calibration_x"] = calibration.x
        arrays["calibration_y"] = calibration.y
    head = {
        "version": STATS_FILE_VERSION,
        "digest": stats.digest,
        "layout": layout_key,
        "rows": stats.rows,
        "columns": list(stats.columns),
        "numeric": numeric,
        "categorical": [
            {"name": c.name, "counts": list(c.counts.items()), "rows": c.rows, "missing": c.missing}
            for c in stats.categorical.values()
        ],
        "calibration": None if calibration is None else calibration.rows,
    }
    arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    path = stats_path(directory, model, stats.digest, layout_key)
    owner = path.name.split("-", 1)[0]
    try:
        write_private(path, buffer.getvalue())
        for older in directory.glob(f"{owner}-*.npz"):
            if older != path:
                older.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("reference statistics not kept in %s: %s", directory, exc)
