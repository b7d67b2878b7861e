"""Generic webhook: the notification as JSON, POSTed to a URL, for other tools.

The body carries the outbox id and an `Idempotency-Key` header, so a receiver can
drop a duplicate delivery. 429 and 5xx are retried, other 4xx are permanent.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from daemon.alerts import render
from daemon.alerts.channels.http import post_json
from daemon.alerts.channels.interface import Outgoing
from daemon.alerts.message import from_json
from daemon.config import Secret


class WebhookSender:
    def __init__(
        self, client: httpx.Client, url: str, token: Secret | None, timeout: float
    ) -> None:
        self.client = client
        self.url = url
        self.token = token
        self.timeout = timeout

    def send(self, message: Outgoing, now: datetime) -> None:
        payload = from_json(message.payload)
        body = {
            "id": message.notification_id,
            "channel": message.channel,
            "kind": message.kind,
            "scope": message.scope,
            "created_at": message.created_at.isoformat(),
            "title": render.subject_line(payload),
            "text": render.text(payload),
            "payload": message.payload,
        }
        headers = {"Idempotency-Key": f"mlmaint-{message.notification_id}"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.reveal()}"
        post_json(self.client, self.url, body, headers, self.timeout, "webhook")
