"""Data reconstruction error, as NannyML 0.13 computes it, fitted once on the reference.

Read from NannyML's own source (`nannyml/drift/multivariate/data_reconstruction/
calculator.py`, 0.13.1) and followed step by step:

1. Missing values are imputed with what the reference gives: the mean of a
   numeric column, the most frequent value of a categorical one (scikit-learn's
   `SimpleImputer`: on a tie, the smallest value).
2. Categoricals are encoded by category_encoders' `CountEncoder(normalize=True)`:
   each value becomes its share of the (imputed) reference rows, a value the
   reference never held becomes 0. (NannyML's documentation speaks of encoding;
   its source counts. One-hot would give other numbers; we follow the source,
   which is what "equal to NannyML" can be measured against.)
3. Every column is standardised with the reference's mean and standard
   deviation (population, ddof 0; a constant column keeps scale 1).
4. A PCA fitted on the standardised reference keeps the fewest components whose
   explained variance exceeds the configured share (65% by default), and each
   row is projected and reconstructed.
5. A row's error is the Euclidean distance, in standardised units, between it
   and its reconstruction; a chunk's is the mean over its rows. Nothing is
   transformed back to the original units.

A change in how the features move together (a correlation that flips sign, say)
moves rows off the plane the reference's components span, so the error rises
even when every column's own distribution stays the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from checks.reference import FloatArray, numeric_values

# NannyML's PCA seed (`PCA(n_components=..., random_state=16)`); the full and the
# covariance solvers do not draw, but the randomized one would.
PCA_SEED = 16


@dataclass(frozen=True, kw_only=True, eq=False)
class ReconstructionModel:
    """Imputation, encoding, scaling and PCA fitted on one reference version."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    # Imputed value of each numeric column (its reference mean), in `numeric`'s order.
    means: FloatArray = field(repr=False)
    # Imputed value of each categorical column (its most frequent reference value).
    modes: tuple[object, ...]
    # Each categorical value's share of the reference rows (after imputation).
    shares: tuple[Mapping[object, float], ...] = field(repr=False)
    # StandardScaler's mean and scale, over numeric then categorical columns.
    centre: FloatArray = field(repr=False)
    scale: FloatArray = field(repr=False)
    # The PCA's mean and kept components (rows), in the standardised space.
    pca_mean: FloatArray = field(repr=False)
    components: FloatArray = field(repr=False)
    rows: int

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    @property
    def kept(self) -> int:
        return int(self.components.shape[0])

    def standardised(self, frame: pd.DataFrame) -> FloatArray:
        """The frame's rows imputed, encoded and standardised (rows x columns)."""
        parts: list[FloatArray] = []
        for i, name in enumerate(self.numeric):
            values = numeric_values(frame[name])
            parts.append(np.where(np.isnan(values), self.means[i], values).astype(np.float64))
        for i, name in enumerate(self.categorical):
            column = _filled(frame[name], self.modes[i])
            encoded = column.map(self.shares[i]).astype(np.float64).fillna(0.0)
            parts.append(np.asarray(encoded, dtype=np.float64))
        matrix = np.column_stack(parts) if parts else np.empty((len(frame), 0))
        return (matrix - self.centre) / self.scale

    def errors(self, frame: pd.DataFrame) -> FloatArray:
        """Each row's reconstruction error: its distance from its PCA reconstruction."""
        centred = self.standardised(frame) - self.pca_mean
        residual = centred - (centred @ self.components.T) @ self.components
        out: FloatArray = np.linalg.norm(residual, axis=1)
        return out


def _filled(column: pd.Series, value: object) -> pd.Series:
    """The column as objects, its missing cells (None or NaN) holding `value`."""
    values = column.to_numpy(dtype=object, copy=True)
    values[pd.isna(values)] = value
    return pd.Series(values, index=column.index, dtype=object)


def _most_frequent(values: pd.Series) -> object:
    """SimpleImputer's "most_frequent": the commonest value, the smallest on a tie."""
    counts = values.value_counts(dropna=True)
    top = counts[counts == counts.max()].index
    return min(top)


def fit_reconstruction(
    frame: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    *,
    variance: float = 0.65,
    components: int | None = None,
) -> ReconstructionModel | None:
    """Fit the model on the reference; None when no column can be used.

    A column that is missing in every reference row cannot be imputed (NannyML's
    imputer drops it and then fails); it is left out here. `components` keeps that
    many components instead of a share of the variance.
    """
    from sklearn.decomposition import PCA

    numeric = tuple(c for c in numeric if c in frame and frame[c].notna().any())
    categorical = tuple(c for c in categorical if c in frame and frame[c].notna().any())
    if not numeric + categorical or len(frame) < 2:
        return None
    means = np.asarray([np.nanmean(numeric_values(frame[c])) for c in numeric], dtype=np.float64)
    modes: list[object] = []
    shares: list[Mapping[object, float]] = []
    for name in categorical:
        mode = _most_frequent(frame[name])
        filled = _filled(frame[name], mode)
        modes.append(mode)
        shares.append({k: float(v) for k, v in filled.value_counts(normalize=True).items()})
    model = ReconstructionModel(
        numeric=numeric,
        categorical=categorical,
        means=means,
        modes=tuple(modes),
        shares=tuple(shares),
        centre=np.zeros(len(numeric) + len(categorical)),
        scale=np.ones(len(numeric) + len(categorical)),
        pca_mean=np.zeros(len(numeric) + len(categorical)),
        components=np.empty((0, len(numeric) + len(categorical))),
        rows=len(frame),
    )
    encoded = model.standardised(frame)
    centre = encoded.mean(axis=0)
    scale = np.sqrt(encoded.var(axis=0))
    # StandardScaler's rule: a (near) constant column is not scaled.
    scale = np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)
    scaled = (encoded - centre) / scale
    keep: float | int = variance if components is None else min(components, *scaled.shape)
    pca = PCA(n_components=keep, random_state=PCA_SEED).fit(scaled)
    return ReconstructionModel(
        numeric=numeric,
        categorical=categorical,
        means=means,
        modes=tuple(modes),
        shares=tuple(shares),
        centre=centre,
        scale=scale,
        pca_mean=np.asarray(pca.mean_, dtype=np.float64),
        components=np.asarray(pca.components_, dtype=np.float64),
        rows=len(frame),
    )
