"""Notifiers: what the ops team reads when a sync fails or retries."""

from plugins.podium_provider.notifications.podium import PodiumFailureNotifier, failure_alert, format_alert

__all__ = ["PodiumFailureNotifier", "failure_alert", "format_alert"]
