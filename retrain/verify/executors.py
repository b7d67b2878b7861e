"""Where a verification runs: the executor mlmaint retrains on, waited on to the end.

Local: `python -m retrain.verify.run` under the configured job interpreter
(the environment the candidate is compared with), its own session and
allow-listed environment, as a retrain job. Celery: the `mlmaint.verify` task
on the configured queue, sent by name (the daemon never imports the worker's
code) and waited on for the result.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from retrain.executors.local import job_env, tail
from retrain.verify.spec import VerifyError, VerifyOutcome, VerifySpec

TASK_NAME = "mlmaint.verify"


def _outcome(text: str) -> VerifyOutcome:
    data = json.loads(text)
    if isinstance(data, dict) and set(data) == {"error"}:
        raise VerifyError(str(data["error"]))
    return VerifyOutcome.from_json(text)


def run_local(spec: VerifySpec, python: str, workdir: Path, timeout_s: float) -> VerifyOutcome:
    """Run and wait; the job's folder (spec, outcome, log) is removed on every exit path."""
    job_dir = workdir / spec.verification_id
    job_dir.mkdir(mode=0o700, parents=True)
    try:
        return _run_local(spec, python, job_dir, timeout_s)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def _run_local(spec: VerifySpec, python: str, job_dir: Path, timeout_s: float) -> VerifyOutcome:
    (job_dir / "spec.json").write_text(spec.to_json(), encoding="utf-8")
    out = job_dir / "outcome.json"
    log_path = job_dir / "job.log"
    with log_path.open("wb") as log_fh:
        process = subprocess.Popen(
            [python, "-m", "retrain.verify.run", str(job_dir / "spec.json"), str(out)],
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=job_dir,
            env=job_env(os.environ),
            start_new_session=True,
        )
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise VerifyError(f"the verification ran past {timeout_s:.0f}s and was killed") from exc
        except BaseException:
            # Interrupted (Ctrl-C): the job goes with the command.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    if not out.exists():
        raise VerifyError(
            f"the verification exited {process.returncode} without an outcome:\n{tail(log_path)}"
        )
    return _outcome(out.read_text(encoding="utf-8"))


def run_celery(
    broker_url: str, result_backend: str, queue: str, spec: VerifySpec, timeout_s: float
) -> VerifyOutcome:
    from celery import Celery

    app = Celery("mlmaint-verify", broker=broker_url, backend=result_backend, set_as_current=False)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
    try:
        result = app.send_task(
            TASK_NAME,
            args=[spec.to_json()],
            queue=queue,
            task_id=spec.verification_id,
            time_limit=max(1, int(timeout_s)),
        )
        try:
            text = result.get(timeout=timeout_s, propagate=True)
        except Exception as exc:
            raise VerifyError(f"the verification task failed: {type(exc).__name__}: {exc}") from exc
        return _outcome(str(text))
    finally:
        app.close()
