"""The channels, each against the real thing: a text stream, a file, an HTTP receiver."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from charter.notify import (
    ConsoleChannel,
    DeliveryError,
    FileChannel,
    SlackChannel,
    WebhookChannel,
    console_line,
    file_line,
    slack_payload,
)
from charter.notify._channels import check_url, post_json, show

from .conftest import HANG, MakeNotice, Receiver
from .notify_child import FILLER

CHILD = Path(__file__).with_name("notify_child.py")

# --- console ------------------------------------------------------------------------------


def test_console_line_is_one_compact_line(make_notice: MakeNotice) -> None:
    assert console_line(make_notice()) == (
        "[charter] 2026-01-31T07:30:00Z telco-churn incident.opened: AUC fell below its "
        "threshold | KPI=auc value=0.7612 threshold=>= 0.80 window=1h"
    )


def test_console_line_flattens_whitespace_and_shows_values_for_people(
    make_notice: MakeNotice,
) -> None:
    notice = make_notice(
        fields={"note": "two\nlines", "ok": True, "gone": None, "ratio": 1 / 3, "rows": 12},
    )
    line = console_line(notice)
    assert "\n" not in line
    assert line.endswith("| note=two lines ok=yes gone=- ratio=0.333333 rows=12")
    assert console_line(make_notice(fields={})).endswith(": AUC fell below its threshold")


def test_show_formats_each_kind_of_value() -> None:
    assert [show(v) for v in ("a", 3, 0.25, 1e-9, False, None)] == [
        "a",
        "3",
        "0.25",
        "1e-09",
        "no",
        "-",
    ]


def test_console_channel_writes_one_line_to_its_stream(make_notice: MakeNotice) -> None:
    stream = io.StringIO()
    assert ConsoleChannel(stream).send(make_notice()) is None
    assert stream.getvalue() == console_line(make_notice()) + "\n"


def test_console_channel_defaults_to_the_current_stderr(
    make_notice: MakeNotice, capsys: pytest.CaptureFixture[str]
) -> None:
    ConsoleChannel().send(make_notice())
    captured = capsys.readouterr()
    assert captured.err == console_line(make_notice()) + "\n"
    assert captured.out == ""


def test_a_closed_console_stream_is_a_delivery_error(make_notice: MakeNotice) -> None:
    stream = io.StringIO()
    stream.close()
    with pytest.raises(DeliveryError, match="The console stream refused the notice") as caught:
        ConsoleChannel(stream).send(make_notice())
    assert caught.value.retryable is False


# --- file ---------------------------------------------------------------------------------


def read_lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the file must end with a whole line"
    return [orjson.loads(line) for line in data.splitlines()]


def test_file_channel_appends_one_json_object_per_line(
    tmp_path: Path, make_notice: MakeNotice
) -> None:
    path = tmp_path / "deep" / "er" / "notifications.jsonl"
    channel = FileChannel(path, stakeholder="ML on-call")
    channel.send(make_notice())
    channel.send(make_notice(kind="incident.resolved", key="incident-12-resolved"))
    lines = read_lines(path)
    assert [line["key"] for line in lines] == ["incident-12-opened", "incident-12-resolved"]
    assert lines[0] == {**make_notice().as_dict(), "stakeholder": "ML on-call"}


def test_file_line_without_a_stakeholder_is_the_notice(make_notice: MakeNotice) -> None:
    line = file_line(make_notice())
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert orjson.loads(line) == make_notice().as_dict()


def test_file_channel_keeps_what_was_there(tmp_path: Path, make_notice: MakeNotice) -> None:
    path = tmp_path / "notifications.jsonl"
    path.write_bytes(b'{"earlier": true}\n')
    FileChannel(path).send(make_notice())
    assert read_lines(path)[0] == {"earlier": True}
    assert len(read_lines(path)) == 2


def test_a_directory_in_the_way_is_a_clear_delivery_error(
    tmp_path: Path, make_notice: MakeNotice
) -> None:
    path = tmp_path / "notifications.jsonl"
    path.mkdir()
    with pytest.raises(
        DeliveryError, match=r"notifications\.jsonl cannot be appended to: Is a dir"
    ):
        FileChannel(path).send(make_notice())


def test_a_file_where_the_folder_should_be_is_a_clear_delivery_error(
    tmp_path: Path, make_notice: MakeNotice
) -> None:
    (tmp_path / "logs").write_text("not a folder")
    with pytest.raises(DeliveryError, match="cannot be appended to: File exists") as caught:
        FileChannel(tmp_path / "logs" / "n.jsonl").send(make_notice())
    assert caught.value.retryable is False


def test_threads_appending_to_one_file_leave_only_whole_lines(
    tmp_path: Path, make_notice: MakeNotice
) -> None:
    path = tmp_path / "notifications.jsonl"
    threads, count = 8, 25

    def append(thread: int) -> None:
        channel = FileChannel(path, stakeholder=f"t{thread}")
        for number in range(count):
            channel.send(make_notice(key=f"t{thread}-{number}", text=FILLER))

    workers = [threading.Thread(target=append, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    lines = read_lines(path)
    assert sorted(line["key"] for line in lines) == sorted(
        f"t{t}-{n}" for t in range(threads) for n in range(count)
    )
    assert all(line["text"] == FILLER for line in lines)


def test_two_processes_appending_to_one_file_leave_only_whole_lines(tmp_path: Path) -> None:
    count, threads = 15, 3
    children = [
        subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(tmp_path),
                "out/n.jsonl",
                name,
                str(count),
                str(threads),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [child.returncode for child in children] == [0, 0], results
    lines = read_lines(tmp_path / "out" / "n.jsonl")
    assert len(lines) == 2 * threads * count
    expected = {
        f"{name}-{thread}-{number}"
        for name in ("first", "second")
        for thread in range(threads)
        for number in range(count)
    }
    assert {line["key"] for line in lines} == expected
    assert all(line["text"] == FILLER for line in lines)
    assert {line["stakeholder"] for line in lines} == {"first", "second"}


# --- slack payload ------------------------------------------------------------------------


def test_slack_payload_has_text_and_header_section_fields_context(make_notice: MakeNotice) -> None:
    payload = slack_payload(make_notice())
    assert payload["text"] == "telco-churn: AUC fell below its threshold"
    header, section, facts, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": ":rotating_light: AUC fell below its threshold",
            "emoji": True,
        },
    }
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn"
    assert "AUC 0.76 on 1,204 labelled rows" in section["text"]["text"]
    assert facts["type"] == "section"
    assert facts["fields"][0] == {"type": "mrkdwn", "text": "*KPI*\nauc"}
    assert facts["fields"][2] == {"type": "mrkdwn", "text": "*threshold*\n&gt;= 0.80"}
    assert context == {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": "telco-churn · incident.opened · 2026-01-31T07:30:00Z · incident-12-opened",
            }
        ],
    }


def test_slack_payload_escapes_markup_and_omits_empty_parts(make_notice: MakeNotice) -> None:
    payload = slack_payload(make_notice(text="", fields={}, title="<!channel> & friends"))
    assert payload["text"] == "telco-churn: &lt;!channel&gt; &amp; friends"
    assert [block["type"] for block in payload["blocks"]] == ["header", "context"]
    # A header is plain text: Slack shows it as typed, so it is not escaped.
    assert payload["blocks"][0]["text"]["text"] == ":rotating_light: <!channel> & friends"


def test_slack_payload_stays_within_slack_limits(make_notice: MakeNotice) -> None:
    fields = {f"fact{i}": "v" * 5000 for i in range(25)}
    payload = slack_payload(make_notice(title="t" * 500, text="x" * 10_000, fields=fields))
    header, section, facts, _ = payload["blocks"]
    assert len(header["text"]["text"]) == 150
    assert header["text"]["text"].endswith("…")
    assert len(section["text"]["text"]) == 3000
    assert len(facts["fields"]) == 10
    assert all(len(field["text"]) <= 2000 for field in facts["fields"])


@pytest.mark.parametrize(
    ("kind", "emoji"),
    [
        ("incident.resolved", ":white_check_mark:"),
        ("retrain.promoted", ":arrow_up:"),
        ("retrain.refused", ":no_entry_sign:"),
        ("test", ":wave:"),
    ],
)
def test_slack_header_shows_the_kind(make_notice: MakeNotice, kind: str, emoji: str) -> None:
    header = slack_payload(make_notice(kind=kind))["blocks"][0]["text"]["text"]
    assert header.startswith(emoji + " ")


# --- HTTP ---------------------------------------------------------------------------------


def test_slack_channel_posts_the_payload_as_json(
    receiver: Receiver, make_notice: MakeNotice
) -> None:
    status = SlackChannel(receiver.url("/services/T0/B0/x"), timeout_s=2).send(make_notice())
    assert status == 200
    (request,) = receiver.requests
    assert request.method == "POST"
    assert request.path == "/services/T0/B0/x"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("charter")
    assert request.json() == slack_payload(make_notice())


def test_webhook_channel_posts_the_notice_as_json(
    receiver: Receiver, make_notice: MakeNotice
) -> None:
    receiver.answer(202)
    assert WebhookChannel(receiver.url(), timeout_s=2).send(make_notice()) == 202
    assert receiver.requests[0].json() == make_notice().as_dict()


def test_channels_hide_their_url_in_repr(receiver: Receiver) -> None:
    for channel in (SlackChannel, WebhookChannel):
        assert "127.0.0.1" not in repr(channel(receiver.url(), timeout_s=1))


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (404, False)],
)
def test_http_errors_say_the_status_and_whether_to_retry(
    receiver: Receiver, status: int, retryable: bool
) -> None:
    receiver.answer(status)
    with pytest.raises(
        DeliveryError, match=rf"answered HTTP {status} .*: scripted {status}\."
    ) as caught:
        post_json(receiver.url("/secret-token"), b"{}", timeout_s=2)
    assert caught.value.retryable is retryable
    assert caught.value.status_code == status
    assert "secret-token" not in str(caught.value)
    assert post_json(receiver.url(), b"{}", timeout_s=2) == 200  # the script answered once


def test_a_url_with_a_bad_port_is_reported_without_the_url() -> None:
    with pytest.raises(DeliveryError, match="could not be reached: nonnumeric port") as caught:
        post_json("http://127.0.0.1:notaport/secret-token", b"{}", timeout_s=2)
    assert "secret-token" not in str(caught.value)


def test_a_redirect_is_reported_not_followed(receiver: Receiver) -> None:
    receiver.answer(302)
    with pytest.raises(DeliveryError, match="answered HTTP 302") as caught:
        post_json(receiver.url(), b"{}", timeout_s=2)
    assert caught.value.retryable is False
    assert [request.path for request in receiver.requests] == ["/hook"]


def test_an_endpoint_that_does_not_answer_times_out(receiver: Receiver) -> None:
    receiver.answer(HANG)
    with pytest.raises(DeliveryError, match=r"did not answer within 0\.2 s") as caught:
        post_json(receiver.url(), b"{}", timeout_s=0.2)
    assert caught.value.retryable is True
    assert caught.value.status_code is None


def test_a_refused_connection_is_retryable(refused_url: str) -> None:
    with pytest.raises(DeliveryError, match=r"could not be reached: .*refused") as caught:
        post_json(refused_url, b"{}", timeout_s=2)
    assert caught.value.retryable is True
    assert str(refused_url.split(":")[-1]) not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example/T0/B0/x", None),
        ("http://127.0.0.1:9/hook", None),
        ("  https://hooks.example/x  ", None),
        ("ftp://hooks.example/x", "an http:// or https:// URL"),
        ("hooks.example/x", "an http:// or https:// URL"),
        ("", "an http:// or https:// URL"),
        ("https:///path-only", "a URL with a host name"),
        ("http://[::1/hook", "a well-formed URL"),
    ],
)
def test_check_url(url: str, problem: str | None) -> None:
    assert check_url(url) == problem
