"""Flat tables for BI tools and CSV downloads: KPI measurements, windows, incidents, runs.

Each table is a list of rows with the same keys in the same order (plain scalars only),
so that it loads as it is into Tableau, Power BI or a DataFrame. KPI measurements are in
long form (one row per KPI per validation or window): BI tools draw trends from that.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from charter.reporting._status import (
    LedgerSnapshot,
    passes,
    threshold_of,
    validation_values,
    window_kpis,
)
from charter.spec.schema import Charter

Row = dict[str, Any]
TABLES = ("kpis", "windows", "incidents", "runs")

_KPI_COLUMNS = (
    "source",
    "time",
    "kpi",
    "metric",
    "gate",
    "value",
    "direction",
    "threshold",
    "passed",
    "estimated",
    "version",
    "run_id",
    "window_key",
)


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def kpi_table(charter: Charter, snapshot: LedgerSnapshot) -> list[Row]:
    """One row per KPI measurement, from validations (oldest first) then monitoring windows.

    Thresholds are the current charter's; a KPI no longer in the charter keeps its values
    with an empty threshold.
    """
    by_name = {kpi.name: kpi for kpi in charter.kpis}
    rows: list[Row] = []
    versions = {v.run_id: v.version for v in snapshot.model_versions if v.run_id}
    for evidence in reversed(snapshot.gate_evidence):
        values, estimates = validation_values(evidence)
        for name, value in values.items():
            kpi = by_name.get(name)
            direction, threshold = threshold_of(kpi) if kpi else (None, None)
            rows.append(
                {
                    "source": "validation",
                    "time": _iso(evidence.created_at),
                    "kpi": name,
                    "metric": kpi.metric if kpi else None,
                    "gate": kpi.gate if kpi else None,
                    "value": value,
                    "direction": direction,
                    "threshold": threshold,
                    "passed": passes(value, direction, threshold),
                    "estimated": name in estimates,
                    "version": versions.get(evidence.run_id),
                    "run_id": evidence.run_id,
                    "window_key": None,
                }
            )
    for window in snapshot.windows:
        for name, record in window_kpis(window).items():
            kpi = by_name.get(name)
            value = record.get("value")
            recorded = record.get("passed")
            direction = record.get("direction") or (threshold_of(kpi)[0] if kpi else None)
            threshold = record.get("threshold")
            rows.append(
                {
                    "source": "monitoring",
                    "time": _iso(window.end),
                    "kpi": name,
                    "metric": record.get("metric") or (kpi.metric if kpi else None),
                    "gate": record.get("gate") or (kpi.gate if kpi else None),
                    "value": value,
                    "direction": direction,
                    "threshold": threshold,
                    "passed": recorded if isinstance(recorded, bool) else None,
                    "estimated": bool(record.get("estimated")),
                    "version": window.version,
                    "run_id": None,
                    "window_key": window.window_key,
                }
            )
    return [{column: row.get(column) for column in _KPI_COLUMNS} for row in rows]


def _section(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}


def window_table(charter: Charter, snapshot: LedgerSnapshot) -> list[Row]:
    """One row per monitoring window: counts, verdict, drift, operations, performance, KPIs."""
    kpi_names = [kpi.name for kpi in charter.kpis]
    extra = sorted({n for w in snapshot.windows for n in window_kpis(w)} - set(kpi_names))
    rows = []
    for window in snapshot.windows:
        payload = window.payload
        drift = _section(payload, "drift")
        operational = _section(payload, "operational")
        performance = _section(payload, "performance")
        estimated = _section(performance, "estimated")
        realised = _section(performance, "realised")
        kpis = window_kpis(window)
        drifted = drift.get("drifted")
        row: Row = {
            "window_id": window.id,
            "version": window.version,
            "window_key": window.window_key,
            "start": _iso(window.start),
            "end": _iso(window.end),
            "n_predictions": window.n_predictions,
            "verdict": window.verdict,
            "status": payload.get("status"),
            "max_psi": drift.get("max_psi"),
            "drifted_features": ";".join(map(str, drifted)) if isinstance(drifted, list) else None,
            "latency_p50_ms": operational.get("latency_p50_ms"),
            "latency_p99_ms": operational.get("latency_p99_ms"),
            "error_rate": operational.get("error_rate"),
            "throughput": operational.get("throughput"),
            "label_coverage": performance.get("label_coverage"),
            "labelled": performance.get("labelled"),
        }
        for metric in ("accuracy", "precision", "recall", "roc_auc"):
            row[f"estimated_{metric}"] = estimated.get(metric)
            row[f"realised_{metric}"] = realised.get(metric)
        for name in [*kpi_names, *extra]:
            record = kpis.get(name, {})
            row[f"kpi_{name}"] = record.get("value")
            passed = record.get("passed")
            row[f"kpi_{name}_passed"] = passed if isinstance(passed, bool) else None
        rows.append(row)
    return rows


def incident_table(charter: Charter, snapshot: LedgerSnapshot) -> list[Row]:
    """One row per incident, oldest first."""
    versions = {v.id: v.version for v in snapshot.model_versions}
    return [
        {
            "incident_id": i.id,
            "kpi": i.kpi,
            "status": i.status,
            "value": i.value,
            "threshold": i.threshold,
            "version": versions.get(i.model_version_id) if i.model_version_id else None,
            "window_id": i.window_id,
            "first_seen": _iso(i.first_seen),
            "last_seen": _iso(i.last_seen),
            "resolved_at": _iso(i.resolved_at),
        }
        for i in snapshot.incidents
    ]


def run_table(charter: Charter, snapshot: LedgerSnapshot) -> list[Row]:
    """One row per run, newest first, with its stages' outcomes and CPU time."""
    versions = {v.run_id: v.version for v in snapshot.model_versions if v.run_id}
    rows = []
    for run in snapshot.runs:
        stages = snapshot.stages.get(run.id, ())
        seconds = [s.wall_seconds for s in stages if s.wall_seconds is not None]
        cpu = [s.cpu_seconds for s in stages if s.cpu_seconds is not None]
        rows.append(
            {
                "run_id": run.id,
                "command": run.command,
                "status": run.status,
                "started_at": _iso(run.started_at),
                "finished_at": _iso(run.finished_at),
                "stages": ";".join(f"{s.stage}:{s.status}" for s in stages),
                "wall_seconds": sum(seconds) if seconds else None,
                "cpu_seconds": sum(cpu) if cpu else None,
                "revision_id": run.revision_id,
                "version": versions.get(run.id),
                "exit_reason": run.exit_reason,
                "code_version": run.code_version,
            }
        )
    return rows


TABLE_BUILDERS: dict[str, Callable[[Charter, LedgerSnapshot], list[Row]]] = {
    "kpis": kpi_table,
    "windows": window_table,
    "incidents": incident_table,
    "runs": run_table,
}


#: The columns of each table when it has no rows (windows add one pair per KPI).
EMPTY_COLUMNS: dict[str, tuple[str, ...]] = {
    "kpis": _KPI_COLUMNS,
    "windows": (
        "window_id",
        "version",
        "window_key",
        "start",
        "end",
        "n_predictions",
        "verdict",
        "status",
        "max_psi",
    ),
    "incidents": (
        "incident_id",
        "kpi",
        "status",
        "value",
        "threshold",
        "version",
        "window_id",
        "first_seen",
        "last_seen",
        "resolved_at",
    ),
    "runs": ("run_id", "command", "status", "started_at", "finished_at", "stages"),
}


def table_rows(what: str, charter: Charter, snapshot: LedgerSnapshot) -> list[Row]:
    """The rows of table `what` (one of TABLES); ValueError for another name."""
    builder = TABLE_BUILDERS.get(what)
    if builder is None:
        raise ValueError(
            f"The 'what' of an export must be one of {', '.join(TABLES)}. Got {what!r} instead."
        )
    return builder(charter, snapshot)


def rows_to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ()) -> str:
    """Rows as CSV text with a header (`columns` when there are no rows to take it from).

    Cells that a spreadsheet would run as a formula (starting with =, +, - or @) are
    prefixed with a quote: ledger text comes from users and must not execute on open.
    """
    header = list(rows[0].keys()) if rows else list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in header])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
