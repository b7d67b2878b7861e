"""Drive the real daemon: a subprocess of `mlmaint run` and a notify socket the test owns."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

MLMAINT = str(Path(sys.executable).with_name("mlmaint"))


class NotifySocket:
    """A datagram socket in the abstract namespace, standing in for systemd."""

    def __init__(self) -> None:
        self.name = f"@mlmaint-test-{uuid.uuid4().hex[:12]}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._lock:
                self.messages.append((time.monotonic(), fields))

    def all(self) -> list[dict[str, str]]:
        with self._lock:
            return [m for _, m in self.messages]

    def wait_for(
        self, predicate: Callable[[dict[str, str]], bool], timeout: float, after: int = 0
    ) -> tuple[int, dict[str, str]]:
        """The index and fields of the first message from `after` on matching `predicate`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for i, (_, fields) in enumerate(self.messages[after:], start=after):
                    if predicate(fields):
                        return i, fields
            time.sleep(0.02)
        raise AssertionError(f"no matching notify message within {timeout}s: {self.all()}")

    def close(self) -> None:
        self._closed = True
        self.sock.close()


def write_config(
    path: Path,
    store_url: str,
    *,
    extra_service: str = "",
    extra: str = "",
    checks: str = 'backfill = "0s"',
) -> Path:
    """A daemon's config on `store_url`; `checks` is its [checks] table (the first-start
    backfill off by default: these tests count the runs of the scheduled cycles)."""
    path.write_text(
        f"""
[service]
state_dir = "{path.parent / "var"}"
http_port = 0
shutdown_grace = "20s"
watchdog_stall = "10s"
leader_retry = "1s"
{extra_service}

[store]
url = "{store_url}"

[alerts]
delivery_every = "1s"
channels = [{{ kind = "file", name = "outbox", path = "{path.parent / "outbox.jsonl"}" }}]

[frameworks]
enabled = false

[report]
enabled = false

[checks]
{checks}
{extra}
""",
        encoding="utf-8",
    )
    return path


class Daemon:
    """`mlmaint run` as a child process; its log goes to a file the test reads."""

    def __init__(
        self,
        config: Path,
        notify: NotifySocket | None,
        watchdog_usec: int = 0,
        log_level: str | None = "DEBUG",
    ) -> None:
        self.config = config
        self.log_path = config.parent / f"daemon-{uuid.uuid4().hex[:6]}.log"
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        if notify is not None:
            env["NOTIFY_SOCKET"] = notify.name
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self._log = self.log_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                MLMAINT,
                "--config",
                str(config),
                *(["--log-level", log_level] if log_level else []),
                "run",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=config.parent,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            match = regex.search(self.log())
            if match:
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{pattern!r} not in the daemon's log within {timeout}s:\n{self.log()}"
        )

    def port(self, timeout: float = 10) -> int:
        return int(self.wait_log(r"on http://127\.0\.0\.1:(\d+)/healthz", timeout).group(1))

    def job_lines(self) -> list[tuple[str, str, str]]:
        """(job, outcome, cycle) for every job run this daemon logged."""
        return re.findall(r"job (\S+) (ok|failed) in [\d.]+s \(cycle (\S+)\)", self.log())

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()
