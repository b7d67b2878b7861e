"""Multivariate drift: what moves between features, which univariate tests cannot see.

Two methods, both NannyML's (0.13), on the model's input features:

- data reconstruction error (`reconstruction`): a PCA fitted on the
  standardised reference; a window whose rows no longer lie near the
  reference's principal plane reconstructs worse;
- a domain classifier (`classifier`): how well a gradient-boosted model tells
  the window's rows from the reference's, as a cross-validated AUROC.

The reference side (imputer values, encoding, scaler, PCA, the band from the
reference's own chunks, the classifier's reference rows) is fitted once per
reference version (`reference.fit_multivariate`); `check.MultivariateCheck`
applies it to a window and returns frozen results.
"""

from checks.multivariate.check import CLASSIFIER, METHOD_NAMES, RECONSTRUCTION, MultivariateCheck
from checks.multivariate.classifier import domain_auroc
from checks.multivariate.reconstruction import ReconstructionModel, fit_reconstruction
from checks.multivariate.reference import (
    ErrorBand,
    MultivariateReference,
    MultivariateSpec,
    error_band,
    fit_multivariate,
)

__all__ = [
    "CLASSIFIER",
    "METHOD_NAMES",
    "RECONSTRUCTION",
    "ErrorBand",
    "MultivariateCheck",
    "MultivariateReference",
    "MultivariateSpec",
    "ReconstructionModel",
    "domain_auroc",
    "error_band",
    "fit_multivariate",
    "fit_reconstruction",
]
