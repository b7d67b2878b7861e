"""The domain classifier: how well a model tells the window's rows from the reference's.

NannyML's `DomainClassifierCalculator` (0.13) trains LightGBM (its defaults:
100 trees of 31 leaves, 20 rows a leaf, learning rate 0.1) on the reference
against each chunk, scores the rows out of fold with a 5-fold
`StratifiedKFold` (no shuffle), and reports the ROC AUC of those pooled
out-of-fold scores. Reference rows that equal a chunk row are dropped first,
and categoricals are ordinal codes the model splits on as categories. It alerts
above 0.65 (and below 0.45) by default.

mlmaint keeps all of this but the learner: LightGBM is not a dependency, so it
is scikit-learn's `HistGradientBoostingClassifier` with LightGBM's defaults,
stopped early (10 rounds without a better loss on a tenth of the training
folds). On a clean window the trees stop after about ten rounds, which keeps
the check cheap, and a fold's model cannot memorise noise that the next fold
would read as anti-drift. For the same reason mlmaint alerts only above the
upper threshold: a cross-validated AUROC below 0.5 is the learner's
overfitting on indistinguishable rows, not a change in the data.

Cost is bounded by sampling: at most `rows` window rows and `rows` reference
rows (the reference's are drawn once per reference version).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from checks.reference import FloatArray, numeric_values

# NannyML's constant band for the AUROC.
UPPER_THRESHOLD = 0.65
LOWER_THRESHOLD = 0.45
FOLDS = 5
# HistGradientBoosting codes a categorical in at most 255 bins, one of them for missing.
MAX_CODES = 254


def _codes(reference: pd.Series, window: pd.Series) -> tuple[FloatArray, FloatArray]:
    """Ordinal codes over both sides' values (NannyML fits its encoder on both), the most
    frequent first; values beyond MAX_CODES - 1 share the last code, missing stays NaN."""
    both = pd.concat([reference.astype(object), window.astype(object)], ignore_index=True)
    order = both.value_counts(dropna=True).index[: MAX_CODES - 1]
    mapping = {v: float(i) for i, v in enumerate(order)}
    coded = both.map(mapping)
    coded = coded.where(both.isna() | coded.notna(), float(MAX_CODES - 1))
    values = coded.to_numpy(dtype=np.float64, na_value=np.nan)
    return values[: len(reference)], values[len(reference) :]


def _matrix(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
) -> tuple[FloatArray, FloatArray]:
    ref_parts = [numeric_values(reference[c]) for c in numeric]
    win_parts = [numeric_values(window[c]) for c in numeric]
    for name in categorical:
        r, w = _codes(reference[name], window[name])
        ref_parts.append(r)
        win_parts.append(w)
    return np.column_stack(ref_parts), np.column_stack(win_parts)


def _candidates(
    reference: pd.DataFrame, window: pd.DataFrame, columns: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Which rows of each side could equal a row of the other, by one float column.

    Rows hashed as objects match when every cell's text matches, and two floats
    spell alike only when they are equal or both NaN, which `isin` also matches:
    a row whose value there the other side lacks matches no row. Hashing 25
    columns of a thousand rows as text took a fifth of the check; the first float
    column usually rules out every row. None: no float column to filter by.
    """
    for name in columns:
        ref, win = reference[name], window[name]
        if ref.dtype == np.float64 and win.dtype == np.float64:
            return ref.isin(win).to_numpy(), win.isin(ref).to_numpy()
    return None


def _row_hashes(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    # Each row's hash depends on its own cells alone: hashing a subset of the rows
    # gives those rows the hashes they have in the whole frame.
    return pd.util.hash_pandas_object(frame[columns].astype(object), index=False)


def _without_window_rows(
    reference: pd.DataFrame, window: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    """The reference rows that equal no window row (NannyML's `drop_matching_duplicate_rows`)."""
    found = _candidates(reference, window, columns)
    if found is None:
        ref_rows, win_rows = np.ones(len(reference), dtype=bool), np.ones(len(window), dtype=bool)
    else:
        ref_rows, win_rows = found
    if not (ref_rows.any() and win_rows.any()):
        return reference
    seen = set(_row_hashes(window.loc[win_rows], columns))
    keep = np.ones(len(reference), dtype=bool)
    keep[ref_rows] = ~_row_hashes(reference.loc[ref_rows], columns).isin(seen).to_numpy()
    return reference if keep.all() else reference.loc[keep]


def domain_auroc(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    *,
    folds: int = FOLDS,
    seed: int = 0,
) -> float:
    """The pooled out-of-fold ROC AUC of a classifier telling window rows (1) from
    reference rows (0); 0.5 when one side is empty after dropping shared rows."""
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    columns = [*numeric, *categorical]
    reference = _without_window_rows(reference, window, columns)
    if len(reference) < folds or len(window) < folds:
        return 0.5
    ref_x, win_x = _matrix(reference, window, numeric, categorical)
    x = np.vstack([ref_x, win_x])
    y = np.r_[np.zeros(len(ref_x)), np.ones(len(win_x))]
    mask = np.r_[np.zeros(len(numeric), dtype=bool), np.ones(len(categorical), dtype=bool)]
    # A few thousand rows: OpenMP's threads cost more than they give (0.74 s against
    # 0.28 s a check on 2 cores, measured), and the daemon runs models side by side.
    with threadpool_limits(limits=1, user_api="openmp"):
        scores = _out_of_fold(x, y, mask, folds, seed)
    return float(roc_auc_score(y, scores))


def _out_of_fold(
    x: FloatArray, y: FloatArray, mask: np.ndarray, folds: int, seed: int
) -> FloatArray:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    scores = np.empty(len(y))
    for train, test in StratifiedKFold(n_splits=folds).split(x, y):
        model = HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.1,
            max_leaf_nodes=31,
            min_samples_leaf=20,
            l2_regularization=0.0,
            categorical_features=mask if mask.any() else None,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=10,
            random_state=seed,
        )
        model.fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
    return scores
