"""A reference's calibration in its stored form: versioned JSON, read back or refused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from checks.calibration.tails import DriftCalibration, NullTail
from checks.methods import Method
from checks.performance.bands import Band
from checks.performance.metrics import Metric

# Bump when the method changes: a stored calibration of another version is recomputed.
CALIBRATION_VERSION = 1


class CalibrationError(ValueError):
    """A stored calibration that cannot be read (another version, a damaged payload)."""


@dataclass(frozen=True, kw_only=True)
class ReferenceCalibration:
    """Everything calibrated on one reference version, as stored beside its digest."""

    drift: DriftCalibration | None = None
    realized: Band | None = None
    estimated: Band | None = None
    version: int = CALIBRATION_VERSION

    def to_json(self) -> str:
        def band(b: Band | None) -> object:
            return None if b is None else {**asdict(b), "metric": b.metric.value}

        drift = None
        if self.drift is not None:
            drift = {
                "replicates": self.drift.replicates,
                "seed": self.drift.seed,
                "skipped": dict(self.drift.skipped),
                "columns": {
                    name: {**asdict(m), "method": m.method.value}
                    for name, m in self.drift.columns.items()
                },
            }
        payload = {
            "version": self.version,
            "drift": drift,
            "realized": band(self.realized),
            "estimated": band(self.estimated),
        }
        return json.dumps(payload, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReferenceCalibration:
        try:
            payload = json.loads(text)
            version = int(payload["version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CalibrationError(f"a stored calibration is not readable: {exc}") from exc
        if version != CALIBRATION_VERSION:
            raise CalibrationError(
                f"a stored calibration has version {version}, this mlmaint reads "
                f"{CALIBRATION_VERSION} (written by another mlmaint release); it is recomputed"
            )
        try:
            return cls(
                drift=_drift_from(payload["drift"]),
                realized=_band_from(payload["realized"]),
                estimated=_band_from(payload["estimated"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"a stored calibration is damaged: {exc!r}") from exc


def _ints(values: object) -> tuple[int, ...]:
    if not isinstance(values, list):
        raise TypeError(f"expected a list, got {type(values).__name__}")
    return tuple(int(v) for v in values)


def _floats(values: object) -> tuple[float, ...]:
    if not isinstance(values, list):
        raise TypeError(f"expected a list, got {type(values).__name__}")
    return tuple(float(v) for v in values)


def _mapping(raw: object) -> Mapping[str, object]:
    if not isinstance(raw, dict):
        raise TypeError(f"expected an object, got {type(raw).__name__}")
    return raw


def _band_from(raw: object) -> Band | None:
    if raw is None:
        return None
    raw = _mapping(raw)
    return Band(
        metric=Metric(str(raw["metric"])),
        reference_rows=int(str(raw["reference_rows"])),
        sizes=_ints(raw["sizes"]),
        means=_floats(raw["means"]),
        stds=_floats(raw["stds"]),
        z=_floats(raw["z"]),
    )


def _drift_from(raw: object) -> DriftCalibration | None:
    if raw is None:
        return None
    raw = _mapping(raw)
    columns = {}
    for name, item in _mapping(raw["columns"]).items():
        m = _mapping(item)
        columns[name] = NullTail(
            column=str(m["column"]),
            method=Method(str(m["method"])),
            power=float(str(m["power"])),
            reference_rows=int(str(m["reference_rows"])),
            sizes=_ints(m["sizes"]),
            u=_floats(m["u"]),
            beta=_floats(m["beta"]),
            xi=_floats(m["xi"]),
        )
    return DriftCalibration(
        columns=columns,
        replicates=int(str(raw["replicates"])),
        seed=int(str(raw["seed"])),
        skipped={str(k): str(v) for k, v in _mapping(raw["skipped"]).items()},
    )
