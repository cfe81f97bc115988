"""Reporting: the self-contained HTML report of a run, and the SVG charts it draws.

Build a `RunReport` from the plain evidence dicts a run left in the ledger with
`RunReport.from_evidence(...)`, then `render_run_report(report)` for the HTML text or
`write_run_report(report, path)` to write it atomically. The file opens offline: CSS and
charts (inline SVG from `charter.reporting.charts`) are inside it, and it needs no script.
"""

from charter.reporting import charts
from charter.reporting._model import RunReport
from charter.reporting._render import NOT_RECORDED, render_run_report, write_run_report

__all__ = ["NOT_RECORDED", "RunReport", "charts", "render_run_report", "write_run_report"]
