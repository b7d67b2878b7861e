"""DLE's loss model of a regression model's reference: fitted once per reference version.

The loss model (checks/performance/dle.py) takes a second or two to fit on a
reference of 10,000 rows, so it is fitted on the first check of a reference
version and kept in the service's `CheckCache` under the reference's digest and
what it is fitted on; every later window of that version reuses it. It is not
written to the store or to disk: a fitted model is no plain data (the statistics
file holds no pickles), and a restart fits it again once.
"""

from __future__ import annotations

import hashlib
import logging
import time

from checks.performance import LossModel, fit_loss_model
from checks.reference import ReferenceStats
from daemon.checking.cache import CheckCache
from daemon.checking.specs import dle_spec, reference_layout
from daemon.config import ModelSettings

log = logging.getLogger(__name__)

# Bump when the loss model's inputs or settings change: a kept model of another
# version is fitted again.
LOSS_MODEL_VERSION = 1


def loss_model_key(model: ModelSettings, ref: ReferenceStats) -> str:
    """The reference's content, its layout (the features and their typing) and the
    fewest labelled rows a fit takes."""
    parts = [
        str(LOSS_MODEL_VERSION),
        ref.digest,
        reference_layout(model).key,
        str(model.checks.performance.min_labelled),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def reference_loss_model(
    model: ModelSettings, ref: ReferenceStats, *, cache: CheckCache
) -> LossModel | None:
    """The reference's loss model, from the cache or fitted now (None: the model is no
    regression with DLE on, or its reference has too few labelled rows)."""
    if dle_spec(model) is None:
        return None
    key = loss_model_key(model, ref)
    found = cache.loss_model(key)
    if found is not None:
        return found
    began = time.perf_counter()
    fitted = fit_loss_model(
        ref.frame,
        model.schema_.numeric,
        model.schema_.categorical,
        min_rows=model.checks.performance.min_labelled,
    )
    if fitted is None:
        log.debug("model %s: too few labelled reference rows for a loss model", model.name)
        return None
    log.info(
        "model %s: fitted the loss model on the reference (%d rows) in %.2fs",
        model.name,
        fitted.rows,
        time.perf_counter() - began,
    )
    return cache.put_loss_model(key, fitted)
