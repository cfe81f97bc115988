"""What changed between two charter texts: diffs and changed top-level sections."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from charter.ledger._revisions import UNPARSED, changed_sections, unified_diff

SECTION = st.sampled_from(["project", "objective", "data", "kpis", "model", "serve", "risks"])
VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
CHARTER = st.dictionaries(SECTION, VALUE, max_size=5)


@given(old=CHARTER, new=CHARTER)
def test_changed_sections_are_the_keys_that_differ(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    changed = changed_sections(yaml.safe_dump(old), yaml.safe_dump(new))
    expected = {key for key in old.keys() | new.keys() if old.get(key, ...) != new.get(key, ...)}
    assert set(changed) == expected
    assert len(changed) == len(set(changed))


@given(text=CHARTER.map(yaml.safe_dump))
def test_equal_texts_have_no_changes_and_no_diff(text: str) -> None:
    assert changed_sections(text, text) == []
    assert unified_diff(text, text, "a", "b") == ""


def test_first_revision_reports_every_section() -> None:
    assert changed_sections(None, "b: 1\na: 2\n") == ["b", "a"]
    assert changed_sections(None, "") == []


def test_texts_that_are_not_mappings_are_unparsed() -> None:
    assert changed_sections("a: 1\n", "a: [\n") == [UNPARSED]
    assert changed_sections("a: [\n", "a: 1\n") == [UNPARSED]
    assert changed_sections("a: 1\n", "- just\n- a list\n") == [UNPARSED]
    assert changed_sections(None, "plain text") == [UNPARSED]


def test_diff_is_a_unified_diff() -> None:
    diff = unified_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n", "old.yaml", "new.yaml")
    assert diff.splitlines() == [
        "--- old.yaml",
        "+++ new.yaml",
        "@@ -1,2 +1,2 @@",
        " a: 1",
        "-b: 2",
        "+b: 3",
    ]
