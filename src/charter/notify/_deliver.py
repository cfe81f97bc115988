"""The `Notifier`: one notice to every stakeholder, retried, recorded, never raising."""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from charter.notify._channels import (
    Channel,
    ConsoleChannel,
    FileChannel,
    SlackChannel,
    WebhookChannel,
    check_url,
)
from charter.notify._errors import DeliveryError, NotifyError
from charter.notify._notice import Delivery, Notice
from charter.spec.schema import Stakeholder

#: The channels this package delivers through; "none" means "keep this stakeholder quiet".
SUPPORTED_CHANNELS = ("console", "file", "slack", "webhook")
_HTTP_CHANNELS = ("slack", "webhook")
_CONSOLE_TARGETS = ("stderr", "stdout")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Deliveries to different stakeholders run side by side, so one slow webhook delays no
# one else; a handful of threads is plenty for the few stakeholders a project has.
_MAX_PARALLEL = 8


@dataclass(frozen=True)
class _Tried:
    """How the attempts at one delivery ended."""

    delivered: bool
    attempts: int
    error: str | None
    status: int | None


@dataclass(frozen=True)
class _Route:
    """A stakeholder checked at construction: how to build its channel at sending time."""

    stakeholder: str
    channel: str
    target: str | None


class Notifier:
    """Sends notices to a project's stakeholders, each through the channel they chose.

    The constructor checks every stakeholder and raises `NotifyError` for what can never
    work (an unsupported channel, a missing target, a URL written where the name of an
    environment variable belongs). `notify` never raises for a failed delivery: monitoring
    must go on, so each failure becomes a `Delivery` with `delivered=False` and a reason.

    Webhook URLs are read from `environ` at each `notify`, so a secret set after start-up
    is used, and a missing one is an undelivered delivery, not a crash. Relative file
    targets are resolved against `base_dir` (the project folder). Console stakeholders
    write to `console` if given, else to stderr (stdout if their target is "stdout").
    Attempts that may pass later (HTTP 5xx, 408, 429, timeouts, refused connections) are
    tried up to `retries` times in all, waiting `backoff_s`, then twice that, and so on,
    through `sleep`.

    `already_sent(key, stakeholder_name)` lets the caller, which keeps deliveries as ledger
    events, skip a stakeholder that already received the notice with that key; it is
    called in the calling thread (its exceptions are the caller's and propagate), and
    skipped stakeholders are left out of the result.
    """

    def __init__(
        self,
        stakeholders: Iterable[Stakeholder],
        *,
        base_dir: Path | str,
        environ: Mapping[str, str] = os.environ,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], Any] = time.sleep,
        already_sent: Callable[[str, str], bool] | None = None,
        console: TextIO | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.environ = environ
        self.timeout_s = _positive("timeout_s", timeout_s)
        self.retries = _at_least_one("retries", retries)
        self.backoff_s = _not_negative("backoff_s", backoff_s)
        self.sleep = sleep
        self.already_sent = already_sent
        self.console = console
        self._routes = _routes(tuple(stakeholders))

    @property
    def recipients(self) -> tuple[str, ...]:
        """The names of the stakeholders a notice goes to (those with a channel)."""
        return tuple(route.stakeholder for route in self._routes)

    def notify(self, notice: Notice) -> list[Delivery]:
        """Deliver `notice` to every stakeholder not already served; one `Delivery` each."""
        if not isinstance(notice, Notice):
            raise NotifyError(
                f"The 'notice' of Notifier.notify must be a Notice. Got {notice!r} instead."
            )
        due = [route for route in self._routes if not self._served(notice.key, route)]
        if len(due) <= 1:
            return [self._deliver(route, notice) for route in due]
        with ThreadPoolExecutor(max_workers=min(len(due), _MAX_PARALLEL)) as pool:
            return list(pool.map(lambda route: self._deliver(route, notice), due))

    def _served(self, key: str, route: _Route) -> bool:
        return self.already_sent is not None and bool(self.already_sent(key, route.stakeholder))

    def _deliver(self, route: _Route, notice: Notice) -> Delivery:
        started = time.perf_counter()
        channel = self._channel(route)
        if isinstance(channel, str):
            tried = _Tried(delivered=False, attempts=0, error=channel, status=None)
        else:
            tried = self._attempt(channel, notice)
        return Delivery(
            stakeholder=route.stakeholder,
            channel=route.channel,
            key=notice.key,
            delivered=tried.delivered,
            attempts=tried.attempts,
            error=tried.error,
            status_code=tried.status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def _attempt(self, channel: Channel, notice: Notice) -> _Tried:
        """Send until delivered, refused for good, or out of attempts; wait between tries."""
        attempt = 0
        while True:
            attempt += 1
            try:
                status = channel.send(notice)
            except DeliveryError as failure:
                error, status, retryable = str(failure), failure.status_code, failure.retryable
            except Exception as failure:  # a channel's bug must not stop monitoring either
                error, status, retryable = f"{type(failure).__name__}: {failure}", None, False
            else:
                return _Tried(delivered=True, attempts=attempt, error=None, status=status)
            if not retryable or attempt >= self.retries:
                return _Tried(delivered=False, attempts=attempt, error=error, status=status)
            self.sleep(self.backoff_s * 2 ** (attempt - 1))

    def _channel(self, route: _Route) -> Channel | str:
        """The channel for `route`, or why it cannot be built now (an unset variable)."""
        if route.channel == "console":
            stream = self.console
            if stream is None and route.target == "stdout":
                stream = sys.stdout
            return ConsoleChannel(stream)
        if route.channel == "file":
            assert route.target is not None  # checked by _route
            path = Path(route.target).expanduser()
            path = path if path.is_absolute() else self.base_dir / path
            return FileChannel(path, stakeholder=route.stakeholder)
        assert route.target is not None  # checked by _route
        where = f"The environment variable '{route.target}' (the 'target' of stakeholder "
        where += f"'{route.stakeholder}') must hold"
        url = self.environ.get(route.target)
        if url is None or not url.strip():
            state = "It is not set." if url is None else "It is empty."
            return f"{where} the {route.channel} URL. {state}"
        problem = check_url(url)
        if problem is not None:
            # Never echo the value: it is a credential, however malformed.
            return f"{where} {problem}. It holds something else."
        if route.channel == "slack":
            return SlackChannel(url, timeout_s=self.timeout_s)
        return WebhookChannel(url, timeout_s=self.timeout_s)


def _routes(stakeholders: tuple[Stakeholder, ...]) -> tuple[_Route, ...]:
    routes: list[_Route] = []
    seen: set[str] = set()
    for stakeholder in stakeholders:
        if not isinstance(stakeholder, Stakeholder):
            raise NotifyError(
                "The 'stakeholders' of a Notifier must be charter Stakeholders. "
                f"Got {stakeholder!r} instead."
            )
        if stakeholder.name in seen:
            # Once-only delivery is keyed by name: two stakeholders with one name would share it.
            raise NotifyError(
                "The 'name' of each stakeholder must be unique. "
                f"Got {stakeholder.name!r} twice instead."
            )
        seen.add(stakeholder.name)
        route = _route(stakeholder)
        if route is not None:
            routes.append(route)
    return tuple(routes)


def _route(stakeholder: Stakeholder) -> _Route | None:
    channel, target, name = stakeholder.notify, stakeholder.target, stakeholder.name
    where = f"stakeholder '{name}'"
    if channel == "none":
        return None
    if channel not in SUPPORTED_CHANNELS:
        raise NotifyError(
            f"The 'notify' of {where} must be one of {', '.join(SUPPORTED_CHANNELS)} or none. "
            f"Got {channel!r} instead."
        )
    target = target.strip() if target is not None and target.strip() else None
    if channel == "console" and target not in (None, *_CONSOLE_TARGETS):
        raise NotifyError(
            f"The 'target' of {where} must be empty, 'stderr' or 'stdout' for the console. "
            f"Got {target!r} instead."
        )
    if channel == "file" and target is None:
        raise NotifyError(
            f"The 'target' of {where} must be the path of the file to append notices to. "
            "Got nothing instead."
        )
    if channel in _HTTP_CHANNELS:
        _check_env_name(where, channel, target)
    return _Route(stakeholder=name, channel=channel, target=target)


def _check_env_name(where: str, channel: str, target: str | None) -> None:
    constraint = (
        f"the name of an environment variable holding the {channel} URL (never the URL itself)"
    )
    if target is None:
        raise NotifyError(f"The 'target' of {where} must be {constraint}. Got nothing instead.")
    if "://" in target:
        # Do not repeat it: whoever wrote a webhook URL into the charter has leaked a secret.
        raise NotifyError(f"The 'target' of {where} must be {constraint}. Got a URL instead.")
    if not _ENV_NAME.match(target):
        raise NotifyError(f"The 'target' of {where} must be {constraint}. Got {target!r} instead.")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise NotifyError(
            f"The '{name}' of a Notifier must be a finite number. Got {value!r} instead."
        )
    return float(value)


def _positive(name: str, value: Any) -> float:
    number = _number(name, value)
    if number <= 0:
        raise NotifyError(f"The '{name}' of a Notifier must be above 0. Got {value!r} instead.")
    return number


def _not_negative(name: str, value: Any) -> float:
    number = _number(name, value)
    if number < 0:
        raise NotifyError(f"The '{name}' of a Notifier must be 0 or more. Got {value!r} instead.")
    return number


def _at_least_one(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NotifyError(
            f"The '{name}' of a Notifier must be a whole number of attempts, 1 or more. "
            f"Got {value!r} instead."
        )
    return value
