"""The embedded executor: `python -m retrain.run_job` as a subprocess on this machine.

Each job gets a directory holding its spec, its log (stdout and stderr) and,
when it ends, its outcome. The external id is that directory, so a daemon that
restarts finds its jobs again: the outcome file says a job ended, the pid file
whether it is still running. A job past its deadline has its process group
killed and is reported timed out.

The executor keeps the `Popen` of each job it started and reaps it: a job that
ended is waited on at the next poll or cancel, and one still running when the
executor is closed (the daemon closes its executors after every stage run,
while jobs run on for hours) is handed to a reaper thread that waits for its
end. No process is left a zombie, and no `Popen` is dropped while it runs.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retrain.interface import JobState, JobStatus, RetrainError, RetrainOutcome, RetrainSpec
from retrain.quiet import without_progress_bars

log = logging.getLogger(__name__)

SPEC_FILE = "spec.json"
OUTCOME_FILE = "outcome.json"
LOG_FILE = "job.log"
PID_FILE = "pid"
CANCELLED_FILE = "cancelled"
# What a job inherits from the daemon's environment: the toolchain, locale, GPUs and
# MLflow. Nothing else, so the daemon's secrets (store password, webhooks, SMTP,
# API tokens) never reach user training code, whose logs end up in alerts.
INHERITED_ENV = frozenset(
    {"PATH", "HOME", "LANG", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "OMP_NUM_THREADS"}
)
INHERITED_ENV_PREFIXES = (
    "LC_",
    "CUDA_",
    "NVIDIA_",
    "MLFLOW_",
    "MKL_",
    "XDG_",
    "MPLCONFIGDIR",
    "TQDM_",
)


def job_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed part of `environ`, with this tree first on PYTHONPATH."""
    env = {
        key: value
        for key, value in environ.items()
        if key in INHERITED_ENV or key.startswith(INHERITED_ENV_PREFIXES)
    }
    # A job's log is read in alerts: no progress bars in it (unless the daemon's env asks).
    without_progress_bars(env)
    # The job imports `retrain` from the same tree as this daemon.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def tail(path: Path, max_chars: int = 8000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_chars))
            return fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        # Not our child (the daemon restarted, or it was reaped already): ask the kernel.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return done == 0


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    _alive(pid)


class LocalExecutor:
    name = "local"

    def __init__(
        self,
        workdir: Path,
        python: str = sys.executable,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.python = python
        self.clock = clock
        self.env = env
        # The jobs this executor started, by pid: kept to be reaped (see the module doc).
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def submit(self, spec: RetrainSpec) -> str:
        job_dir = (self.workdir / spec.job_id).resolve()
        job_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The job's data and model are private: its directory and what it creates.
        job_dir.mkdir(mode=0o700, exist_ok=False)
        (job_dir / SPEC_FILE).write_text(spec.to_json(), encoding="utf-8")
        with (job_dir / LOG_FILE).open("wb") as log_fh:
            # Its own session: a timeout kills the job and everything it started.
            process = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "retrain.run_job",
                    str(job_dir / SPEC_FILE),
                    str(job_dir / OUTCOME_FILE),
                ],
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=job_dir,
                env=self._env(),
                start_new_session=True,
                umask=0o077,
            )
        self._children[process.pid] = process
        (job_dir / PID_FILE).write_text(str(process.pid), encoding="utf-8")
        log.info("retrain job %s started as pid %d in %s", spec.job_id, process.pid, job_dir)
        return str(job_dir)

    def locate(self, job_id: str) -> str | None:
        # The pid file is written once the process is started: before that, no job.
        job_dir = (self.workdir / job_id).resolve()
        return str(job_dir) if (job_dir / PID_FILE).exists() else None

    def _env(self) -> dict[str, str]:
        return job_env(os.environ if self.env is None else self.env)

    def _since_start(self, job_dir: Path) -> timedelta | None:
        """Since the job's process started: its pid file is written as it starts."""
        try:
            started = datetime.fromtimestamp((job_dir / PID_FILE).stat().st_mtime, UTC)
        except OSError:
            return None
        return max(self.clock() - started, timedelta(0))

    def poll(self, external_id: str, deadline: datetime) -> JobStatus:
        job_dir = Path(external_id)
        return replace(self._poll(job_dir, deadline), since_start=self._since_start(job_dir))

    def _poll(self, job_dir: Path, deadline: datetime) -> JobStatus:
        log_text = tail(job_dir / LOG_FILE)
        outcome_path = job_dir / OUTCOME_FILE
        if (job_dir / CANCELLED_FILE).exists():
            return JobStatus(state=JobState.CANCELLED, log_tail=log_text, error="cancelled")
        try:
            pid = int((job_dir / PID_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RetrainError(f"job directory {job_dir} has no readable pid file") from exc
        running = self._alive(pid)
        if outcome_path.exists():
            try:
                outcome = RetrainOutcome.from_json(outcome_path.read_text(encoding="utf-8"))
            except (ValueError, TypeError, KeyError) as exc:
                return JobStatus(
                    state=JobState.FAILED, log_tail=log_text, error=f"unreadable outcome: {exc}"
                )
            return JobStatus(
                state=outcome.state,
                outcome=outcome,
                log_tail=log_text,
                error=outcome.error,
            )
        if running:
            if self.clock() > deadline:
                self._kill(pid)
                return JobStatus(
                    state=JobState.TIMED_OUT,
                    log_tail=log_text,
                    error=f"killed at its deadline {deadline.isoformat()}",
                )
            return JobStatus(state=JobState.RUNNING, log_tail=log_text)
        return JobStatus(
            state=JobState.FAILED,
            log_tail=log_text,
            error="the job process exited without an outcome (killed, or out of memory?)",
        )

    def cancel(self, external_id: str) -> None:
        job_dir = Path(external_id)
        (job_dir / CANCELLED_FILE).write_text(json.dumps({"at": self.clock().isoformat()}))
        try:
            pid = int((job_dir / PID_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        self._kill(pid)

    def logs(self, external_id: str) -> str:
        return tail(Path(external_id) / LOG_FILE, max_chars=1_000_000)

    def _alive(self, pid: int) -> bool:
        child = self._children.get(pid)
        if child is None:
            # Started by another executor, or before the daemon restarted.
            return _alive(pid)
        if child.poll() is None:
            return True
        del self._children[pid]
        return False

    def _kill(self, pid: int) -> None:
        child = self._children.pop(pid, None)
        _kill_group(pid)
        if child is not None:
            # SIGKILL cannot be ignored: the wait is short, and reaps the process.
            child.wait()

    def close(self) -> None:
        """Hand the jobs still running to reaper threads; reap the ones that ended.

        Jobs outlive the executor: they are processes found again by their
        directory, so closing never stops one.
        """
        children, self._children = self._children, {}
        for child in children.values():
            if child.poll() is None:
                threading.Thread(
                    target=child.wait, name=f"mlmaint-reap-{child.pid}", daemon=True
                ).start()
