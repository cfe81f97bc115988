"""The Notifier: each stakeholder reached or a reason given; retried, once only, never raising."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from charter.notify import Delivery, Notifier, NotifyError, console_line, slack_payload
from charter.spec import load_charter
from charter.spec.schema import Stakeholder
from tests.conftest import EXAMPLES

from .conftest import HANG, MakeNotice, MakeNotifier, Receiver, Sleeps, stakeholder

# --- the journey: every channel at once ---------------------------------------------------


def test_one_notice_reaches_every_channel(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice, tmp_path: Path
) -> None:
    console = io.StringIO()
    notifier = make_notifier(
        [
            stakeholder("Retention", "console"),
            stakeholder("ML on-call", "file", ".charter/notifications.jsonl"),
            stakeholder("Team channel", "slack", "CHURN_SLACK_URL"),
            stakeholder("Pager", "webhook", "CHURN_PAGER_URL"),
            stakeholder("Quiet", "none"),
        ],
        environ={
            "CHURN_SLACK_URL": receiver.url("/slack"),
            "CHURN_PAGER_URL": receiver.url("/pager"),
        },
        console=console,
    )
    assert notifier.recipients == ("Retention", "ML on-call", "Team channel", "Pager")
    deliveries = notifier.notify(make_notice())

    assert [(d.stakeholder, d.channel) for d in deliveries] == [
        ("Retention", "console"),
        ("ML on-call", "file"),
        ("Team channel", "slack"),
        ("Pager", "webhook"),
    ]
    assert all(d.delivered and d.attempts == 1 and d.error is None for d in deliveries)
    assert [d.status_code for d in deliveries] == [None, None, 200, 200]
    assert all(d.key == "incident-12-opened" and d.duration_ms >= 0 for d in deliveries)
    assert console.getvalue() == console_line(make_notice()) + "\n"
    line = (tmp_path / ".charter" / "notifications.jsonl").read_bytes()
    assert orjson.loads(line) == {**make_notice().as_dict(), "stakeholder": "ML on-call"}
    bodies = {request.path: request.json() for request in receiver.requests}
    assert bodies == {"/slack": slack_payload(make_notice()), "/pager": make_notice().as_dict()}


def test_the_telco_example_stakeholders_are_notified(
    make_notifier: MakeNotifier, make_notice: MakeNotice, tmp_path: Path
) -> None:
    loaded = load_charter(EXAMPLES / "telco-churn" / "charter.yaml")
    console = io.StringIO()
    notifier = make_notifier(loaded.charter.project.stakeholders, console=console)
    deliveries = notifier.notify(make_notice())
    assert [(d.stakeholder, d.channel, d.delivered) for d in deliveries] == [
        ("Retention", "console", True),
        ("ML on-call", "file", True),
    ]
    assert (tmp_path / ".charter" / "notifications.jsonl").read_bytes().count(b"\n") == 1


def test_an_absolute_file_target_ignores_the_base_folder(
    make_notifier: MakeNotifier, make_notice: MakeNotice, tmp_path: Path
) -> None:
    path = tmp_path / "elsewhere" / "n.jsonl"
    notifier = make_notifier([stakeholder("ops", "file", str(path))], base_dir=tmp_path / "x")
    (delivery,) = notifier.notify(make_notice())
    assert delivery.delivered
    assert path.exists()
    assert not (tmp_path / "x").exists()


def test_console_target_stdout_writes_to_stdout(
    make_notifier: MakeNotifier, make_notice: MakeNotice, capsys: pytest.CaptureFixture[str]
) -> None:
    make_notifier([stakeholder("a", "console", "stdout"), stakeholder("b")]).notify(make_notice())
    captured = capsys.readouterr()
    assert captured.out == console_line(make_notice()) + "\n"
    assert captured.err == console_line(make_notice()) + "\n"


def test_a_project_without_stakeholders_notifies_nobody(
    make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    assert make_notifier([]).notify(make_notice()) == []
    assert make_notifier([stakeholder("q", "none")]).notify(make_notice()) == []


# --- retries and backoff ------------------------------------------------------------------


def webhook_notifier(make_notifier: MakeNotifier, receiver: Receiver, **options: Any) -> Notifier:
    return make_notifier(
        [stakeholder("Pager", "webhook", "PAGER_URL")],
        environ={"PAGER_URL": receiver.url()},
        **options,
    )


def test_500_twice_then_200_is_delivered_on_the_third_attempt(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice, sleeps: Sleeps
) -> None:
    receiver.answer(500, 500)
    (delivery,) = webhook_notifier(make_notifier, receiver).notify(make_notice())
    assert delivery.delivered
    assert delivery.attempts == 3
    assert delivery.status_code == 200
    assert delivery.error is None
    assert len(receiver.requests) == 3
    assert sleeps.delays == [0.5, 1.0]


def test_always_500_is_undelivered_after_all_attempts_with_the_error(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice, sleeps: Sleeps
) -> None:
    receiver.default = 500
    notifier = webhook_notifier(make_notifier, receiver, retries=4, backoff_s=0.25)
    (delivery,) = notifier.notify(make_notice())
    assert not delivery.delivered
    assert delivery.attempts == 4
    assert delivery.status_code == 500
    assert delivery.error == "The endpoint answered HTTP 500 Internal Server Error: scripted 500."
    assert len(receiver.requests) == 4
    # Exponential, and no wait after the last attempt.
    assert sleeps.delays == [0.25, 0.5, 1.0]


def test_a_timeout_is_retried_then_undelivered(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice, sleeps: Sleeps
) -> None:
    receiver.default = HANG
    notifier = webhook_notifier(make_notifier, receiver, timeout_s=0.1, retries=2)
    (delivery,) = notifier.notify(make_notice())
    assert not delivery.delivered
    assert delivery.attempts == 2
    assert delivery.error == "The endpoint did not answer within 0.1 s."
    assert delivery.status_code is None
    assert delivery.duration_ms >= 200
    assert sleeps.delays == [0.5]


def test_a_timeout_then_an_answer_is_delivered(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    receiver.answer(HANG)
    notifier = webhook_notifier(make_notifier, receiver, timeout_s=0.1)
    (delivery,) = notifier.notify(make_notice())
    assert delivery.delivered
    assert delivery.attempts == 2


def test_400_is_not_retried(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice, sleeps: Sleeps
) -> None:
    receiver.default = 400
    (delivery,) = webhook_notifier(make_notifier, receiver).notify(make_notice())
    assert not delivery.delivered
    assert delivery.attempts == 1
    assert delivery.status_code == 400
    assert delivery.error is not None
    assert "HTTP 400" in delivery.error
    assert len(receiver.requests) == 1
    assert sleeps.delays == []


def test_429_is_retried(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    receiver.answer(429)
    (delivery,) = webhook_notifier(make_notifier, receiver).notify(make_notice())
    assert delivery.delivered
    assert delivery.attempts == 2


def test_a_huge_notice_is_posted_whole(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    notice = make_notice(text="z" * 5_000_000, fields={f"f{i}": i for i in range(1000)})
    (delivery,) = webhook_notifier(make_notifier, receiver).notify(notice)
    assert delivery.delivered
    assert receiver.requests[0].json() == notice.as_dict()


def test_a_refused_connection_is_retried_then_undelivered(
    refused_url: str, make_notifier: MakeNotifier, make_notice: MakeNotice, sleeps: Sleeps
) -> None:
    notifier = make_notifier(
        [stakeholder("Team", "slack", "SLACK_URL")], environ={"SLACK_URL": refused_url}
    )
    (delivery,) = notifier.notify(make_notice())
    assert not delivery.delivered
    assert delivery.attempts == 3
    assert delivery.error is not None
    assert delivery.error.startswith("The endpoint could not be reached")
    assert sleeps.delays == [0.5, 1.0]


def test_retries_one_means_a_single_attempt(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice, sleeps: Sleeps
) -> None:
    receiver.default = 503
    (delivery,) = webhook_notifier(make_notifier, receiver, retries=1).notify(make_notice())
    assert (delivery.delivered, delivery.attempts, sleeps.delays) == (False, 1, [])


def test_one_failing_stakeholder_does_not_stop_the_others(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice, tmp_path: Path
) -> None:
    receiver.default = HANG
    (tmp_path / "blocked").mkdir()
    console = io.StringIO()
    notifier = make_notifier(
        [
            stakeholder("Slow", "webhook", "URL"),
            stakeholder("Blocked", "file", "blocked"),
            stakeholder("Unset", "slack", "NOT_SET"),
            stakeholder("Console", "console"),
        ],
        environ={"URL": receiver.url()},
        console=console,
        timeout_s=0.1,
        retries=1,
    )
    deliveries = notifier.notify(make_notice())
    assert [d.delivered for d in deliveries] == [False, False, False, True]
    assert console.getvalue()


# --- clear outcomes for what cannot work --------------------------------------------------


def test_a_missing_environment_variable_is_undelivered_with_a_reason(
    make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    notifier = make_notifier([stakeholder("Team", "slack", "CHURN_SLACK_URL")], environ={})
    (delivery,) = notifier.notify(make_notice())
    assert delivery == Delivery(
        stakeholder="Team",
        channel="slack",
        key="incident-12-opened",
        delivered=False,
        attempts=0,
        error="The environment variable 'CHURN_SLACK_URL' (the 'target' of stakeholder 'Team') "
        "must hold the slack URL. It is not set.",
        status_code=None,
        duration_ms=delivery.duration_ms,
    )


@pytest.mark.parametrize(
    "value", ["", "   ", "not a url", "ftp://hooks.example/secret-token", "https:///secret-token"]
)
def test_an_environment_variable_without_a_url_is_undelivered_without_echoing_it(
    make_notifier: MakeNotifier, make_notice: MakeNotice, value: str
) -> None:
    notifier = make_notifier([stakeholder("Pager", "webhook", "PAGER")], environ={"PAGER": value})
    (delivery,) = notifier.notify(make_notice())
    assert not delivery.delivered
    assert delivery.attempts == 0
    assert delivery.error is not None
    assert delivery.error.startswith("The environment variable 'PAGER'")
    assert "secret-token" not in delivery.error


def test_the_environment_is_read_at_each_notify(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    environ: dict[str, str] = {}
    notifier = make_notifier([stakeholder("Pager", "webhook", "PAGER")], environ=environ)
    assert not notifier.notify(make_notice())[0].delivered
    environ["PAGER"] = receiver.url()
    assert notifier.notify(make_notice())[0].delivered


def test_an_unwritable_file_is_undelivered_with_a_reason_and_not_retried(
    make_notifier: MakeNotifier, make_notice: MakeNotice, tmp_path: Path, sleeps: Sleeps
) -> None:
    (tmp_path / "notifications.jsonl").mkdir()
    notifier = make_notifier([stakeholder("ops", "file", "notifications.jsonl")])
    (delivery,) = notifier.notify(make_notice())
    assert not delivery.delivered
    assert delivery.attempts == 1
    assert delivery.error is not None
    assert "notifications.jsonl cannot be appended to: Is a directory" in delivery.error
    assert sleeps.delays == []


def test_a_closed_console_is_undelivered(
    make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    console = io.StringIO()
    console.close()
    (delivery,) = make_notifier([stakeholder("a")], console=console).notify(make_notice())
    assert not delivery.delivered
    assert delivery.error is not None
    assert "console stream refused" in delivery.error


def test_an_unexpected_channel_failure_is_recorded_not_raised(
    make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise RuntimeError("boom")

    (delivery,) = make_notifier([stakeholder("a")], console=Broken()).notify(make_notice())
    assert not delivery.delivered
    assert delivery.attempts == 1
    assert delivery.error == "RuntimeError: boom"


@pytest.mark.parametrize(
    ("who", "message"),
    [
        (
            # The charter refuses "email" already; the notifier checks on its own too.
            Stakeholder.model_construct(name="Board", notify="email", target="board@example.com"),  # type: ignore[arg-type]
            r"The 'notify' of stakeholder 'Board' must be one of console, file, slack, webhook "
            r"or none\. Got 'email' instead\.",
        ),
        (
            Stakeholder.model_construct(name="X", notify="pigeon", target=None),  # type: ignore[arg-type]
            r"'notify' of stakeholder 'X' .* Got 'pigeon' instead",
        ),
        (
            stakeholder("ops", "file"),
            r"The 'target' of stakeholder 'ops' must be the path of the file .* Got nothing",
        ),
        (
            stakeholder("ops", "file", "   "),
            r"'target' of stakeholder 'ops' must be the path",
        ),
        (
            stakeholder("Team", "slack"),
            r"The 'target' of stakeholder 'Team' must be the name of an environment variable "
            r"holding the slack URL \(never the URL itself\)\. Got nothing instead\.",
        ),
        (
            stakeholder("Team", "webhook", "https://hooks.example/T0/B0/secret-token"),
            r"'target' of stakeholder 'Team' .* webhook URL .* Got a URL instead\.$",
        ),
        (
            stakeholder("Team", "webhook", "MY-URL"),
            r"'target' .* Got 'MY-URL' instead",
        ),
        (
            stakeholder("Me", "console", "/dev/tty"),
            r"The 'target' of stakeholder 'Me' must be empty, 'stderr' or 'stdout' .* "
            r"Got '/dev/tty' instead",
        ),
    ],
)
def test_a_stakeholder_that_can_never_be_reached_fails_at_construction(
    make_notifier: MakeNotifier, who: Stakeholder, message: str
) -> None:
    with pytest.raises(NotifyError, match=message) as caught:
        make_notifier([who])
    assert "secret-token" not in str(caught.value)


def test_two_stakeholders_with_one_name_fail_at_construction(make_notifier: MakeNotifier) -> None:
    with pytest.raises(NotifyError, match=r"'name' of each stakeholder must be unique\. Got 'a'"):
        make_notifier([stakeholder("a"), stakeholder("a", "file", "x.jsonl")])


def test_stakeholders_must_be_stakeholders(make_notifier: MakeNotifier) -> None:
    with pytest.raises(NotifyError, match=r"'stakeholders' of a Notifier must be charter"):
        make_notifier([{"name": "a", "notify": "console"}])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout_s": 0}, r"The 'timeout_s' of a Notifier must be above 0\. Got 0 instead\."),
        ({"timeout_s": float("inf")}, r"'timeout_s' .* finite number\. Got inf"),
        ({"timeout_s": "5"}, r"'timeout_s' .* finite number\. Got '5' instead"),
        ({"retries": 0}, r"The 'retries' of a Notifier must be a whole number of attempts, 1 or"),
        ({"retries": 2.0}, r"'retries' .* Got 2\.0 instead"),
        ({"retries": True}, r"'retries' .* Got True instead"),
        ({"backoff_s": -1}, r"The 'backoff_s' of a Notifier must be 0 or more\. Got -1 instead"),
        ({"backoff_s": float("nan")}, r"'backoff_s' .* finite number\. Got nan"),
    ],
)
def test_bad_settings_fail_at_construction(
    make_notifier: MakeNotifier, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(NotifyError, match=message):
        make_notifier([stakeholder("a")], **options)


def test_notify_takes_only_notices(make_notifier: MakeNotifier) -> None:
    with pytest.raises(NotifyError, match=r"The 'notice' of Notifier\.notify must be a Notice"):
        make_notifier([stakeholder("a")]).notify("incident!")  # type: ignore[arg-type]


# --- once only ----------------------------------------------------------------------------


def test_already_sent_skips_stakeholders_already_served(
    receiver: Receiver, make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    # A stand-in for the ledger: the caller records delivered deliveries, keyed by notice.
    delivered: set[tuple[str, str]] = set()
    asked: list[tuple[str, str, str]] = []

    def already_sent(key: str, name: str) -> bool:
        asked.append((key, name, threading.current_thread().name))
        return (key, name) in delivered

    receiver.answer(400)  # the pager refuses the first time
    notifier = make_notifier(
        [stakeholder("Console"), stakeholder("Pager", "webhook", "PAGER")],
        environ={"PAGER": receiver.url()},
        console=io.StringIO(),
        already_sent=already_sent,
    )

    def send_and_record(key: str) -> list[Delivery]:
        deliveries = notifier.notify(make_notice(key=key))
        delivered.update((d.key, d.stakeholder) for d in deliveries if d.delivered)
        return deliveries

    first = send_and_record("incident-12-opened")
    assert [(d.stakeholder, d.delivered) for d in first] == [("Console", True), ("Pager", False)]
    second = send_and_record("incident-12-opened")
    assert [(d.stakeholder, d.delivered) for d in second] == [("Pager", True)]
    assert send_and_record("incident-12-opened") == []
    third = send_and_record("incident-12-resolved")
    assert [d.stakeholder for d in third] == ["Console", "Pager"]
    assert len(receiver.requests) == 3
    # Asked in the caller's thread: a ledger session need not be shared across threads.
    assert {thread for _, _, thread in asked} == {threading.current_thread().name}


# --- concurrency --------------------------------------------------------------------------


def test_deliveries_to_stakeholders_run_side_by_side(
    make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    names = [f"watcher{i}" for i in range(4)]
    barrier = threading.Barrier(len(names), timeout=10)

    class Meeting(io.StringIO):
        """A stream whose writes return only once all four are writing at the same time."""

        def write(self, text: str) -> int:
            barrier.wait()  # one after another, the first would wait alone and break it
            return super().write(text)

    console = Meeting()
    notifier = make_notifier([stakeholder(name) for name in names], console=console)
    deliveries = notifier.notify(make_notice())
    assert [d.stakeholder for d in deliveries] == names
    assert all(d.delivered for d in deliveries), deliveries
    assert console.getvalue() == (console_line(make_notice()) + "\n") * 4


def test_a_failing_already_sent_is_the_callers_error(
    make_notifier: MakeNotifier, make_notice: MakeNotice
) -> None:
    def already_sent(key: str, name: str) -> bool:
        raise LookupError("the ledger is gone")

    notifier = make_notifier([stakeholder("a")], already_sent=already_sent)
    with pytest.raises(LookupError, match="the ledger is gone"):
        notifier.notify(make_notice())


def test_one_notifier_shared_by_threads_appends_whole_lines(
    make_notifier: MakeNotifier, make_notice: MakeNotice, tmp_path: Path
) -> None:
    notifier = make_notifier(
        [stakeholder("a", "file", "n.jsonl"), stakeholder("b", "file", "n.jsonl")]
    )
    failures: list[Delivery] = []

    def send(thread: int) -> None:
        for number in range(20):
            deliveries = notifier.notify(make_notice(key=f"k{thread}-{number}", text="y" * 20_000))
            failures.extend(d for d in deliveries if not d.delivered)

    workers = [threading.Thread(target=send, args=(t,)) for t in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    lines = [orjson.loads(line) for line in (tmp_path / "n.jsonl").read_bytes().splitlines()]
    assert len(lines) == 6 * 20 * 2
    assert {(line["key"], line["stakeholder"]) for line in lines} == {
        (f"k{t}-{n}", who) for t in range(6) for n in range(20) for who in ("a", "b")
    }
