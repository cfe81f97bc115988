"""The channels: each sends one notice once, returns, or raises `DeliveryError`.

Channels know nothing of retries or stakeholders' settings; the `Notifier` builds them,
retries them and records what happened.
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Protocol, TextIO

import orjson

from charter.notify._errors import DeliveryError
from charter.notify._notice import FieldValue, Notice

# Slack's documented limits for Block Kit: text beyond them makes Slack refuse the whole
# message with a 400, so the payload is cut to fit instead.
_SLACK_HEADER_MAX = 150
_SLACK_SECTION_MAX = 3000
_SLACK_FIELDS_MAX = 10
_SLACK_FIELD_MAX = 2000
_SLACK_EMOJI = {
    "incident.opened": ":rotating_light:",
    "incident.resolved": ":white_check_mark:",
    "retrain.promoted": ":arrow_up:",
    "retrain.refused": ":no_entry_sign:",
    "test": ":wave:",
}
# Enough of an error answer to say why, short enough to keep a ledger row small.
_ANSWER_SNIPPET = 200
_ANSWER_READ_MAX = 64 * 1024
_USER_AGENT = "charter-notify/1"


class Channel(Protocol):
    """One way to reach a stakeholder.

    `send` returns the HTTP status for HTTP channels (None for others) and raises
    `DeliveryError` when the notice did not arrive.
    """

    name: str

    def send(self, notice: Notice) -> int | None: ...


def show(value: FieldValue) -> str:
    """A field's value as people read it: floats to 6 significant digits, null as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, ".6g")
    return str(value)


def _flat(text: str) -> str:
    return " ".join(text.split())


def console_line(notice: Notice) -> str:
    """One compact line: time, project, kind, title, then the facts as name=value."""
    facts = " ".join(f"{_flat(name)}={_flat(show(value))}" for name, value in notice.fields.items())
    line = f"[charter] {notice.utc_time} {notice.project} {notice.kind}: {_flat(notice.title)}"
    return f"{line} | {facts}" if facts else line


class ConsoleChannel:
    """Writes `console_line` to a text stream; by default the stderr of the moment."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, notice: Notice) -> int | None:
        stream = self.stream if self.stream is not None else sys.stderr
        try:
            stream.write(console_line(notice) + "\n")
            stream.flush()
        except (OSError, ValueError) as error:  # ValueError: the stream is closed
            raise DeliveryError(
                f"The console stream refused the notice: {error}.", retryable=False
            ) from None
        return None


def file_line(notice: Notice, stakeholder: str | None = None) -> bytes:
    """The notice as one JSON line (orjson), naming the stakeholder it was meant for."""
    record = notice.as_dict()
    if stakeholder is not None:
        record["stakeholder"] = stakeholder
    return orjson.dumps(record) + b"\n"


class FileChannel:
    """Appends one JSON object per line to a file, whole and fsynced.

    The line is written by a single `os.write` on an `O_APPEND` descriptor: on a local disk
    the kernel appends it in one piece, so writers in several threads or processes never
    interleave, and a crash leaves whole lines (at worst one missing), never half of one.
    """

    name = "file"

    def __init__(self, path: Path, *, stakeholder: str | None = None) -> None:
        self.path = path
        self.stakeholder = stakeholder

    def send(self, notice: Notice) -> int | None:
        line = file_line(notice, self.stakeholder)
        try:
            self._append(line)
        except OSError as error:
            reason = error.strerror or str(error)
            raise DeliveryError(
                f"The notification file {self.path} cannot be appended to: {reason}.",
                retryable=False,
            ) from None
        return None

    def _append(self, line: bytes) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):
                # Only a full disk does this on a regular file; say so rather than claim success.
                raise OSError(0, f"only {written} of {len(line)} bytes were written")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make a new file's name durable too, not only its bytes."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would arrive as a bodiless GET: report the 3xx instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def check_url(url: str) -> str | None:
    """Why `url` cannot be posted to, or None; the reason never repeats the URL (a secret)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return "a well-formed URL"
    if parts.scheme not in ("http", "https"):
        return "an http:// or https:// URL"
    if not parts.hostname:
        return "a URL with a host name"
    return None


def post_json(url: str, body: bytes, *, timeout_s: float) -> int:
    """POST a JSON body; return the 2xx status or raise `DeliveryError` saying why not.

    Error messages never include the URL: a webhook URL is a credential.
    """
    request = urllib.request.Request(
        url.strip(),
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT},
    )
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            response.read(_ANSWER_READ_MAX)
            return int(response.status)
    except urllib.error.HTTPError as error:
        raise _refused(error) from None
    except urllib.error.URLError as error:
        raise _unreachable(error.reason, timeout_s) from None
    except (OSError, http.client.HTTPException) as error:
        raise _unreachable(error, timeout_s) from None


def _refused(error: urllib.error.HTTPError) -> DeliveryError:
    with error:
        answer = error.read(_ANSWER_SNIPPET).decode("utf-8", "replace") if error.fp else ""
    answer = _flat(answer)
    status = error.code
    # 5xx is the endpoint's trouble, 408 and 429 say "later": all may pass on a later try.
    # Any other 4xx (and a 3xx redirect) will be refused the same way again.
    retryable = status >= 500 or status in (408, 429)
    said = f": {answer}" if answer else ""
    return DeliveryError(
        f"The endpoint answered HTTP {status} {error.reason}{said}.",
        retryable=retryable,
        status_code=status,
    )


def _unreachable(reason: object, timeout_s: float) -> DeliveryError:
    if isinstance(reason, TimeoutError):
        return DeliveryError(f"The endpoint did not answer within {timeout_s:g} s.", retryable=True)
    return DeliveryError(f"The endpoint could not be reached: {reason}.", retryable=True)


def slack_payload(notice: Notice) -> dict[str, Any]:
    """Slack's incoming-webhook JSON: `text` for notifications, `blocks` for the message."""
    emoji = _SLACK_EMOJI.get(notice.kind, "")
    headline = _cut(f"{emoji} {notice.title}".strip(), _SLACK_HEADER_MAX)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline, "emoji": True}}
    ]
    if notice.text.strip():
        body = _cut(_escape(notice.text.strip()), _SLACK_SECTION_MAX)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    facts = list(notice.fields.items())[:_SLACK_FIELDS_MAX]
    if facts:
        fields = [
            {
                "type": "mrkdwn",
                "text": _cut(f"*{_escape(name)}*\n{_escape(show(value))}", _SLACK_FIELD_MAX),
            }
            for name, value in facts
        ]
        blocks.append({"type": "section", "fields": fields})
    context = f"{_escape(notice.project)} · {notice.kind} · {notice.utc_time} · {notice.key}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": _escape(f"{notice.project}: {_flat(notice.title)}"), "blocks": blocks}


def _escape(text: str) -> str:
    """Slack's mrkdwn reads &, < and > as markup; escaped, they show as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SlackChannel:
    """POSTs `slack_payload` to a Slack incoming-webhook URL."""

    name = "slack"

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"SlackChannel(url=<hidden>, timeout_s={self.timeout_s})"

    def send(self, notice: Notice) -> int | None:
        return post_json(self.url, orjson.dumps(slack_payload(notice)), timeout_s=self.timeout_s)


class WebhookChannel:
    """POSTs the notice itself (`Notice.as_dict`) as JSON to any URL."""

    name = "webhook"

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"WebhookChannel(url=<hidden>, timeout_s={self.timeout_s})"

    def send(self, notice: Notice) -> int | None:
        return post_json(self.url, orjson.dumps(notice.as_dict()), timeout_s=self.timeout_s)
