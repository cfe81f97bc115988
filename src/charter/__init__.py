"""charter: execute a machine-learning project from one declarative file, charter.yaml.

The public API is small on purpose: load and validate a charter, open its ledger, and
the errors callers may catch. Everything else is reached through the `charter` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from charter.errors import (
    ArtifactIntegrityError,
    CharterError,
    ConflictError,
    DataError,
    LedgerError,
    NotFoundError,
    SpecError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from charter.ledger import Ledger, open_ledger
    from charter.spec import Charter, LoadedCharter, load_charter

# Resolved on first use so `import charter` (and the CLI) stays light.
_LAZY = {
    "Charter": "charter.spec",
    "Ledger": "charter.ledger",
    "LoadedCharter": "charter.spec",
    "load_charter": "charter.spec",
    "open_ledger": "charter.ledger",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'charter' has no attribute {name!r}")


__all__ = [
    "ArtifactIntegrityError",
    "Charter",
    "CharterError",
    "ConflictError",
    "DataError",
    "Ledger",
    "LedgerError",
    "LoadedCharter",
    "NotFoundError",
    "SpecError",
    "__version__",
    "load_charter",
    "open_ledger",
]
