"""The public API is pinned: a change to it is a deliberate change to this test."""

from __future__ import annotations

import pytest

import charter
import charter.data
import charter.errors
import charter.ledger
import charter.spec


def test_the_top_level_api_is_pinned() -> None:
    assert charter.__all__ == [
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


def test_every_public_name_resolves() -> None:
    for module in (charter, charter.spec, charter.ledger, charter.data, charter.errors):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_every_all_lists_each_name_once() -> None:
    # The order itself (constants, classes, functions, each sorted) is ruff's RUF022.
    for module in (charter, charter.spec, charter.ledger, charter.data, charter.errors):
        assert len(set(module.__all__)) == len(module.__all__), module.__name__


def test_unknown_attributes_fail_clearly() -> None:
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        charter.no_such_thing  # noqa: B018


def test_every_error_derives_from_charter_error() -> None:
    for name in charter.errors.__all__:
        cls = getattr(charter.errors, name)
        if isinstance(cls, type) and issubclass(cls, Exception):
            assert issubclass(cls, charter.CharterError), name
