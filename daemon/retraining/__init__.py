"""The daemon's side of retraining: decide, snapshot, submit, poll, record, promote.

Rooms:

- `specs.py`: the model's settings -> a frozen `RetrainPlan` and the `RetrainSpec`
  a job travels as; the only reader of the model settings in this stage.
- `job.py`: the scheduled entry points, `retrain_policy(ctx, model, now)` and
  `poll_jobs(ctx, model, now)`, and the waiting the demo and the CLI do.
- `decide.py`: the facts the policy decides on, read from the store.
- `submit.py`: a yes becomes a snapshot, a recorded job and a submit.
- `poll.py`: the executor's word on one job, on the job's clock.
- `promote.py`: a job's end recorded with its alert; a promotion against a pin undone.
- `versions.py`: the first version, rollbacks and pins.
- `records.py`: what the stage writes to the store; `findings.py` what it tells.
- `pins.py`, `snapshots.py`, `executors.py`: pins, training data, executors.
- `cli.py`: the `mlmaint retrain` and `mlmaint worker` commands.

A job's end (or a failed submit) goes to the alert policy in the transaction
that records it, so a crash can never lose the alert. The entry points also
return those `Finding`s, for information only: callers must not apply them
again. Each decision is an event, told once (deduplicated by the job id).

Time: everything a job records and decides runs on the `now` it is given
(simulated in the demo, pinned in tests). The one exception is the deadline of
the job's process (`specs.process_deadline`): a real process runs in real
time, so the executor bounds it by the wall clock.
"""
