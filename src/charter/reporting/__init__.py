"""Reporting: the HTML report of a run, the project's status, the dashboard pages and charts.

Build a `RunReport` from the plain evidence dicts a run left in the ledger with
`RunReport.from_evidence(...)`, then `render_run_report(report)` for the HTML text or
`write_run_report(report, path)` to write it atomically. The file opens offline: CSS and
charts (inline SVG from `charter.reporting.charts`) are inside it, and it needs no script.

Where a project stands is derived, never typed in twice:

    snapshot = read_snapshot(ledger, "telco-churn")        # one read of the ledger
    status = derive_status(charter, snapshot, now=now)      # risks, milestones, budget...
    rows = table_rows("kpis", charter, snapshot)            # flat rows for BI tools
    rows_to_csv(rows)

`render_dashboard_page(name, context)` renders one page of the `charter ui` dashboard.
"""

from charter.reporting import charts
from charter.reporting._dashboard import (
    DASHBOARD_STATIC,
    dashboard_context,
    extra_tables,
    monitoring_series,
    render_dashboard_page,
    render_problem_page,
)
from charter.reporting._dashboard_tables import EMPTY_COLUMNS, TABLES, rows_to_csv, table_rows
from charter.reporting._model import RunReport
from charter.reporting._render import NOT_RECORDED, render_run_report, write_run_report
from charter.reporting._status import (
    LedgerSnapshot,
    ProjectStatus,
    derive_status,
    read_snapshot,
    scope_diff,
)

__all__ = [
    "DASHBOARD_STATIC",
    "EMPTY_COLUMNS",
    "NOT_RECORDED",
    "TABLES",
    "LedgerSnapshot",
    "ProjectStatus",
    "RunReport",
    "charts",
    "dashboard_context",
    "derive_status",
    "extra_tables",
    "monitoring_series",
    "read_snapshot",
    "render_dashboard_page",
    "render_problem_page",
    "render_run_report",
    "rows_to_csv",
    "scope_diff",
    "table_rows",
    "write_run_report",
]
