"""The embedded default channel: one JSON line per notification, appended to a file.

A line carries the outbox id, so a reader can drop the rare duplicate left by a
crash between the append and the row being marked sent.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from daemon.alerts import render
from daemon.alerts.channels.interface import Outgoing, RetryableError
from daemon.alerts.message import from_json
from daemon.private import private_dir


class FileSender:
    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: Outgoing, now: datetime) -> None:
        payload = from_json(message.payload)
        line = {
            "id": message.notification_id,
            "channel": message.channel,
            "kind": message.kind,
            "scope": message.scope,
            "created_at": message.created_at.isoformat(),
            "sent_at": now.isoformat(),
            "title": render.subject_line(payload),
            # The message as people read it (a `tail -f` of the file reads like the email).
            "text": render.text(payload),
            "payload": message.payload,
        }
        data = (json.dumps(line, sort_keys=True) + "\n").encode("utf-8")
        try:
            private_dir(self.path.parent)
            # One write on an O_APPEND descriptor: concurrent writers never interleave lines.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                before = os.fstat(fd).st_size
                written = os.write(fd, data)
                if written != len(data):
                    # A full disk or a quota: take the torn line back, try again later.
                    os.ftruncate(fd, before)
                    raise RetryableError(
                        f"short write to {self.path} ({written} of {len(data)} bytes): disk full?"
                    )
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise RetryableError(f"cannot append to {self.path}: {exc.strerror}") from exc
