"""Notifications: tell a project's stakeholders when an incident opens or closes, or a retrain
promotes or refuses a challenger, each through the channel their charter entry names.

    notifier = Notifier(charter.project.stakeholders, base_dir=project_folder,
                        already_sent=lambda key, name: ...)   # the caller's ledger lookup
    notice = Notice(project="churn", kind="incident.opened", key="incident-12-opened",
                    title="AUC fell below 0.80", time=datetime.now(timezone.utc),
                    text="Window 2026-01-31 07:00-08:00: AUC 0.76 on 1,204 labelled rows.",
                    fields={"KPI": "auc", "value": 0.76, "threshold": ">= 0.80"})
    for delivery in notifier.notify(notice):                  # never raises for a failure
        ...  # record delivery.as_dict() as a ledger event

Channels (`Stakeholder.notify`, and what its `target` means):

    console   one line on stderr ("stdout" as target: on stdout)
    file      one JSON object per line, appended whole and fsynced; target: the path,
              relative to the project folder unless absolute
    slack     Slack incoming-webhook payload (text + blocks); target: the NAME of the
              environment variable that holds the webhook URL, never the URL
    webhook   the notice as a JSON object (`Notice.as_dict`), POSTed; target as for slack
    none      nobody is told

Once-only delivery is the caller's: the lifecycle records every returned `Delivery` as a
ledger event and answers `already_sent(key, stakeholder)` from those events, so a notice
re-sent after a crash reaches only the stakeholders it had not reached. This package
imports no ledger. Setup mistakes raise `NotifyError` from the constructor; each failed
sending attempt is a `DeliveryError` inside, recorded in `Delivery.error`.
"""

from charter.notify._channels import (
    Channel,
    ConsoleChannel,
    FileChannel,
    SlackChannel,
    WebhookChannel,
    console_line,
    file_line,
    slack_payload,
)
from charter.notify._deliver import SUPPORTED_CHANNELS, Notifier
from charter.notify._errors import DeliveryError, NotifyError
from charter.notify._notice import NOTICE_KINDS, NOTICE_SCHEMA, Delivery, Notice, NoticeKind

__all__ = [
    "NOTICE_KINDS",
    "NOTICE_SCHEMA",
    "SUPPORTED_CHANNELS",
    "Channel",
    "ConsoleChannel",
    "Delivery",
    "DeliveryError",
    "FileChannel",
    "Notice",
    "NoticeKind",
    "Notifier",
    "NotifyError",
    "SlackChannel",
    "WebhookChannel",
    "console_line",
    "file_line",
    "slack_payload",
]
