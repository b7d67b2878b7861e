"""The seam every channel implements, and the errors that steer delivery.

A sender either returns (delivered), raises `RetryableError` (try again later,
maybe after `retry_after` seconds) or `PermanentError` (record and give up: a
retry cannot help, e.g. Slack's `invalid_payload`). Messages built from these
errors end up in the outbox's `last_error` and in logs, so they never carry a
secret: senders build them from status codes and response text, and delivery
redacts them once more before storing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class NotifyError(Exception):
    """Root of the channels' errors."""


class RetryableError(NotifyError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ChannelUnreachable(RetryableError):
    """The receiver did not answer (refused, timed out): pause the channel this run."""


class PermanentError(NotifyError):
    """The receiver refused the message for good."""


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """One outbox row on its way out."""

    notification_id: int
    channel: str
    kind: str
    scope: str
    payload: Mapping[str, object]
    created_at: datetime
    attempt: int


class Sender(Protocol):
    def send(self, message: Outgoing, now: datetime) -> None:
        """Deliver or raise a NotifyError."""
