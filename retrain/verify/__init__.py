"""`frameworks verify`: an upgrade proven on the champion before it is recommended.

Runs where retraining runs (a local subprocess or a Celery worker), with no
access to the daemon's store: a `VerifySpec` travels as JSON and a
`VerifyOutcome` comes back. Rooms: `spec` (the two JSON documents), `candidate`
(the candidate environment: requirements, upgrade, a cached venv), `replay`
(what runs inside an environment: load the champion, score the rows, time
them), `job` (the whole verification), `run` (`python -m retrain.verify.run`).
Nothing here imports `daemon`.
"""
