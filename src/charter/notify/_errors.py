"""The errors the notify package raises on purpose; each message is one user-facing sentence."""

from __future__ import annotations

from charter.errors import CharterError


class NotifyError(CharterError):
    """A notification set up wrongly: a bad notice, an unusable stakeholder or setting.

    The `Notifier` constructor raises it before anything is sent, so a charter whose
    stakeholders cannot be reached fails early, not at the first incident.
    """


class DeliveryError(NotifyError):
    """One attempt to deliver a notice failed; channels raise it, the `Notifier` records it.

    `retryable` says whether another attempt may succeed (a 5xx, a timeout, a refused
    connection) or not (a 4xx, a directory where the file should be); `status_code` is
    the HTTP status the endpoint answered, if it answered.
    """

    def __init__(self, message: str, *, retryable: bool, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
