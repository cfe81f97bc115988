"""Errors: one root, located problems, a readable headline."""

from __future__ import annotations

import pytest

from charter.errors import CharterError, NotFoundError, Problem, SpecError


def test_a_problem_reads_file_line_column_message() -> None:
    problem = Problem("charter.yaml", 3, 7, "kpis[0].at_least", "The 'x' must be a number.")
    assert str(problem) == "charter.yaml:3:7: The 'x' must be a number."


def test_a_spec_error_headline_counts_its_problems() -> None:
    one = Problem("c.yaml", 1, 1, "a", "first")
    two = Problem("c.yaml", 2, 1, "b", "second")
    assert str(SpecError([one])) == "c.yaml:1:1: first"
    assert str(SpecError([one, two])) == "2 problems in c.yaml; the first: c.yaml:1:1: first"
    with pytest.raises(CharterError, match="2 problems"):
        raise SpecError((one, two))


def test_ledger_errors_are_charter_errors() -> None:
    with pytest.raises(CharterError, match="no run 7"):
        raise NotFoundError("no run 7")
