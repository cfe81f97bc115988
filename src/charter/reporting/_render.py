"""Render a `RunReport` to one self-contained HTML file, and write it atomically.

Templates and the stylesheet are package data, read through importlib.resources so they
load the same from a source checkout, a wheel or a zip. Autoescaping is on: every piece of
user text (column names, values, reasons) is escaped; only the SVG the charts module built
(which escapes its own text) is marked safe.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from charter.errors import CharterError
from charter.reporting import charts
from charter.reporting._model import RunReport
from charter.reporting._view import build

_PACKAGE = "charter.reporting"
_TEMPLATE = "run_report.html.j2"
NOT_RECORDED = "not recorded"


def _plain(value: object) -> str:
    """A value as short plain text (nested containers flattened), for `show` to escape."""
    if value is None:
        return NOT_RECORDED
    if isinstance(value, (bool, int, float)):
        return charts.format_number(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value) or "none"
    return str(value)


def _missing(value: object) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    # jinja2's Undefined (a key the evidence lacks), without importing jinja2 at module load.
    return type(value).__module__.startswith("jinja2") and not bool(value)


def show(value: object) -> Markup:
    """The `show` filter: a missing value as a muted "not recorded"; numbers shortened."""
    if _missing(value):
        return Markup('<span class="nr">not recorded</span>')
    if isinstance(value, Markup):
        return value
    return escape(_plain(value))


def opt(value: object) -> Markup:
    """The `opt` filter: like `show`, but nothing at all for a missing optional value."""
    return Markup("") if _missing(value) else show(value)


def pct(value: object) -> Markup:
    """A share in [0, 1] as a percentage with one decimal."""
    number = charts.finite(value)
    if number is None:
        return show(value if isinstance(value, str) else None)
    return escape(f"{number * 100:.1f} %")


def when(value: object) -> Markup:
    """An ISO timestamp or date, shortened to the minute and without the 'T'."""
    if _missing(value):
        return show(None)
    if isinstance(value, (dt.datetime, dt.date)):
        value = value.isoformat()
    text = str(value)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return escape(text)
    if len(text) <= 10:
        return escape(moment.date().isoformat())
    zone = ""
    offset = moment.utcoffset()
    if offset is not None:
        zone = " UTC" if offset == dt.timedelta(0) else moment.strftime(" %z")
    return escape(moment.strftime("%Y-%m-%d %H:%M") + zone)


def short(value: object) -> Markup:
    """A hash shortened to 12 characters."""
    return show(None) if _missing(value) else escape(str(value)[:12])


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2  # lazy: the command line starts without it

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(_PACKAGE, "templates"),
        autoescape=True,
        # A key missing from the evidence renders as "not recorded" through `show`, never an error.
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(show=show, opt=opt, pct=pct, when=when, short=short)
    return env


@functools.lru_cache(maxsize=1)
def _css() -> str:
    return resources.files(_PACKAGE).joinpath("static", "report.css").read_text(encoding="utf-8")


def render_run_report(report: RunReport) -> str:
    """The run's report as one HTML document that opens offline (inline CSS and SVG, no script).

    Missing evidence is reported as "not recorded" or "did not run", never an error; the
    output depends only on `report`, so the same run always renders the same bytes.
    """
    context = build(report)
    html: str = _environment().get_template(_TEMPLATE).render(css=Markup(_css()), **context)
    return html


def write_run_report(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Render the report and write it to `path` atomically (a temporary file, then a rename).

    Creates the parent folder; raises `CharterError` when the file cannot be written, and
    then leaves any previous report at `path` as it was.
    """
    target = Path(path)
    html = render_run_report(report)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as error:
        raise CharterError(
            f"The report path {str(target)!r} must be in a writable folder. "
            f"Got {error.strerror or error} instead."
        ) from error
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise CharterError(
                f"The report file {str(target)!r} must be writable. "
                f"Got {error.strerror or error} instead."
            ) from error
        raise
    return target


__all__ = ["NOT_RECORDED", "render_run_report", "write_run_report"]
