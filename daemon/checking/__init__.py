"""The checking stage: a model's drift, quality, performance and operations checks.

Rooms: `specs.py` (settings to frozen check specs, the only reader of the
model's settings), `references.py` (the reference in, its statistics out),
`cache.py` (the service's reference and calibration cache), `run.py` (running
the checks, findings), `evidence.py` (the evidence step of a run, pages in
daemon/evidence/), `records.py` (the store), `job.py` (the scheduled entry
points), `backfill.py` (past windows, the first-start backfill) and `cli.py`
(the printing). Import from the room;
this package re-exports nothing, so `daemon/jobs.py` can build a cache
without loading pandas.
"""
