"""Evidence for an alerting drift window: what a person opens from an alert or a report.

`figures.py` turns a drift result and its data into per-column charts (numpy
only), `page.py` renders mlmaint's own small, self-contained page from them,
`write.py` is what a check run calls, `retention.py` the sweep of old pages,
`rebuild.py` the `mlmaint evidence` command's work. Evidently's full report
(`evidently_report.py`) is written only on demand; evidently is imported only
there, inside its functions.
"""
