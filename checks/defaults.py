"""The checks' documented defaults, shared by the daemon's config and the library.

The daemon's `[models.<name>.checks]` settings take their defaults from here
(daemon/config/model_checks.py), and `checks.check_drift`, `check_quality` and
`estimate_performance` use the same numbers, so a notebook and the daemon give
the same answer on the same data. (The dependency rule is daemon -> checks:
the constants live here.)
"""

from __future__ import annotations

# Below this many rows in a window every check answers insufficient_data.
MIN_ROWS = 100
# Labelled rows a realized-performance (decay) check needs.
MIN_LABELLED = 200
# Calibrated drift thresholds: the chance of a false alarm per check run.
FALSE_ALARM_RATE = 0.01
# Dataset drift: the (weighted) share of drifted columns that counts as drift.
DRIFT_SHARE = 0.5
# Quality allowances over the reference's own share.
MAX_MISSING_SHARE = 0.05
MAX_NEW_CATEGORY_SHARE = 0.02
MAX_OUT_OF_RANGE_SHARE = 0.05
# Performance judged by margin: a relative drop off the reference's value.
MAX_RELATIVE_DROP = 0.05
