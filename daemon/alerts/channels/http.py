"""One HTTP POST with the retry classification Slack and webhooks share.

Error messages name the receiver kind and status, never the URL: a Slack webhook
URL is itself the secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from daemon.alerts.channels.interface import ChannelUnreachable, PermanentError, RetryableError

# Slack says 1 message a second per webhook; without a Retry-After, wait a little.
DEFAULT_RETRY_AFTER_S = 30.0
MAX_ERROR_TEXT = 300


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def post_json(
    client: httpx.Client,
    url: str,
    body: Mapping[str, object],
    headers: Mapping[str, str],
    timeout: float,
    receiver: str,
) -> httpx.Response:
    try:
        response = client.post(url, json=body, headers=dict(headers), timeout=timeout)
    except httpx.TimeoutException as exc:
        raise ChannelUnreachable(f"{receiver}: timed out after {timeout:g}s") from exc
    except httpx.TransportError as exc:
        raise ChannelUnreachable(f"{receiver}: {type(exc).__name__}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return response
    reason = response.text.strip()[:MAX_ERROR_TEXT] or response.reason_phrase
    if status == 429:
        after = retry_after_seconds(response.headers.get("Retry-After"))
        raise RetryableError(
            f"{receiver}: HTTP 429 rate limited ({reason})",
            retry_after=DEFAULT_RETRY_AFTER_S if after is None else after,
        )
    if status >= 500 or status == 408:
        raise RetryableError(f"{receiver}: HTTP {status} ({reason})")
    raise PermanentError(f"{receiver}: HTTP {status} {reason}")
