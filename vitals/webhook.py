"""Alerts to a chat channel: one JSON POST to an incoming-webhook URL (Slack-compatible).

Slack's incoming webhooks take ``{"text": ..., "attachments": [...]}``; Mattermost,
Rocket.Chat and Microsoft Teams' Slack-compatible connectors accept the same body. The
URL is a secret (whoever holds it can post): it never appears in a message or error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


class WebhookError(RuntimeError):
    """The webhook did not take the alert (the message names no URL)."""


def slack_payload(
    title: str, fields: Mapping[str, object], *, color: str = "danger"
) -> dict[str, Any]:
    """``text`` for clients that show only it, plus one attachment with the fields."""
    shown = {name: value for name, value in fields.items() if value not in (None, "", [])}
    lines = [f"*{title}*", *(f"{name}: {value}" for name, value in shown.items())]
    return {
        "text": "\n".join(lines),
        "attachments": [
            {
                "color": color,
                "title": title,
                "fields": [
                    {"title": name, "value": str(value), "short": len(str(value)) < 40}
                    for name, value in shown.items()
                ],
            }
        ],
    }


def post_webhook(url: str, payload: Mapping[str, Any], *, timeout_s: float = 10.0) -> None:
    """POST ``payload`` as JSON; :class:`WebhookError` unless the answer is 2xx."""
    try:
        response = httpx.post(url, json=dict(payload), timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise WebhookError(f"alert webhook unreachable: {type(exc).__name__}") from None
    if not response.is_success:
        raise WebhookError(f"alert webhook answered HTTP {response.status_code}")
