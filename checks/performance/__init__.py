"""Performance decay with labels, and estimated performance without them.

Realized decay compares a metric on the window's labelled rows with a baseline
(the metric recorded at training time, or the same metric on the reference).
A drop alerts only when it is larger than the allowed margin *and* the whole
bootstrap confidence interval lies beyond the margin, so that a small window's
noise does not cry wolf; below `min_labelled` labelled rows the answer is
"insufficient data". The bootstrap is a Poisson bootstrap (each row weighted
by a Poisson(1) count), which needs no resampled copies of the data: every
metric here is a weighted sum over rows, computed for all replicates at once.

Estimated performance follows NannyML's confidence-based performance
estimation (CBPE) for binary classifiers: an isotonic calibration fitted on
the labelled reference turns each score into P(label = 1); the expected
confusion matrix and the expected ROC curve of an unlabelled window follow
from those probabilities. Under covariate shift (P(label | x) unchanged),
this tracks the realized metric long before labels arrive. For regression,
NannyML's direct loss estimation (DLE): a model of the absolute and squared
errors, fitted on the labelled reference, estimates MAE and RMSE.

Rooms: `metrics` (the vocabulary and the weighted metrics), `bands` (the
reference's chunk bands), `decay` (realized decay and `PerformanceCheck`),
`estimation` (CBPE and `EstimatedPerformanceCheck`), `dle` (DLE and
`DirectLossCheck`), `judged` (an estimate against its band or margins).
"""

from checks.performance.bands import Band
from checks.performance.decay import (
    CRITICAL_RATIO,
    Decay,
    DecaySpec,
    PerformanceCheck,
    decay,
    margin_basis,
)
from checks.performance.dle import (
    DLE_METRICS,
    DirectLossCheck,
    DLESpec,
    LossModel,
    fit_loss_model,
)
from checks.performance.estimation import (
    ESTIMATED,
    EstimatedPerformanceCheck,
    EstimationSpec,
    estimate,
)
from checks.performance.metrics import (
    LOWER_IS_BETTER,
    NEEDS_SCORE,
    TASK_METRICS,
    BaselineSource,
    Metric,
    MetricError,
    Weights,
    default_metric,
    metric_values,
    parse_metric,
    realized,
    realized_arrays,
    weighted_auc,
)

__all__ = [
    "CRITICAL_RATIO",
    "DLE_METRICS",
    "ESTIMATED",
    "LOWER_IS_BETTER",
    "NEEDS_SCORE",
    "TASK_METRICS",
    "Band",
    "BaselineSource",
    "DLESpec",
    "Decay",
    "DecaySpec",
    "DirectLossCheck",
    "EstimatedPerformanceCheck",
    "EstimationSpec",
    "LossModel",
    "Metric",
    "MetricError",
    "PerformanceCheck",
    "Weights",
    "decay",
    "default_metric",
    "estimate",
    "fit_loss_model",
    "margin_basis",
    "metric_values",
    "parse_metric",
    "realized",
    "realized_arrays",
    "weighted_auc",
]
