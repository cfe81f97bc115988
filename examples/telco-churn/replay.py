"""Replay rows of a CSV as traffic to a running `charter serve`, optionally shifted, with feedback.

The demo uses it to play a month of normal traffic, then a month after a price change:

    python replay.py --url http://127.0.0.1:8000 --rows 0:2000
    python replay.py --url http://127.0.0.1:8000 --rows 2000:4000 \\
        --scale MonthlyCharges=1.3 --feedback

`--scale COLUMN=FACTOR` multiplies a numeric column (repeatable); `--feedback` posts each
row's true label (the target column) to /feedback once its prediction is answered, as the
delayed labels a CRM would send. The token, if the server needs one, is read from the
environment variable named by --token-env. Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent


def _rows(path: Path, start: int, stop: int) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for i, row in enumerate(csv.DictReader(handle)) if start <= i < stop]


def _record(row: dict[str, str], target: str, scales: dict[str, float]) -> dict[str, object]:
    record: dict[str, object] = {}
    for name, text in row.items():
        if name == target:
            continue
        value: object = text
        stripped = text.strip()
        if stripped == "":
            value = None
        else:
            try:
                number = float(stripped)
            except ValueError:
                number = None
            if number is not None:
                value = int(number) if number.is_integer() and "." not in stripped else number
        if name in scales and isinstance(value, int | float):
            value = round(float(value) * scales[name], 2)
        record[name] = value
    return record


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, url: str, token: str | None) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: object) -> tuple[int, object]:
        self.connection.request("POST", path, json.dumps(body), self.headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--data", type=Path, default=HERE / "data" / "telco_churn.csv")
    parser.add_argument("--rows", default="0:1000", help="START:STOP row numbers to replay")
    parser.add_argument("--target", default="Churn")
    parser.add_argument("--scale", action="append", default=[], metavar="COLUMN=FACTOR")
    parser.add_argument("--feedback", action="store_true", help="post each row's label")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--token-env", default="CHARTER_TOKEN")
    args = parser.parse_args(argv)
    start, stop = (int(part) for part in args.rows.split(":"))
    scales = {}
    for item in args.scale:
        column, _, factor = item.partition("=")
        scales[column] = float(factor)
    rows = _rows(args.data, start, stop)
    client = Client(args.url, os.environ.get(args.token_env))
    answered = labelled = refused = 0
    began = time.monotonic()
    for offset in range(0, len(rows), args.batch):
        part = rows[offset : offset + args.batch]
        status, body = client.post("/predict", [_record(r, args.target, scales) for r in part])
        if status != 200 or not isinstance(body, list):
            print(f"predict answered {status}: {body}", file=sys.stderr)
            refused += len(part)
            continue
        answered += len(body)
        if args.feedback:
            for row, answer in zip(part, body, strict=True):
                label = {"prediction_id": answer["prediction_id"], "label": row[args.target]}
                status, _ = client.post("/feedback", label)
                labelled += status == 200
    seconds = time.monotonic() - began
    shifted = ", ".join(f"{c} x{f:g}" for c, f in scales.items()) or "none"
    print(
        f"replayed rows {start}:{stop} in {seconds:.1f} s: {answered} predictions, "
        f"{labelled} labels, {refused} refused (shift: {shifted})"
    )
    return 0 if refused == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
