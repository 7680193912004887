"""The alert channel as a Dagster resource: config fields, delegating to vitals.webhook."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from vitals.webhook import post_webhook, slack_payload


class AlertWebhookResource(dg.ConfigurableResource["AlertWebhookResource"]):
    """An incoming webhook (Slack-compatible JSON) for run failures and stalls.

    ``url`` is a secret: bind it as ``dg.EnvVar("VITALS_ALERT_WEBHOOK_URL")``. Empty
    means no channel: alerts then go only to ``alerts.jsonl``.
    """

    url: str = ""
    timeout_seconds: float = 10.0

    @property
    def enabled(self) -> bool:
        """True when a webhook URL is configured."""
        return bool(self.url)

    def send(self, title: str, fields: Mapping[str, object], *, color: str = "danger") -> None:
        """Post one alert; raises ``vitals.webhook.WebhookError`` when it is refused."""
        post_webhook(
            self.url, slack_payload(title, fields, color=color), timeout_s=self.timeout_seconds
        )
