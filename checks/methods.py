"""Drift methods and the column kinds each one fits, as Evidently 0.7 defines them.

Kept apart from checks/drift/, and free of numpy and pandas, so the config
can refuse a method that cannot fit a column when it is loaded, without
importing the statistics.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["METHODS", "ColumnKind", "Method", "MethodInfo", "fits", "kinds_of"]


class Method(enum.StrEnum):
    KS = "ks"
    WASSERSTEIN = "wasserstein"
    PSI = "psi"
    JENSENSHANNON = "jensenshannon"
    CHISQUARE = "chisquare"
    Z = "z"
    KL_DIV = "kl_div"
    HELLINGER = "hellinger"
    ANDERSON = "anderson"
    CRAMER_VON_MISES = "cramer_von_mises"
    MANNW = "mannw"
    ENERGY = "energy"


class ColumnKind(enum.StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class MethodInfo:
    display_name: str
    default_threshold: float
    # p-value tests drift when the score is small, distances when it is large.
    p_value: bool
    # Evidently's comparison at the threshold: "<=" / "<" for p-values, ">=" / ">".
    inclusive: bool
    numeric: bool = True
    categorical: bool = True


METHODS: Mapping[Method, MethodInfo] = {
    Method.KS: MethodInfo("K-S p_value", 0.05, True, True, categorical=False),
    Method.WASSERSTEIN: MethodInfo(
        "Wasserstein distance (normed)", 0.1, False, True, categorical=False
    ),
    Method.PSI: MethodInfo("PSI", 0.1, False, True),
    Method.JENSENSHANNON: MethodInfo("Jensen-Shannon distance", 0.1, False, True),
    Method.CHISQUARE: MethodInfo("chi-square p_value", 0.05, True, False, numeric=False),
    Method.Z: MethodInfo("Z-test p_value", 0.05, True, False, numeric=False),
    Method.KL_DIV: MethodInfo("Kullback-Leibler divergence", 0.1, False, True),
    Method.HELLINGER: MethodInfo("Hellinger distance", 0.1, False, True),
    Method.ANDERSON: MethodInfo("Anderson-Darling", 0.1, True, False, categorical=False),
    Method.CRAMER_VON_MISES: MethodInfo("Cramer-von Mises", 0.1, True, True, categorical=False),
    Method.MANNW: MethodInfo("Mann-Whitney U-rank test", 0.05, True, False, categorical=False),
    Method.ENERGY: MethodInfo("Energy-distance", 0.1, False, False, categorical=False),
}


def fits(method: Method, kind: ColumnKind) -> bool:
    """Whether Evidently's `method` applies to a column of `kind`."""
    info = METHODS[method]
    return info.numeric if kind is ColumnKind.NUMERIC else info.categorical


def kinds_of(method: Method) -> tuple[ColumnKind, ...]:
    """The column kinds `method` applies to."""
    return tuple(kind for kind in ColumnKind if fits(method, kind))
