"""`charter monitor`: judge the served predictions window by window, open and resolve
incidents, tell the stakeholders, and retrain when the charter's policy says so.

One pass reads the prediction log from where the last pass stopped (the cursor and the
records of unfinished windows live in `monitor-state.json` in the log folder), cuts the
new records into windows, judges each complete window once (the ledger's unique window
key makes a second evaluation of the same window a no-op, whichever process tries), and
then acts on the verdicts. A pass killed half-way loses nothing: the state is replaced
atomically after the windows are recorded, so the next pass re-reads from the old cursor
and finds its windows already in the ledger.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.errors import CharterError, DataError, NotFoundError
from charter.spec import LoadedCharter, load_charter

if TYPE_CHECKING:
    from charter.ledger import Incident, Ledger
    from charter.lifecycle._evaluate import JudgedWindow, VersionContext
    from charter.lifecycle._retrain import RetrainOutcome
    from charter.lifecycle._run import Reporter
    from charter.monitoring import CutWindow, WindowSpec
    from charter.notify import Notice, NoticeKind, Notifier
    from charter.spec.schema import Charter

STATE_FILE = "monitor-state.json"
LOCK_FILE = ".monitor.lock"
#: Retraining after an incident needs at least this many labelled production records.
MIN_RETRAIN_LABELS = 50


class MonitorError(CharterError):
    """The monitor cannot run: no prediction log, or another monitor holds the lock too long."""


@dataclass(frozen=True)
class WindowOutcome:
    """One window this pass judged (or found already judged by an earlier pass)."""

    version: int
    key: str
    start: str
    end: str
    predictions: int
    verdict: str
    created: bool
    window_id: int
    failures: tuple[str, ...]
    drifted: tuple[str, ...]
    payload: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "key": self.key,
            "start": self.start,
            "end": self.end,
            "predictions": self.predictions,
            "verdict": self.verdict,
            "new": self.created,
            "failures": list(self.failures),
            "drifted": list(self.drifted),
            "kpis": self.payload.get("kpis", []),
            "performance": self.payload.get("performance"),
            "operational": self.payload.get("operational"),
            "note": self.payload.get("note"),
        }


@dataclass
class MonitorOutcome:
    """What one pass did."""

    project: str
    log_dir: str
    windows: list[WindowOutcome] = field(default_factory=list)
    opened: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: list[dict[str, Any]] = field(default_factory=list)
    records_read: int = 0
    pending: int = 0
    unreadable: int = 0
    late: int = 0
    retrain: dict[str, Any] | None = None
    retrain_reason: str | None = None

    @property
    def failed(self) -> bool:
        """True when any window judged in this pass failed a monitor gate."""
        return any(w.verdict == "fail" for w in self.windows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "log_dir": self.log_dir,
            "records_read": self.records_read,
            "windows": [w.as_dict() for w in self.windows],
            "failed": self.failed,
            "incidents_opened": self.opened,
            "incidents_resolved": self.resolved,
            "notifications": self.deliveries,
            "skipped_lines": self.skipped_lines,
            "pending_records": self.pending,
            "unreadable_records": self.unreadable,
            "late_records": self.late,
            "retrain_reason": self.retrain_reason,
            "retrain": self.retrain,
        }


def window_spec_of(charter: Charter) -> WindowSpec:
    """The charter's window: by time when `minutes` is set, else by count.

    A window smaller than the default `min_predictions` lowers it to the window's size, so
    a full window always gets a verdict.
    """
    from charter.monitoring import WindowSpec

    spec = charter.monitor.window
    if spec.minutes is not None:
        return WindowSpec(
            predictions=None, minutes=spec.minutes, min_predictions=spec.min_predictions
        )
    size = spec.predictions or 1000
    return WindowSpec(predictions=size, min_predictions=min(spec.min_predictions, size))


def default_log_dir(loaded: LoadedCharter) -> Path:
    """Where `charter serve` keeps the prediction log of this charter by default."""
    return loaded.base_dir / ".charter" / "serving"


@contextlib.contextmanager
def _monitor_lock(folder: Path, wait_s: float) -> Iterator[None]:
    """One monitor pass at a time per log folder (the ledger's unique keys guard the rest)."""
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MonitorError(
                        f"Another `charter monitor` has held {path} for over {wait_s:.0f} s. "
                        "Wait for it to finish, or stop it (Ctrl-C) and run this again."
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def _read_state(folder: Path) -> tuple[dict[str, Any], str | None]:
    """The saved state, or an empty one (with a note) when it is missing or unreadable."""
    path = folder / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, None
    except (OSError, ValueError) as error:
        # Starting over is safe: windows already judged are found in the ledger.
        aside = path.with_suffix(f".unreadable-{int(time.time())}")
        with contextlib.suppress(OSError):
            path.rename(aside)
        return {}, f"the monitor state {path} was unreadable ({error}); moved it to {aside.name} "
    if not isinstance(data, dict):
        return {}, f"the monitor state {path} held no object; starting over"
    return data, None


def _write_state(folder: Path, state: dict[str, Any]) -> None:
    path = folder / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    data = json.dumps(state, separators=(",", ":"), default=str).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class _Contexts:
    """Each model version's model and reference statistics, loaded once per pass."""

    def __init__(self, ledger: Ledger, project: str) -> None:
        self.ledger = ledger
        self.project = project
        self._cache: dict[int, VersionContext | None] = {}

    def get(self, version: int) -> VersionContext | None:
        if version not in self._cache:
            self._cache[version] = self._load(version)
        return self._cache[version]

    def _load(self, version: int) -> VersionContext | None:
        from charter.lifecycle._evaluate import VersionContext
        from charter.modeling import FittedModel

        try:
            record = self.ledger.get_model_version(self.project, version)
        except NotFoundError:
            return None
        by_name = {a.name: a for a in record.artifacts}
        if "model.pkl" not in by_name or "reference.json" not in by_name:
            return None
        model = FittedModel.from_bytes(self.ledger.load_artifact(by_name["model.pkl"]))
        reference = json.loads(self.ledger.load_artifact(by_name["reference.json"]))
        return VersionContext(version, model, reference)


def _notice(
    loaded: LoadedCharter,
    kind: NoticeKind,
    key: str,
    title: str,
    text: str,
    fields: dict[str, Any],
) -> Notice:
    from charter.notify import Notice

    return Notice(
        project=loaded.charter.project.name,
        kind=kind,
        title=title,
        text=text,
        fields=fields,
        time=datetime.now(timezone.utc),
        key=key,
    )


def make_notifier(loaded: LoadedCharter, ledger: Ledger) -> Notifier:
    """The charter's stakeholders as a notifier that skips what the ledger says was sent."""
    from charter.notify import Notifier

    project = loaded.charter.project.name

    def already_sent(key: str, stakeholder: str) -> bool:
        return any(
            e.payload.get("key") == key and e.payload.get("stakeholder") == stakeholder
            for e in ledger.events(project, kind="notify.delivered", limit=None)
        )

    return Notifier(
        loaded.charter.project.stakeholders,
        base_dir=loaded.base_dir,
        already_sent=already_sent,
    )


def send(
    loaded: LoadedCharter, ledger: Ledger, notifier: Notifier, notice: Notice
) -> list[dict[str, Any]]:
    """Deliver a notice to every stakeholder; each delivery (or failure) becomes an event."""
    project = loaded.charter.project.name
    shown = []
    for delivery in notifier.notify(notice):
        payload = {
            "key": delivery.key,
            "stakeholder": delivery.stakeholder,
            "channel": delivery.channel,
            "attempts": delivery.attempts,
            "error": delivery.error,
            "status_code": delivery.status_code,
        }
        kind = "notify.delivered" if delivery.delivered else "notify.failed"
        message = (
            f"Sent '{notice.title}' to {delivery.stakeholder} ({delivery.channel})."
            if delivery.delivered
            else f"Could not send '{notice.title}' to {delivery.stakeholder} "
            f"({delivery.channel}) after {delivery.attempts} attempt(s): {delivery.error}"
        )
        ledger.record_event(project, kind, message, payload)
        shown.append({**payload, "delivered": delivery.delivered})
    return shown


def monitor(
    path: Path,
    *,
    log_dir: Path | None = None,
    allow_retrain: bool = True,
    reporter: Reporter | None = None,
    now: Callable[[], datetime] | None = None,
    lock_wait_s: float = 600.0,
) -> MonitorOutcome:
    """One monitoring pass over the charter at `path` (see the module docstring)."""
    from charter.ledger import open_ledger
    from charter.monitoring import DriftThresholds, WindowCutter, WindowError
    from charter.serving import Cursor, FeedbackStore, LogReader

    loaded = load_charter(path)
    charter = loaded.charter
    project = charter.project.name
    folder = Path(log_dir) if log_dir is not None else default_log_dir(loaded)
    if not folder.is_dir():
        raise MonitorError(
            f"There is no prediction log at {folder}. Serve the champion first "
            "(`charter serve`), or name the log folder with --log-dir."
        )
    window_spec = window_spec_of(charter)
    thresholds = DriftThresholds.from_mapping(charter.monitor.drift)
    outcome = MonitorOutcome(project=project, log_dir=str(folder))
    clock = now or (lambda: datetime.now(timezone.utc))
    with _monitor_lock(folder, lock_wait_s), open_ledger(loaded.base_dir) as ledger:
        state, note = _read_state(folder)
        if note:
            ledger.record_event(project, "monitor.state_reset", note)
        try:
            cutter = WindowCutter(window_spec, state.get("cutter"))
            cursor = Cursor.from_json(state["cursor"]) if state.get("cursor") else None
        except (WindowError, DataError, KeyError, TypeError, ValueError) as error:
            # Re-reading from the start is safe: judged windows are found in the ledger.
            ledger.record_event(
                project,
                "monitor.state_reset",
                f"The monitor state in {folder} could not be used ({error}); starting over.",
            )
            cutter, cursor = WindowCutter(window_spec), None
        contexts = _Contexts(ledger, project)
        notifier = make_notifier(loaded, ledger)
        store = FeedbackStore(folder)
        try:
            chunks, end = LogReader(folder).read(cursor)
            for chunk in chunks:
                outcome.records_read += len(chunk.records)
                outcome.skipped_lines.extend(
                    {"segment": s.segment, "offset": s.offset, "reason": s.reason}
                    for s in chunk.skipped
                )
                for window in cutter.add(chunk.records):
                    _handle(loaded, ledger, contexts, store, notifier, window, thresholds, outcome)
            for window in cutter.due(clock()):
                _handle(loaded, ledger, contexts, store, notifier, window, thresholds, outcome)
            _write_state(folder, {"cursor": end.to_json(), "cutter": cutter.state()})
        finally:
            store.close()
        outcome.pending = cutter.pending_records
        outcome.unreadable = cutter.unreadable
        outcome.late = cutter.late
        if outcome.skipped_lines:
            ledger.record_event(
                project,
                "monitor.skipped_lines",
                f"{len(outcome.skipped_lines)} unreadable line(s) in the prediction log were "
                "skipped; every other record was read.",
                {"skipped": outcome.skipped_lines[:100]},
            )
        reason = _retrain_reason(loaded, ledger, outcome, clock())
    if reason and allow_retrain:
        from charter.lifecycle._retrain import RetrainError, retrain

        outcome.retrain_reason = reason
        try:
            result: RetrainOutcome = retrain(
                path, log_dir=folder, reporter=reporter, trigger=reason
            )
        except RetrainError as error:
            # The windows and incidents stand; a retrain that cannot start is reported, and
            # the policy tries again when the next incident opens.
            outcome.retrain = {"status": "not started", "reasons": [str(error)]}
            with open_ledger(loaded.base_dir) as ledger:
                ledger.record_event(
                    project, "retrain.not_started", f"Retrain ({reason}) not started: {error}"
                )
        else:
            outcome.retrain = result.as_dict()
    elif reason:
        outcome.retrain_reason = reason + " (not run: --no-retrain)"
    return outcome


def _handle(
    loaded: LoadedCharter,
    ledger: Ledger,
    contexts: _Contexts,
    store: Any,
    notifier: Notifier,
    window: CutWindow,
    thresholds: Any,
    outcome: MonitorOutcome,
) -> None:
    """Judge one window, record it once, and act on its verdict when this pass recorded it."""
    from charter.lifecycle._evaluate import judge_window

    charter = loaded.charter
    project = charter.project.name
    context = contexts.get(window.version)
    if context is None:
        # Nothing in the registry to judge it by, and no version to file it under: said in
        # the outcome and the ledger's history, never silently dropped.
        note = (
            f"model version {window.version} is not in the registry, or has no model or "
            "reference statistics: this window cannot be judged"
        )
        outcome.windows.append(
            WindowOutcome(
                version=window.version,
                key=window.key,
                start=window.start.isoformat(timespec="seconds"),
                end=window.end.isoformat(timespec="seconds"),
                predictions=window.size,
                verdict="no_verdict",
                created=False,
                window_id=-1,
                failures=(),
                drifted=(),
                payload={"status": "unknown_version", "note": note},
            )
        )
        ledger.record_event(
            project,
            "monitor.unknown_version",
            f"Window {window.key} ({window.size} predictions): {note}.",
            {"version": window.version, "window_key": window.key},
        )
        return
    labels = store.lookup(str(r.get("prediction_id")) for r in window.records)
    judged = judge_window(
        window,
        context,
        charter,
        thresholds,
        labels,
        min_predictions=window_spec_of(charter).min_predictions,
        min_label_coverage=charter.monitor.min_label_coverage,
    )
    recorded = ledger.record_window(
        project,
        window.version,
        window.key,
        window.start,
        window.end,
        window.size,
        judged.verdict,
        judged.payload,
    )
    failures = tuple(
        v.kpi for v in (judged.gate.verdicts if judged.gate else ()) if v.passed is False
    )
    outcome.windows.append(
        WindowOutcome(
            version=window.version,
            key=window.key,
            start=window.start.isoformat(timespec="seconds"),
            end=window.end.isoformat(timespec="seconds"),
            predictions=window.size,
            verdict=recorded.verdict,
            created=recorded.created,
            window_id=recorded.id,
            failures=failures,
            drifted=judged.drifted,
            payload=recorded.payload,
        )
    )
    if recorded.created and judged.gate is not None:
        _act(loaded, ledger, notifier, judged, recorded.id, window, outcome)


def _act(
    loaded: LoadedCharter,
    ledger: Ledger,
    notifier: Notifier,
    judged: JudgedWindow,
    window_id: int,
    window: CutWindow,
    outcome: MonitorOutcome,
) -> None:
    """Open or update incidents for breaches, resolve those that now pass, notify, mark risks."""
    charter = loaded.charter
    project = charter.project.name
    assert judged.gate is not None
    open_by_kpi: dict[str, Incident] = {i.kpi: i for i in ledger.incidents(project, status="open")}
    kpis = {k.name: k for k in charter.kpis}
    for verdict in judged.gate.verdicts:
        kpi = kpis[verdict.kpi]
        threshold = kpi.at_least if kpi.at_least is not None else kpi.at_most
        if verdict.passed is False:
            incident = ledger.open_or_update_incident(
                project,
                verdict.kpi,
                verdict.value,
                threshold,
                version=window.version,
                window_id=window_id,
                details={
                    "window_key": window.key,
                    "metric": verdict.metric,
                    "reason": verdict.reason,
                    "threshold_text": verdict.threshold,
                    "drifted": list(judged.drifted),
                },
                seen_at=window.end,
            )
            if not incident.created:
                continue
            facts = {
                "KPI": verdict.kpi,
                "value": verdict.value,
                "threshold": verdict.threshold,
                "window": window.key,
                "model version": window.version,
            }
            if judged.drifted:
                facts["drifted features"] = ", ".join(judged.drifted)
            outcome.opened.append({"id": incident.id, **facts})
            for risk in charter.risks:
                if risk.check == verdict.kpi:
                    ledger.record_event(
                        project,
                        "risk.triggered",
                        f"Risk {risk.id} ({risk.risk}) is triggered: {verdict.reason}",
                        {"risk": risk.id, "kpi": verdict.kpi, "incident_id": incident.id},
                    )
            outcome.deliveries += send(
                loaded,
                ledger,
                notifier,
                _notice(
                    loaded,
                    "incident.opened",
                    f"incident-{incident.id}-opened",
                    f"[{project}] Incident {incident.id}: {verdict.kpi} breached",
                    f"{verdict.reason} Window {window.key} of model version {window.version} "
                    f"({window.size} predictions, {window.start:%Y-%m-%d %H:%M} to "
                    f"{window.end:%H:%M} UTC).",
                    facts,
                ),
            )
        elif verdict.passed is True and verdict.kpi in open_by_kpi:
            incident = open_by_kpi[verdict.kpi]
            reason = f"window {window.key} passes: {verdict.reason}"
            ledger.resolve_incident(incident.id, reason)
            facts = {"KPI": verdict.kpi, "value": verdict.value, "window": window.key}
            outcome.resolved.append({"id": incident.id, **facts})
            outcome.deliveries += send(
                loaded,
                ledger,
                notifier,
                _notice(
                    loaded,
                    "incident.resolved",
                    f"incident-{incident.id}-resolved",
                    f"[{project}] Incident {incident.id} resolved: {verdict.kpi} is back",
                    f"{verdict.kpi} passes again in window {window.key}: {verdict.reason}",
                    facts,
                ),
            )


def _retrain_reason(
    loaded: LoadedCharter, ledger: Ledger, outcome: MonitorOutcome, now: datetime
) -> str | None:
    """Why the charter's retrain policy asks for a retrain after this pass, if it does."""
    from charter.spec.metrics import get_metric

    policy = loaded.charter.monitor.retrain
    kpis = {k.name: k for k in loaded.charter.kpis}
    drift_kpis = {n for n, k in kpis.items() if get_metric(k.metric).name == "max_psi"}
    for opened in outcome.opened:
        name = str(opened["KPI"])
        if "drift" in policy.when and name in drift_kpis:
            return f"drift: KPI '{name}' breached in window {opened['window']}"
        if "kpi_breach" in policy.when and name not in drift_kpis:
            return f"KPI breach: '{name}' breached in window {opened['window']}"
    if "drift" in policy.when and not drift_kpis:
        for window in outcome.windows:
            if window.created and window.drifted:
                return f"drift: {', '.join(window.drifted)} drifted in window {window.key}"
    if "schedule" in policy.when and policy.every_days:
        project = loaded.charter.project.name
        versions = ledger.model_versions(project)
        if versions and now - versions[-1].created_at >= timedelta(days=policy.every_days):
            return f"schedule: the latest model is older than {policy.every_days:g} days"
    return None


def incidents(path: Path, status: str | None = None) -> list[dict[str, Any]]:
    """The project's incidents, oldest first, as JSON-ready rows."""
    from charter.ledger import open_ledger

    loaded = load_charter(path)
    project = loaded.charter.project.name
    with open_ledger(loaded.base_dir) as ledger:
        found = ledger.incidents(project, status=status)  # type: ignore[arg-type]
        versions = {v.id: v.version for v in ledger.model_versions(project)}
    return [
        {
            "id": i.id,
            "kpi": i.kpi,
            "status": i.status,
            "value": i.value,
            "threshold": i.threshold,
            "model_version": versions.get(i.model_version_id or -1),
            "first_seen": i.first_seen.isoformat(timespec="seconds"),
            "last_seen": i.last_seen.isoformat(timespec="seconds"),
            "resolved_at": None
            if i.resolved_at is None
            else i.resolved_at.isoformat(timespec="seconds"),
            "window": i.details.get("window_key"),
            "reason": i.details.get("reason"),
        }
        for i in found
    ]


def watch(
    path: Path,
    *,
    every_s: float,
    on_pass: Callable[[MonitorOutcome], None],
    log_dir: Path | None = None,
    allow_retrain: bool = True,
    reporter: Reporter | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    passes: int | None = None,
) -> int:
    """Run a pass every `every_s` seconds until `should_stop` (or Ctrl-C); the passes run."""
    done = 0
    while not should_stop() and (passes is None or done < passes):
        started = time.monotonic()
        on_pass(monitor(path, log_dir=log_dir, allow_retrain=allow_retrain, reporter=reporter))
        done += 1
        while not should_stop() and time.monotonic() - started < every_s:
            if passes is not None and done >= passes:
                break
            time.sleep(min(0.2, every_s))
    return done
