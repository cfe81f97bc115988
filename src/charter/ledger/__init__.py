"""The ledger: charter's memory of revisions, runs, evidence, artifacts, models and monitoring.

Open it with `open_ledger(charter_dir)`; by default it is a SQLite file in
`<charter_dir>/.charter/ledger.db` (PostgreSQL when $CHARTER_LEDGER_URL names one) and
artifacts live in `<charter_dir>/.charter/artifacts/`. Every call is one transaction and
returns frozen records, never live database objects.
"""

from ._artifacts import ArtifactStore, FsspecArtifactStore
from ._ledger import Ledger, StageHandle, open_ledger
from ._records import (
    Alias,
    Artifact,
    Deployment,
    Event,
    Evidence,
    Incident,
    IncidentStatus,
    LedgerSummary,
    ModelVersion,
    MonitoringWindow,
    Revision,
    Run,
    RunStatus,
    StageExecution,
    StageStatus,
)

__all__ = [
    "Alias",
    "Artifact",
    "ArtifactStore",
    "Deployment",
    "Event",
    "Evidence",
    "FsspecArtifactStore",
    "Incident",
    "IncidentStatus",
    "Ledger",
    "LedgerSummary",
    "ModelVersion",
    "MonitoringWindow",
    "Revision",
    "Run",
    "RunStatus",
    "StageExecution",
    "StageHandle",
    "StageStatus",
    "open_ledger",
]
