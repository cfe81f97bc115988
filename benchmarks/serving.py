"""Serving speed: `charter serve` against `mlflow models serve`, the same model under the same load.

Target (issue 4): serving the same model (the telco example's champion, and a LightGBM
champion), charter answers at least 25x MLflow's requests/s with a p99 latency at most 1/10
of MLflow's, at concurrency 1, 8 and 32, in `fast` log mode; `durable` mode is reported too,
and so is the in-process cost per row of charter's predictor (native, ONNX, and the path
`compile_predictor` picks), so the distance from the HTTP figures to the floor is visible.

For each model: `charter run` on a fresh copy of examples/telco-churn (for LightGBM, a copy
whose only change is `model.candidates: [lightgbm]`), then `charter promote candidate`
(with `--override` when a deploy gate fails: speed is measured here, not the gates). The
champion's fitted scikit-learn pipeline is read from the ledger and logged to MLflow by
benchmarks/_mlflow_side.py, in MLflow's own virtual environment (benchmarks/.cache/
venv-mlflow, created on first use with the scikit-learn, LightGBM, pandas and numpy
versions of charter's constraints.txt, and charter itself installed without its
dependencies, so that the pickled pipeline's charter transformers resolve there). Each
server then runs alone on 127.0.0.1 with one worker, gets a few seconds of warm-up, and is
loaded by the same client (benchmarks/_load_client.py, which says why not wrk) for
`--seconds` at each concurrency with single-row JSON requests, cycling through the
holdout's rows. Run with `make bench`; the figures are written to benchmarks/RESULTS.md
(its own section; the others are kept).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from _common import (
    CHARTER,
    REPO,
    CharterRun,
    code_version,
    command_line,
    contention_note,
    copy_example,
    failed_gates,
    machine_line,
    run_charter,
    versions,
    write_section,
)
from _load_client import CLIENTS, Load, choose, describe, run_load

from charter.ledger import open_ledger
from charter.modeling import FittedModel
from charter.serving import Predictor, compile_predictor
from charter.spec import load_charter

CACHE = REPO / "benchmarks" / ".cache"
MLFLOW_VENV = CACHE / "venv-mlflow"
MLFLOW_SIDE = REPO / "benchmarks" / "_mlflow_side.py"
#: Installed in MLflow's venv at the versions charter's constraints.txt pins (when it can).
PINNED = ("scikit-learn", "lightgbm", "pandas", "numpy")
#: What importing charter's model classes needs beyond MLflow's own dependencies.
CHARTER_IMPORT_NEEDS = ("rich", "pydantic", "pyyaml")
EXAMPLE = "telco-churn"
#: The models served: a name, and the `model.candidates` of the example's copy (None: as is).
MODELS: dict[str, list[str] | None] = {"telco": None, "lightgbm": ["lightgbm"]}
CONCURRENCY = (1, 8, 32)
LOG_MODES = ("fast", "durable")
SECONDS = 20.0
WARMUP_SECONDS = 3.0
WARMUP_CONCURRENCY = 4
AGREEMENT_ROWS = 100
TARGET_RPS_RATIO = 25.0
TARGET_P99_RATIO = 10.0
READY_TIMEOUT_S = 180.0
#: A prediction-log backlog older than this after a run is called out in RESULTS.md.
LOG_LAG_NOTE_S = 0.5
MARKER = "## Serving: `charter serve` vs `mlflow models serve`"
PACKAGES = (
    "charter",
    "fastapi",
    "uvicorn",
    "orjson",
    "onnxruntime",
    "scikit-learn",
    "lightgbm",
    "pandas",
    "numpy",
)
QUIET = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


# --- MLflow's environment ----------------------------------------------------------------


def constraint_pins() -> dict[str, str]:
    """`name==version` from charter's constraints.txt, for the packages both sides share."""
    pins: dict[str, str] = {}
    path = REPO / "constraints.txt"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, version = line.strip().partition("==")
            if sep and name.lower() in PINNED:
                pins[name.lower()] = version.strip()
    return pins


def mlflow_python() -> Path:
    """MLflow's interpreter, creating its virtual environment when missing or out of date."""
    CACHE.mkdir(parents=True, exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Created by the benchmarks: nothing here is tracked.\n*\n")
    python = MLFLOW_VENV / "bin" / "python"
    stamp = MLFLOW_VENV / ".requirements"
    pins = constraint_pins()
    pinned = [f"{name}=={version}" for name, version in sorted(pins.items())]
    wanted = "\n".join(["mlflow", *pinned, *CHARTER_IMPORT_NEEDS, f"charter --no-deps ({REPO})"])
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"creating {MLFLOW_VENV.relative_to(REPO)} (MLflow's own environment)...", flush=True)
    env = {**os.environ, **QUIET}
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(MLFLOW_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    done = subprocess.run(
        [*pip, "mlflow", *pinned, *CHARTER_IMPORT_NEEDS], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        # "Where possible": MLflow may refuse a pin; then it gets its own choice, and the
        # versions table of RESULTS.md shows where the two sides differ.
        print(f"  MLflow refused charter's pins ({', '.join(pinned)}); unpinned.", flush=True)
        subprocess.run([*pip, "mlflow", *PINNED, *CHARTER_IMPORT_NEEDS], env=env, check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(REPO)], env=env, check=True)
    stamp.write_text(wanted)
    return python


# --- the models --------------------------------------------------------------------------


@dataclass
class Prepared:
    """A champion ready to serve: its charter copy, the fitted model and the holdout rows."""

    name: str
    folder: Path
    project: str
    run: CharterRun
    model: FittedModel
    holdout: Any  # pandas DataFrame of the test split
    records: list[dict[str, Any]]
    served: Predictor | None  # the predictor compiled at registration, which the server loads
    token_env: str | None
    promote_note: str


def set_candidates(folder: Path, candidates: list[str]) -> None:
    path = folder / "charter.yaml"
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(r"(candidates:\s*)\[[^\]]*\]", rf"\g<1>[{', '.join(candidates)}]", text)
    if count != 1:
        raise SystemExit(
            f"examples/{EXAMPLE}/charter.yaml must hold exactly one 'candidates: [...]' "
            f"(model.candidates); found {count}."
        )
    path.write_text(new, encoding="utf-8")


def set_log_mode(folder: Path, mode: str) -> None:
    """Write `serve.log_mode: mode` into the copy's charter (for a CLI without --log-mode)."""
    path = folder / "charter.yaml"
    text = path.read_text(encoding="utf-8")
    flow = re.compile(r"^serve:\s*\{(?P<body>[^}\n]*)\}", re.MULTILINE)
    match = flow.search(text)
    if match:
        body = re.sub(r"\s*log_mode:\s*\w+\s*,?", "", match.group("body")).strip().rstrip(",")
        body = f"log_mode: {mode}" + (f", {body}" if body else "")
        text = text[: match.start()] + f"serve: {{{body}}}" + text[match.end() :]
    elif re.search(r"^serve:\s*$", text, re.MULTILINE):
        text = re.sub(r"^(\s+)log_mode:.*\n", "", text, flags=re.MULTILINE)
        text = re.sub(r"^serve:\s*$", f"serve:\n  log_mode: {mode}", text, flags=re.MULTILINE)
    else:
        text = text.rstrip("\n") + f"\n\nserve: {{log_mode: {mode}}}\n"
    path.write_text(text, encoding="utf-8")


def jsonable_record(row: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """A holdout row as a client would send it: None for missing, ints for int columns."""
    record: dict[str, Any] = {}
    for name, value in row.items():
        if value is None or (isinstance(value, float) and value != value):
            record[name] = None
        elif types.get(name) == "int" and isinstance(value, float) and value.is_integer():
            record[name] = int(value)
        elif hasattr(value, "item"):
            record[name] = value.item()
        else:
            record[name] = value
    return record


def promote(folder: Path) -> str:
    """`charter promote candidate`, with --override when a deploy gate refuses it."""
    command = [str(CHARTER), "promote", "candidate", "--charter", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, check=False)
    if done.returncode == 0:
        return "promoted (deploy gates passed)"
    reason = "serving benchmark: speed is measured, not the gates"
    again = subprocess.run(
        [*command, "--override", reason], capture_output=True, text=True, cwd=folder, check=False
    )
    if again.returncode != 0:
        raise SystemExit(
            f"`charter promote candidate` failed in {folder}, even with --override:\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}\n{again.stdout[-2000:]}"
            f"{again.stderr[-2000:]}"
        )
    return "promoted with --override (a deploy gate failed)"


def prepare(name: str, candidates: list[str] | None, tmp: Path) -> Prepared:
    import pandas as pd

    folder = copy_example(EXAMPLE, tmp)
    if candidates is not None:
        set_candidates(folder, candidates)
    run = run_charter(folder)
    if run.outcome.get("stopped_by"):
        raise SystemExit(
            f"`charter run` registered nothing for {name}: {failed_gates(run.outcome)}"
        )
    note = promote(folder)
    loaded = load_charter(folder / "charter.yaml")
    charter = loaded.charter
    project = charter.project.name
    with open_ledger(folder) as ledger:
        champion = ledger.get_alias(project, "champion")
        if champion is None:
            raise SystemExit(f"no champion in {folder} after `charter promote`")
        artifacts = {a.name: a for a in champion.artifacts}
        model = FittedModel.from_bytes(ledger.load_artifact(artifacts["model.pkl"]))
        test = next(
            a for a in ledger.artifacts(project, run_id=champion.run_id) if a.name == "test.parquet"
        )
        holdout = pd.read_parquet(io.BytesIO(ledger.load_artifact(test)))
        stored = artifacts.get("predictor.bin")
        served = (
            Predictor.from_bytes(ledger.load_artifact(stored), model)
            if stored is not None
            else None
        )
    types = {column: str(spec.type) for column, spec in charter.data.contract.items()}
    rows = holdout[list(model.features)].astype(object).to_dict("records")
    records = [jsonable_record(row, types) for row in rows]
    return Prepared(
        name, folder, project, run, model, holdout, records, served,
        charter.serve.token_env, note,
    )  # fmt: skip


# --- in-process cost ---------------------------------------------------------------------


@dataclass(frozen=True)
class InProcess:
    """`predictor.predict_records([record])`, timed call by call."""

    asked: str
    kind: str
    calls: int
    p50_us: float
    p99_us: float
    mean_us: float


def time_predictor(predictor: Any, records: list[dict[str, Any]], asked: str) -> InProcess:
    for record in records[:20]:  # warm-up: first calls pay for lazy imports and caches
        predictor.predict_records([record])
    times: list[float] = []
    began = time.perf_counter()
    index = 0
    while (time.perf_counter() - began < 1.0 or len(times) < 100) and len(times) < 200_000:
        record = records[index % len(records)]
        index += 1
        start = time.perf_counter_ns()
        predictor.predict_records([record])
        times.append((time.perf_counter_ns() - start) / 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return InProcess(
        asked, predictor.kind, len(times), statistics.median(times), p99, statistics.fmean(times)
    )


#: The label of the registered predictor's row (the one the server loads).
REGISTERED = "registered"


def in_process(prepared: Prepared) -> list[InProcess]:
    found = []
    for asked in ("native", "onnx", "auto"):
        predictor = compile_predictor(prepared.model, holdout=prepared.holdout, prefer=asked)
        found.append(time_predictor(predictor, prepared.records, asked))
    if prepared.served is not None:
        found.append(time_predictor(prepared.served, prepared.records, REGISTERED))
    return found


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortTaken(Exception):
    """Another process took the port between our choice and the server's bind."""


def group_pids(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # after pid and comm: state, ppid, pgrp, ...
            pids.append(int(stat.parent.name))
    return pids


def listens(pgid: int, port: int) -> bool:
    """Whether a process of the group holds the socket listening on `port` (Linux /proc).

    Other servers may run on this machine's loopback: a 200 from the port alone could come
    from one of them (a charter test server answers /health and /ping too).
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="utf-8").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{parts[9]}]")
    for pid in group_pids(pgid):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return True
            except OSError:
                continue
    return False


@dataclass
class Server:
    """One server process (in its own process group), its log file and readiness."""

    label: str
    command: list[str]
    shown: str  # the command as RESULTS.md shows it (no machine-specific paths)
    env: dict[str, str]
    cwd: Path
    port: int
    ready_path: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    ready_seconds: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it answers; PortTaken when the port was not ours."""
        began = time.perf_counter()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.perf_counter() - began < READY_TIMEOUT_S:
            if self.process.poll() is not None:
                if "address already in use" in self.tail().lower():
                    raise PortTaken(self.port)
                raise SystemExit(
                    f"{self.label} exited {self.process.returncode} before it was ready:\n"
                    f"{self.shown}\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(self.base_url + self.ready_path, timeout=2) as answer:
                    ready = answer.status == 200
            except (OSError, urllib.error.URLError):
                ready = False
            if ready:
                if not listens(self.process.pid, self.port):
                    self.stop()
                    raise PortTaken(self.port)
                self.ready_seconds = time.perf_counter() - began
                return
            time.sleep(0.2)
        self.stop()
        raise SystemExit(
            f"{self.label} was not ready within {READY_TIMEOUT_S:.0f} s:\n{self.tail()}"
        )

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) of the server's process group so far."""
        if self.process is None:
            return 0.0
        return group_cpu_seconds(self.process.pid)

    def rss_mib(self, field: str = "VmRSS") -> float | None:
        """Resident memory of the server's processes (MiB), from /proc: now (VmRSS) or
        the peak so far (VmHWM)."""
        if self.process is None:
            return None
        total = 0
        for pid in group_pids(self.process.pid):
            try:
                for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
                    if line.startswith(f"{field}:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    def log_gauges(self, *names: str) -> tuple[float, ...] | None:
        """charter's prediction-log gauges (LogStats fields) from /metrics; None elsewhere,
        or when this charter's log has no such gauge."""
        try:
            with urllib.request.urlopen(self.base_url + "/metrics", timeout=5) as answer:
                text = answer.read().decode("utf-8")
        except (OSError, urllib.error.URLError):
            return None
        found = {}
        for line in text.splitlines():
            for name in names:
                if line.startswith(f"charter_prediction_log_{name} "):
                    found[name] = float(line.split()[-1])
        if len(found) < len(names):
            return None
        return tuple(found[name] for name in names)

    def log_backlog(self) -> tuple[float, float] | None:
        """charter's prediction-log lag (records, seconds) from /metrics; None elsewhere."""
        found = self.log_gauges("lag_records", "lag_seconds")
        return None if found is None else (found[0], found[1])

    def log_pending(self) -> tuple[float, float] | None:
        """charter's unwritten records and back-pressured submits so far, from /metrics."""
        found = self.log_gauges("pending", "backpressure")
        return None if found is None else (found[0], found[1])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM to the server's process group (SIGKILL after 30 s); its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def problems(self) -> list[str]:
        """Tracebacks and ERROR lines in the server's log, one line each."""
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        found = []
        for i, line in enumerate(lines):
            if line.startswith("Traceback"):
                # The exception line: the first unindented line after the frames.
                last = next((x for x in lines[i + 1 :] if x and not x.startswith(" ")), line)
                found.append(last.strip())
            elif line.startswith("ERROR") or " ERROR " in line:
                found.append(line.strip())
        return found


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes in a process group (and their reaped
    children), from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # after pid and comm: state, ppid, pgrp, ...
            ticks += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


_SERVE_HELP: str | None = None


def charter_serve_help() -> str:
    """`charter serve --help` ('' when this charter has no serve command yet)."""
    global _SERVE_HELP
    if _SERVE_HELP is None:
        done = subprocess.run(
            [str(CHARTER), "serve", "--help"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        )
        _SERVE_HELP = done.stdout if done.returncode == 0 else ""
    return _SERVE_HELP


def charter_server(
    prepared: Prepared, mode: str, workers: int, token: str | None, work: Path, port: int
) -> Server:
    help_text = charter_serve_help()
    common = ["--charter", str(prepared.folder), "--host", "127.0.0.1", "--port", str(port)]
    shown_common = "--charter <copy> --host 127.0.0.1 --port <port>"
    if help_text:
        command = [str(CHARTER), "serve", *common]
        shown = f"charter serve {shown_common}"
        if "--workers" in help_text:
            command += ["--workers", str(workers)]
            shown += f" --workers {workers}"
        if "--log-mode" in help_text:
            command += ["--log-mode", mode]
            shown += f" --log-mode {mode}"
        else:
            set_log_mode(prepared.folder, mode)
            shown += f"  (serve.log_mode: {mode} in the copy's charter)"
    else:
        command = [sys.executable, "-m", "charter.server", *common]
        command += ["--workers", str(workers), "--log-mode", mode]
        shown = f"python -m charter.server {shown_common} --workers {workers} --log-mode {mode}"
    env = {**os.environ, **QUIET}
    if prepared.token_env and token:
        env[prepared.token_env] = token
    return Server(
        label=f"charter serve ({mode})",
        command=command,
        shown=shown,
        env=env,
        cwd=prepared.folder,
        port=port,
        ready_path="/health",
        log=work / f"charter-{prepared.name}-{mode}.log",
    )


def mlflow_server(
    prepared: Prepared,
    python: Path,
    model_uri: str,
    tracking: str,
    workers: int,
    work: Path,
    port: int,
) -> Server:
    bin_dir = python.parent
    env = {
        **os.environ,
        **QUIET,
        "MLFLOW_TRACKING_URI": tracking,
        # `mlflow models serve` starts `uvicorn` through PATH: MLflow's venv first.
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("VIRTUAL_ENV", None)
    command = [
        str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port), "--workers", str(workers),
    ]  # fmt: skip
    return Server(
        label="mlflow models serve",
        command=command,
        shown=(
            "mlflow models serve -m models:/<logged model id> --env-manager local -h 127.0.0.1 "
            f"-p <port> --workers {workers}"
        ),
        env=env,
        cwd=work,
        port=port,
        ready_path="/ping",
        log=work / f"mlflow-{prepared.name}.log",
    )


def log_to_mlflow(prepared: Prepared, python: Path, work: Path) -> tuple[dict[str, Any], str]:
    """Log the champion's pipeline to MLflow (its own venv); (the side's JSON, tracking URI)."""
    import pickle

    pipeline_file = work / f"{prepared.name}-pipeline.pkl"
    pipeline_file.write_bytes(pickle.dumps(prepared.model.pipeline))
    records_file = work / f"{prepared.name}-records.json"
    records_file.write_text(json.dumps(prepared.records), encoding="utf-8")
    tracking = f"sqlite:///{work / 'mlflow.db'}"
    command = [
        str(python), str(MLFLOW_SIDE), "--pipeline", str(pipeline_file),
        "--records", str(records_file), "--tracking-uri", tracking, "--name", prepared.name,
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=work, env={**os.environ, **QUIET}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the MLflow side exited {done.returncode}:\n{done.stderr[-8000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), tracking


def post(url: str, body: bytes, token: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        raise SystemExit(
            f"POST {url} answered {error.code}: {error.read()[:2000]!r}\nbody: {body[:2000]!r}"
        ) from None


def probabilities(prepared: Prepared, url: str, token: str | None, kind: str) -> list[list[float]]:
    """Class probabilities (in `model.classes` order) for the first AGREEMENT_ROWS records."""
    keys = [str(c) for c in prepared.model.classes]
    found = []
    for record in prepared.records[:AGREEMENT_ROWS]:
        if kind == "charter":
            answer = post(url, json.dumps(record).encode(), token)
            found.append([float(answer["probabilities"][k]) for k in keys])
        else:
            answer = post(url, json.dumps({"dataframe_records": [record]}).encode(), None)
            found.append([float(p) for p in answer["predictions"][0]])
    return found


@dataclass
class Served:
    """One server under load: its loads, readiness, and anything that went wrong."""

    label: str
    shown: str
    ready_seconds: float
    loads: list[Load] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    exit_code: int | None = None


#: What a log mode that was not asked for (`--modes`) measured: nothing.
NOT_RUN = Served("not run", "", 0.0)


def bodies_file(prepared: Prepared, work: Path, kind: str) -> Path:
    path = work / f"{prepared.name}-{kind}-bodies.txt"
    lines = []
    for record in prepared.records:
        payload = record if kind == "charter" else {"dataframe_records": [record]}
        lines.append(json.dumps(payload, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_server(
    server: Server,
    url: str,
    bodies: Path,
    token: str | None,
    client: str,
    concurrency: tuple[int, ...],
    seconds: float,
) -> Served:
    served = Served(server.label, server.shown, server.ready_seconds)
    run_load(client, url, bodies, WARMUP_CONCURRENCY, WARMUP_SECONDS, token)  # discarded
    for c in concurrency:
        if not server.alive():
            served.problems.append(f"the server died before the run at concurrency {c}")
            break
        before = server.cpu_seconds()
        load = run_load(client, url, bodies, c, seconds, token)
        ours = server.label.startswith("charter")
        load = replace(
            load,
            server_cpu_seconds=server.cpu_seconds() - before,
            server_rss_mib=server.rss_mib(),
            server_peak_rss_mib=server.rss_mib("VmHWM"),
            log_backlog=server.log_backlog() if ours else None,
            log_pending=server.log_pending() if ours else None,
        )
        served.loads.append(load)
        print(
            f"    {server.label:28s} c={c:<3d} {load.rps:9.1f} req/s  p50 {load.p50_ms:8.2f} ms"
            f"  p99 {load.p99_ms:8.2f} ms  errors {load.error_count}"
            f"  (cores: server {load.server_cores:.2f}, others {load.others_cores:.2f}; "
            f"client {load.client_cpu_seconds:.1f} CPU s; RSS {fmt_mib(load.server_rss_mib)}, "
            f"peak {fmt_mib(load.server_peak_rss_mib)}"
            + (
                f"; log backlog {load.log_backlog[0]:.0f} records, {load.log_backlog[1]:.1f} s"
                if load.log_backlog
                else ""
            )
            + (
                f"; log pending {load.log_pending[0]:.0f}, back-pressured submits "
                f"{load.log_pending[1]:.0f}"
                if load.log_pending
                else ""
            )
            + ")",
            flush=True,
        )
    return served


@dataclass
class Measured:
    """Everything measured for one model."""

    prepared: Prepared
    in_process: list[InProcess]
    mlflow_info: dict[str, Any]
    agreement: dict[str, float]  # max |charter - MLflow| probability, per charter mode
    servers: dict[str, Served]  # "mlflow", and the log modes measured: "fast", "durable"


def measure_model(
    name: str,
    candidates: list[str] | None,
    python: Path,
    client: str,
    args: argparse.Namespace,
) -> Measured:
    with tempfile.TemporaryDirectory(prefix="charter-bench-serving-") as tmp:
        root = Path(tmp)
        work = root / "work"
        work.mkdir()
        print(f"{name}: charter run + promote...", flush=True)
        prepared = prepare(name, candidates, root)
        print(
            f"  champion: {prepared.model.candidate}, {prepared.promote_note}; registered "
            f"predictor: {prepared.served.kind if prepared.served else 'none'}; "
            f"{len(prepared.records)} holdout rows",
            flush=True,
        )
        costs = in_process(prepared)
        for cost in costs:
            print(
                f"  in process, prefer={cost.asked} -> {cost.kind}: p50 {cost.p50_us:.1f} µs, "
                f"p99 {cost.p99_us:.1f} µs a row ({cost.calls} calls)",
                flush=True,
            )
        info, tracking = log_to_mlflow(prepared, python, work)
        print(f"  logged to MLflow as {info['model_uri']}", flush=True)
        token = secrets.token_hex(16) if prepared.token_env else None
        mlflow_probs: list[list[float]] = []
        servers: dict[str, Served] = {}
        agreement: dict[str, float] = {}

        # MLflow first: its answers are the reference the charter modes are compared with.
        servers["mlflow"] = run_one(
            lambda port: mlflow_server(
                prepared, python, info["model_uri"], tracking, args.workers, work, port
            ),
            prepared, "mlflow", None, client, args, work, mlflow_probs, agreement,
        )  # fmt: skip
        for mode in args.modes:
            servers[mode] = run_one(
                lambda port, mode=mode: charter_server(
                    prepared, mode, args.workers, token, work, port
                ),
                prepared, "charter", token, client, args, work, mlflow_probs, agreement,
            )  # fmt: skip
        return Measured(prepared, costs, info, agreement, servers)


def run_one(
    make: Callable[[int], Server],
    prepared: Prepared,
    kind: str,
    token: str | None,
    client: str,
    args: argparse.Namespace,
    work: Path,
    mlflow_probs: list[list[float]],
    agreement: dict[str, float],
) -> Served:
    for _attempt in range(3):
        server = make(free_port())
        print(f"  starting {server.label} on port {server.port}...", flush=True)
        try:
            server.start()
            break
        except PortTaken:
            print(f"  port {server.port} was taken by another process; again", flush=True)
    else:
        raise SystemExit(f"{server.label}: three ports were taken by other processes")
    url = server.base_url + ("/predict" if kind == "charter" else "/invocations")
    try:
        probs = probabilities(prepared, url, token, kind)
        if kind == "mlflow":
            mlflow_probs[:] = probs
        elif mlflow_probs:
            agreement[server.label] = max(
                abs(a - b)
                for row_a, row_b in zip(probs, mlflow_probs, strict=True)
                for a, b in zip(row_a, row_b, strict=True)
            )
        bodies = bodies_file(prepared, work, kind)
        served = load_server(
            server, url, bodies, token, client, tuple(args.concurrency), args.seconds
        )
    finally:
        code = server.stop()
    served.exit_code = code
    served.problems += server.problems()
    # uvicorn re-raises the SIGTERM it handled once it has shut down: -15 is a clean exit.
    if kind == "charter" and code not in (0, -signal.SIGTERM, None):
        served.problems.append(f"exit code {code} after SIGTERM (expected 0 or -15)")
    if kind == "charter" and "Application shutdown complete" not in server.tail(2000):
        served.problems.append("no 'Application shutdown complete' in its log after SIGTERM")
    print(f"  {server.label} stopped (exit {code})", flush=True)
    return served


# --- the report --------------------------------------------------------------------------


def fmt_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def fmt_backlog(value: tuple[float, float] | None) -> str:
    return "-" if value is None else f"{value[0]:,.0f} / {value[1]:.2f} s"


def fmt_pending(value: tuple[float, float] | None) -> str:
    return "-" if value is None else f"{value[0]:,.0f} / {value[1]:,.0f}"


def ratio_verdict(what: str, ratio: float, target: float, detail: str) -> str:
    if ratio >= target:
        return f"{what} {ratio:.1f}x meets ≥ {target:.0f}x"
    return f"{what} {ratio:.1f}x **misses** ≥ {target:.0f}x ({detail})"


def compare(charter: Load, mlflow: Load) -> tuple[float, float, str, str, bool]:
    """(req/s ratio, p99 ratio, throughput verdict, p99 verdict, both met)."""
    rps = charter.rps / mlflow.rps if mlflow.rps > 0 else float("inf")
    p99 = mlflow.p99_ms / charter.p99_ms if charter.p99_ms > 0 else float("inf")
    need_rps = TARGET_RPS_RATIO * mlflow.rps
    need_p99 = mlflow.p99_ms / TARGET_P99_RATIO
    rps_text = ratio_verdict(
        "req/s",
        rps,
        TARGET_RPS_RATIO,
        f"charter needs {need_rps:.0f} req/s, has {charter.rps:.0f}: "
        f"{1 - charter.rps / need_rps:.0%} short",
    )
    p99_text = ratio_verdict(
        "p99",
        p99,
        TARGET_P99_RATIO,
        f"charter's p99 must be ≤ {need_p99:.1f} ms, is {charter.p99_ms:.1f} ms: "
        f"{charter.p99_ms / need_p99 - 1:.0%} over",
    )
    return rps, p99, rps_text, p99_text, rps >= TARGET_RPS_RATIO and p99 >= TARGET_P99_RATIO


def mount_type(path: Path) -> str:
    """The file-system type under `path` (where the prediction log was written)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


def render(results: list[Measured], client: str, args: argparse.Namespace) -> str:
    mlflow_versions: dict[str, str] = next((r.mlflow_info.get("versions", {}) for r in results), {})
    ours = {p: versions(p).split(" ", 1)[1] for p in PINNED}
    differ = [
        f"{p} {mlflow_versions.get(p)} (charter: {ours[p]})"
        for p in PINNED
        if mlflow_versions.get(p) != ours[p]
    ]
    log_fs = mount_type(Path(tempfile.gettempdir()))
    load_rows: list[str] = []
    ratio_rows: list[str] = []
    verdicts: list[str] = []
    met = total = 0
    floor_lines: list[str] = []
    cost_rows: list[str] = []
    notes: list[str] = []
    for r in results:
        p = r.prepared
        title = f"{p.name} ({p.model.candidate})"
        for key, label in (
            ("fast", "charter, fast log"),
            ("durable", "charter, durable log"),
            ("mlflow", "MLflow"),
        ):
            if key not in r.servers:
                continue
            served = r.servers[key]
            for load in served.loads:
                errors = load.error_count
                shown_errors = "0" if errors == 0 else f"**{errors}** {load.errors}"
                load_rows.append(
                    f"| {title} | {label} | {load.concurrency} | {load.rps:,.0f} | "
                    f"{load.p50_ms:.2f} | {load.p99_ms:.2f} | {load.max_ms:.1f} | {shown_errors} | "
                    f"{load.server_cores:.2f} | {load.others_cores:.2f} | "
                    f"{fmt_mib(load.server_rss_mib)} | {fmt_mib(load.server_peak_rss_mib)} | "
                    f"{fmt_backlog(load.log_backlog)} | {fmt_pending(load.log_pending)} |"
                )
            for problem in served.problems[:5]:
                notes.append(f"- {title}, {label}: {problem}")
            if len(served.problems) > 5:
                notes.append(f"- {title}, {label}: … {len(served.problems) - 5} more")
        mlflow_loads = {x.concurrency: x for x in r.servers["mlflow"].loads}
        durable_loads = {x.concurrency: x for x in r.servers.get("durable", NOT_RUN).loads}
        for load in r.servers.get("fast", NOT_RUN).loads:
            ref = mlflow_loads.get(load.concurrency)
            if ref is None:
                continue
            rps, p99, rps_text, p99_text, ok = compare(load, ref)
            total += 1
            met += ok
            durable = durable_loads.get(load.concurrency)
            d_text = "n/a"
            if durable is not None:
                d_rps, d_p99, _, _, d_ok = compare(durable, ref)
                d_text = f"{d_rps:.1f}x / {d_p99:.1f}x" + (" (both met)" if d_ok else "")
            ratio_rows.append(
                f"| {title} | {load.concurrency} | {rps:.1f}x | {p99:.1f}x | "
                f"{'**met**' if ok else '**missed**'} | {d_text} |"
            )
            if not ok:
                verdicts.append(
                    f"- {title} at concurrency {load.concurrency}: {rps_text}; {p99_text}."
                )
        served_cost = next((c for c in r.in_process if c.asked == REGISTERED), None)
        native_cost = next((c for c in r.in_process if c.asked == "native"), None)
        for cost in r.in_process:
            asked = (
                "the registered `predictor.bin` (what the server loads)"
                if cost.asked == REGISTERED
                else f'`prefer="{cost.asked}"`'
            )
            cost_rows.append(
                f"| {title} | {asked} | {cost.kind} | {cost.p50_us:,.1f} | "
                f"{cost.p99_us:,.1f} | {cost.mean_us:,.1f} | {cost.calls:,} |"
            )
        first = next(iter(r.servers.get("fast", NOT_RUN).loads), None)
        if first is not None and served_cost is not None:
            reference = mlflow_loads.get(first.concurrency)
            http_us = first.p50_ms * 1000
            floor_lines.append(
                f"- {title}: the server loads the registered predictor ({served_cost.kind} "
                f"path), {served_cost.p50_us:.1f} µs a row in process (p50); over HTTP at "
                f"concurrency {first.concurrency} charter answers in {http_us:.0f} µs (p50), "
                f"{http_us / served_cost.p50_us:.0f}x that: the other "
                f"{http_us - served_cost.p50_us:.0f} µs are HTTP, JSON, validation and the "
                "prediction log."
                + (
                    f" MLflow's p50 there is {reference.p50_ms * 1000:,.0f} µs"
                    + (
                        f", near the native pipeline's {native_cost.p50_us:,.0f} µs a row in "
                        "process: MLflow's time is mostly scikit-learn on a one-row DataFrame."
                        if native_cost is not None
                        else "."
                    )
                    if reference is not None
                    else ""
                )
            )
    agreement_lines = []
    for r in results:
        p = r.prepared
        for label, diff in r.agreement.items():
            agreement_lines.append(
                f"{p.name}: {label} vs MLflow, max |difference| of the class probabilities on "
                f"{min(AGREEMENT_ROWS, len(p.records))} holdout rows: {diff:.1e}"
            )
    mlflow_side = ", ".join(f"{k} {v}" for k, v in mlflow_versions.items())
    first_result = results[0]
    charter_cmd = next(
        first_result.servers[mode].shown for mode in ("fast", "durable") if mode in args.modes
    )
    mlflow_cmd = first_result.servers["mlflow"].shown
    trusted = sorted({t for r in results for t in r.mlflow_info.get("trusted_types", [])})
    log_notes = []
    for r in results:
        title = f"{r.prepared.name} ({r.prepared.model.candidate})"
        for mode in args.modes:
            loads = r.servers[mode].loads
            behind = [x for x in loads if x.log_backlog and x.log_backlog[1] > LOG_LAG_NOTE_S]
            if not behind:
                continue
            worst = max(behind, key=lambda x: x.log_backlog[1] if x.log_backlog else 0.0)
            assert worst.log_backlog is not None
            rss = [x.server_rss_mib for x in loads if x.server_rss_mib is not None]
            log_notes.append(
                f"- {title}, `{mode}` mode: the prediction log fell behind the answers. Right "
                f"after the run at concurrency {worst.concurrency}, {worst.log_backlog[0]:,.0f} "
                f"answered predictions were not yet written, the oldest "
                f"{worst.log_backlog[1]:.1f} s old"
                + (" (fast mode promises a write within 100 ms)" if mode == "fast" else "")
                + (
                    f"; the server's memory grew from {rss[0]:,.0f} MiB after the first run to "
                    f"{max(rss):,.0f} MiB"
                    if len(rss) > 1 and max(rss) > rss[0] * 1.2
                    else ""
                )
                + ". Its requests/s and latency do not include writing the log."
            )
    summary = f"**Target met at {met} of {total} (model, concurrency) points**" + (
        ": charter's `fast` mode meets both ratios everywhere." if met == total else "."
    )
    ref_lines = []
    for r in results:
        parts = [
            f"concurrency {x.concurrency}: {x.rps:.0f} req/s, p50 {x.p50_ms:.1f} ms, "
            f"p99 {x.p99_ms:.0f} ms"
            for x in r.servers["mlflow"].loads
        ]
        ref_lines.append(f"{r.prepared.name}: " + "; ".join(parts))
    models = "; ".join(
        f"{r.prepared.name} = {r.prepared.model.candidate}, {r.prepared.promote_note}"
        for r in results
    )
    lines = [
        f"{MARKER} (`{command_line('serving.py')}`)",
        "",
        machine_line(),
        f"charter side: {versions(*PACKAGES)}; {code_version()}",
        f"MLflow side (its own venv, benchmarks/.cache/venv-mlflow): {mlflow_side}."
        + (f" **Versions differ from charter's**: {', '.join(differ)}." if differ else ""),
        f"Load client: {describe(client)}. Prediction log on a {log_fs} file system.",
        "",
        f"Models: {models}. Both from a fresh copy of examples/{EXAMPLE} (`charter run`, "
        "`charter promote candidate`); the LightGBM one with only `model.candidates: "
        "[lightgbm]` changed.",
        "",
        "**The same fitted object on both sides.** The champion's `model.pkl` is read from "
        "charter's ledger (`FittedModel.from_bytes`) and its scikit-learn `pipeline` is logged "
        "with `mlflow.sklearn.log_model(pipeline, signature=<inferred from holdout rows>, "
        'pyfunc_predict_fn="predict_proba", skops_trusted_types=[…])`: MLflow\'s default '
        "serialization (skops), trusting exactly the types the pipeline holds "
        f"({', '.join(f'`{t}`' for t in trusted)}). The pipeline's first steps are charter's "
        "own transformers, so MLflow's venv has charter installed with `pip install --no-deps "
        "-e .` (plus rich, pydantic and pyyaml, which importing those classes needs), and "
        "nothing else of charter: MLflow loads and runs the pipeline with its own scikit-learn "
        "pyfunc and its own scoring server. This was chosen over wrapping the model in an "
        "`mlflow.pyfunc` model that calls charter, which would have measured charter's code "
        "inside MLflow's server rather than MLflow serving a scikit-learn model the way its "
        "users do. Before loading, the two servers' answers are compared on the same rows:",
        "",
        *[f"- {line}" for line in agreement_lines],
        "",
        f"Commands: `{charter_cmd}` (durable: the same with the `durable` log mode) and "
        f"`{mlflow_cmd}`, with `MLFLOW_TRACKING_URI=sqlite:///…` and MLflow's venv first on "
        "PATH. One server at a time, on 127.0.0.1, one worker each (both tools' default). "
        f"Each gets {WARMUP_SECONDS:g} s of warm-up at concurrency {WARMUP_CONCURRENCY} "
        f"(discarded), then {args.seconds:g} s at each concurrency. One JSON row per request, "
        "cycling through the holdout's rows (the model's features only): charter's body is the "
        'record on `POST /predict`, MLflow\'s `{"dataframe_records": [record]}` on `POST '
        "/invocations`. charter checks the bearer token the example's `serve.token_env` asks "
        "for, validates every field against the contract and logs every prediction; MLflow "
        "checks the signature and, by default, writes an access-log line per request. "
        "Closed loop: each connection sends its next request when the previous one is "
        "answered, so latency under load includes queueing in the server.",
        "",
        "| model | server | concurrency | requests/s | p50 ms | p99 ms | max ms | errors "
        "| server cores | others (cores) | server RSS after | server peak RSS | log backlog "
        "after | log pending / back-pressured after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *load_rows,
        "",
        f"Targets: charter (`fast` log) at least {TARGET_RPS_RATIO:.0f}x MLflow's requests/s "
        f"and MLflow's p99 at least {TARGET_P99_RATIO:.0f}x charter's, at each concurrency.",
        "",
        "| model | concurrency | req/s charter ÷ MLflow | p99 MLflow ÷ charter | target "
        "(fast) | durable: req/s ÷, p99 ÷ |",
        "|---|---|---|---|---|---|",
        *ratio_rows,
        "",
        summary,
        *(["", "Misses:", "", *verdicts] if verdicts else []),
        *(["", "**The prediction log under load:**", "", *log_notes] if log_notes else []),
        "",
        "MLflow here, against the issue's reference on a 2-core machine (roughly 60 to 130 "
        "req/s, p50 about 10 ms at concurrency 1, p99 about 650 ms at concurrency 32):",
        "",
        *[f"- {line}" for line in ref_lines],
        "",
        "**In-process cost per row** (`compile_predictor(model, holdout=<test split>, "
        "prefer=…).predict_records([record])`, one call per row, timed call by call for at "
        "least 1 s, cycling through the holdout's rows):",
        "",
        "| model | asked | path served | p50 µs | p99 µs | mean µs | calls |",
        "|---|---|---|---|---|---|---|",
        *cost_rows,
        "",
        "Distance to the floor:",
        "",
        *floor_lines,
        "",
        "Server cores: CPU seconds of the server's processes during the run, divided by its "
        "length (the ceiling is the core count). Others: the cores that processes other than "
        "the server and the load client kept busy meanwhile. "
        + contention_note(
            [x.others_cores for r in results for s in r.servers.values() for x in s.loads]
        )
        + " Errors: connect, read, write, timeout (> 10 s) or HTTP status ≥ 400. Server RSS "
        "after: the resident memory of the server's processes when the run ended; peak RSS: "
        "the most they had held so far (VmHWM). Log backlog "
        "after (charter only): the prediction log's `lag_records` / `lag_seconds` from "
        "/metrics right after the run, the predictions answered but not yet written (fast "
        "mode promises a write within 100 ms). Log pending / back-pressured: its `pending` "
        "(records not yet written) and `backpressure` (submits, since the server started, "
        "that found the queue full and waited for the write before answering).",
        "",
    ]
    if notes:
        lines += ["Problems seen in the servers' logs or exits:", "", *notes, ""]
    else:
        lines += [
            "No server logged a traceback or an ERROR line, and charter shut down cleanly on "
            "SIGTERM.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--concurrency", nargs="+", type=int, default=list(CONCURRENCY))
    parser.add_argument("--seconds", type=float, default=SECONDS, help="per concurrency")
    parser.add_argument("--workers", type=int, default=1, help="server workers, both tools")
    parser.add_argument(
        "--client", choices=CLIENTS, default="python", help="see benchmarks/_load_client.py"
    )
    parser.add_argument(
        "--modes", nargs="+", choices=LOG_MODES, default=list(LOG_MODES), help="charter log modes"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the section to this file instead of benchmarks/RESULTS.md",
    )
    args = parser.parse_args()
    args.modes = [mode for mode in LOG_MODES if mode in args.modes]

    client = choose(args.client)
    print(f"load client: {describe(client)}", flush=True)
    python = mlflow_python()
    results = [measure_model(name, MODELS[name], python, client, args) for name in args.models]
    section = render(results, client, args)
    if args.out is not None:
        args.out.write_text(section, encoding="utf-8")
        print(f"written to {args.out}", flush=True)
    else:
        write_section(MARKER, section)


if __name__ == "__main__":
    main()
