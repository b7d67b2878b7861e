"""A model's [checks]: drift, quality, performance, operations, multivariate, and their cadence.

The drift method is the checks' own `Method`; "auto" (the default) is None,
which is what the checks take for Evidently's selection, so there is one word
for each method and no mapping between two spellings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated

from pydantic import Field, PlainSerializer, PlainValidator, model_validator

from checks import defaults
from checks.methods import Method
from checks.thresholds import BandMode, Persistence, ThresholdMode
from daemon.config.common import Duration, Frozen, Schedule, interval

AUTO = "auto"


def _method_or_auto(value: object) -> Method | None:
    if value is None or value == AUTO:
        return None
    if isinstance(value, Method):
        return value
    if isinstance(value, str):
        try:
            return Method(value)
        except ValueError:
            pass
    names = ", ".join([AUTO, *(m.value for m in Method)])
    raise ValueError(f"expected one of {names}, got {value!r}")


def _auto_name(method: Method | None) -> str:
    return AUTO if method is None else method.value


# A drift method by its checks name, or "auto" (None): Evidently's choice per column.
MethodOrAuto = Annotated[
    Method | None,
    PlainValidator(_method_or_auto),
    PlainSerializer(_auto_name, return_type=str),
]


class ColumnDriftSettings(Frozen):
    method: MethodOrAuto = None
    threshold: float | None = Field(default=None, gt=0)
    weight: float = Field(default=1.0, ge=0)


class PersistenceSettings(Frozen):
    failing: int = Field(gt=0)
    windows: int = Field(gt=0)

    @model_validator(mode="after")
    def _within(self) -> PersistenceSettings:
        if self.failing > self.windows:
            raise ValueError(f"failing ({self.failing}) cannot exceed windows ({self.windows})")
        return self

    def rule(self) -> Persistence:
        return Persistence(failing=self.failing, windows=self.windows)


class DriftSettings(Frozen):
    enabled: bool = True
    method: MethodOrAuto = None
    # "calibrated": each column's threshold from the reference at the window's size,
    # for `false_alarm_rate` per check run; "evidently": Evidently's fixed defaults.
    thresholds: ThresholdMode = ThresholdMode.CALIBRATED
    false_alarm_rate: float = Field(default=defaults.FALSE_ALARM_RATE, gt=0, lt=1)
    # A threshold for every column (wins over both modes), as Evidently's.
    threshold: float | None = Field(default=None, gt=0)
    drift_share: float = Field(default=defaults.DRIFT_SHARE, gt=0, le=1)
    # Alert on a column only when it is beyond its threshold in `failing` of the
    # last `windows` check windows.
    persistence: PersistenceSettings | None = None
    columns: Mapping[str, ColumnDriftSettings] = Field(default_factory=dict)
    # The evidence report is rendered for alerting windows only.
    evidence: bool = True


class QualitySettings(Frozen):
    enabled: bool = True
    max_missing_share: float = Field(default=defaults.MAX_MISSING_SHARE, ge=0, le=1)
    max_new_category_share: float = Field(default=defaults.MAX_NEW_CATEGORY_SHARE, ge=0, le=1)
    max_out_of_range_share: float = Field(default=defaults.MAX_OUT_OF_RANGE_SHARE, ge=0, le=1)
    # Rows the schema refused (wrong type, missing column), as a share of the rows
    # received on the window's days; above it a quality alert fires (1.0 never does).
    max_rejected_share: float = Field(default=0.05, ge=0, le=1)


class PerformanceSettings(Frozen):
    enabled: bool = True
    metric: str | None = None
    max_absolute_drop: float | None = Field(default=None, gt=0)
    max_relative_drop: float | None = Field(default=defaults.MAX_RELATIVE_DROP, gt=0, lt=1)
    # "band": outside the reference chunks' band at the window's size (NannyML);
    # "margin": a drop beyond max_absolute_drop / max_relative_drop off the baseline.
    thresholds: BandMode = BandMode.BAND
    band_sigmas: float = Field(default=3.0, gt=0)
    # Instead of sigmas: the band's edge at this quantile of the chunks (e.g. 0.001).
    band_quantile: float | None = Field(default=None, gt=0, lt=0.5)
    min_labelled: int = Field(default=defaults.MIN_LABELLED, gt=0)
    bootstrap: int = Field(default=200, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    estimate: bool = True


class OperationsSettings(Frozen):
    enabled: bool = True
    max_latency_p95_ms: float | None = Field(default=None, gt=0)
    max_latency_p99_ms: float | None = Field(default=None, gt=0)
    max_error_rate: float | None = Field(default=0.05, ge=0, le=1)
    max_memory_mb: float | None = Field(default=None, gt=0)


class MultivariateSettings(Frozen):
    """Multivariate drift over the model's features (NannyML's two methods); off by default."""

    enabled: bool = False
    # The share of the standardised reference's variance the PCA keeps (NannyML's 0.65).
    variance: float = Field(default=0.65, gt=0, lt=1)
    # The reconstruction error alerts outside the reference chunks' mean ± this many σ.
    band_sigmas: float = Field(default=3.0, gt=0)
    classifier: bool = True
    # The domain classifier's cross-validated AUROC alerts above this (NannyML's 0.65).
    classifier_threshold: float = Field(default=0.65, gt=0.5, lt=1)
    # At most this many window rows, and as many reference rows, train the classifier.
    classifier_rows: int = Field(default=1_000, ge=50)


class CausesSettings(Frozen):
    """Why performance fell: the features whose drift follows it (checks/causes.py)."""

    enabled: bool = True
    # How many of the latest stored check windows the correlation reads.
    windows: int = Field(default=14, ge=3)
    top_k: int = Field(default=3, gt=0)
    # A feature (or the multivariate drift) is named only when its r reaches this; r is
    # > 0 when drift rises as performance worsens, and one below 0 is never named.
    min_r: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: object) -> object:
        # Named min_abs_r before a negative r stopped naming a cause: say what it is now.
        if isinstance(data, Mapping) and "min_abs_r" in data:
            raise ValueError(
                "min_abs_r is now min_r: a series is named only when its r reaches it "
                "(r > 0: drift rising as performance worsens)"
            )
        return data


class ChecksSettings(Frozen):
    schedule: Schedule = interval("1h")
    window: Duration = timedelta(days=1)
    min_rows: int = Field(default=defaults.MIN_ROWS, gt=0)
    drift: DriftSettings = DriftSettings()
    quality: QualitySettings = QualitySettings()
    performance: PerformanceSettings = PerformanceSettings()
    operations: OperationsSettings = OperationsSettings()
    multivariate: MultivariateSettings = MultivariateSettings()
    causes: CausesSettings = CausesSettings()
    # Categorical columns whose values are checked apart (drift, quality, performance):
    # the `segment_top` most frequent in the reference each, the rest as "other".
    segments: tuple[str, ...] = ()
    segment_top: int = Field(default=5, gt=0)
