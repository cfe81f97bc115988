"""What the dashboard reads: a project's charter and ledger, opened once, read per request.

`ProjectReader(charter_path)` never creates a ledger: a project without one, or with a
file that is not a ledger, raises `DashboardUnavailable` with a message meant for a page.
The charter is reloaded when its file changes, so an edited threshold shows at once.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from charter.errors import CharterError, NotFoundError
from charter.spec import LoadedCharter, load_charter

if TYPE_CHECKING:
    from charter.ledger import Evidence, Ledger
    from charter.reporting import LedgerSnapshot

#: The environment variable naming a database ledger (the ledger package reads the same).
LEDGER_URL_ENV = "CHARTER_LEDGER_URL"
T = TypeVar("T")


class DashboardUnavailable(CharterError):
    """The project cannot be shown: no charter, no ledger, or a ledger that cannot be read."""


class ProjectReader:
    """Reads one project for the dashboard; safe to share between request threads."""

    def __init__(self, charter_path: Path, ledger_url: str | None = None) -> None:
        self.charter_path = Path(charter_path)
        self.ledger_url = ledger_url
        self._lock = threading.Lock()
        self._ledger: Ledger | None = None
        self._loaded: LoadedCharter | None = None
        self._stamp: tuple[int, int] | None = None

    # -- opening ------------------------------------------------------------------------

    def charter(self) -> LoadedCharter:
        """The charter as the file says now (reloaded when the file changed)."""
        try:
            info = self.charter_path.stat()
        except OSError as error:
            raise DashboardUnavailable(
                f"The charter {self.charter_path} cannot be read: {error.strerror or error}."
            ) from None
        stamp = (info.st_mtime_ns, info.st_size)
        with self._lock:
            if self._loaded is None or stamp != self._stamp:
                self._loaded = load_charter(self.charter_path)
                self._stamp = stamp
            return self._loaded

    def ledger(self) -> Ledger:
        """The project's ledger, opened on first use; never created by the dashboard."""
        from charter.ledger import open_ledger

        loaded = self.charter()
        with self._lock:
            if self._ledger is not None:
                return self._ledger
            url = self.ledger_url or os.environ.get(LEDGER_URL_ENV) or None
            database = loaded.base_dir / ".charter" / "ledger.db"
            if url is None and not database.is_file():
                raise DashboardUnavailable(
                    f"No ledger at {database}: nothing has been recorded for project "
                    f"'{loaded.charter.project.name}' yet. Run `charter check` or "
                    "`charter run` first."
                )
            try:
                # reap=False: the dashboard reads; judging other processes is not its job.
                self._ledger = open_ledger(loaded.base_dir, url, reap=False)
            except CharterError as error:
                raise DashboardUnavailable(f"The ledger cannot be read: {error}") from None
            except Exception as error:  # a file that is not a database, a broken driver
                raise DashboardUnavailable(
                    f"The ledger cannot be read: {type(error).__name__}: {error}"
                ) from None
            return self._ledger

    def close(self) -> None:
        """Release the ledger's connections."""
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None

    # -- reading ------------------------------------------------------------------------

    def snapshot(self) -> tuple[LoadedCharter, LedgerSnapshot]:
        """The charter and a fresh snapshot of the ledger."""
        from charter.reporting import read_snapshot

        loaded = self.charter()
        ledger = self.ledger()
        return loaded, self._reading(lambda: read_snapshot(ledger, loaded.charter.project.name))

    def run_evidence(self, run_id: str) -> list[Evidence]:
        """The evidence one run left, newest first."""
        loaded = self.charter()
        ledger = self.ledger()
        name = loaded.charter.project.name
        return self._reading(lambda: ledger.evidence(name, run_id=run_id, limit=None))

    def validations(self, run_ids: list[str]) -> dict[str, Mapping[str, Any]]:
        """The validation evidence of each run that has one, by run id."""
        loaded = self.charter()
        ledger = self.ledger()
        name = loaded.charter.project.name
        found: dict[str, Mapping[str, Any]] = {}
        for run_id in run_ids:
            items = self._reading(functools.partial(_validation_of, ledger, name, run_id))
            if items:
                found[run_id] = items[0].payload
        return found

    def run_report_html(self, run_id: str) -> str:
        """The run's HTML report, rendered from the ledger (NotFoundError for an unknown run)."""
        from charter.lifecycle._report import build_report
        from charter.reporting import render_run_report

        loaded = self.charter()
        ledger = self.ledger()
        run = self._reading(lambda: ledger.get_run(run_id))
        if run.project != loaded.charter.project.name:
            raise NotFoundError(f"The run {run_id!r} is not a run of this project.")
        return render_run_report(self._reading(lambda: build_report(ledger, loaded, run_id)))

    def _reading(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except NotFoundError:
            raise
        except CharterError as error:
            raise DashboardUnavailable(f"The ledger cannot be read: {error}") from None
        except Exception as error:
            # SQLAlchemy's errors for a file that is corrupt, or that stopped being a ledger.
            if type(error).__module__.startswith("sqlalchemy"):
                raise DashboardUnavailable(
                    f"The ledger cannot be read: {type(error).__name__}: "
                    f"{str(error).splitlines()[0]}"
                ) from None
            raise


def _validation_of(ledger: Ledger, project: str, run_id: str) -> list[Evidence]:
    return ledger.evidence(project, kind="validation", run_id=run_id, limit=1)
