"""What changed between two charter texts: a unified diff and the top-level sections."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

UNPARSED = "<unparsed>"
"""The one changed section reported when either text is not a YAML mapping."""


def unified_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff from `old` to `new`; empty when the texts are equal."""
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm=""
    )
    return "\n".join(lines)


def changed_sections(old: str | None, new: str) -> list[str]:
    """Top-level keys whose content differs between two charter texts.

    A missing `old` (the first revision) reports every section of `new`. Keys come in
    the order of `new`, then the removed ones in the order of `old`. When either text
    does not parse as a YAML mapping the answer is `["<unparsed>"]`.
    """
    new_sections = _sections(new)
    if new_sections is None:
        return [UNPARSED]
    if old is None:
        return [str(key) for key in new_sections]
    old_sections = _sections(old)
    if old_sections is None:
        return [UNPARSED]
    changed = [
        str(key)
        for key, value in new_sections.items()
        if key not in old_sections or old_sections[key] != value
    ]
    changed += [str(key) for key in old_sections if key not in new_sections]
    return changed


def _sections(text: str) -> dict[Any, Any] | None:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if loaded is None:
        return {}
    return loaded if isinstance(loaded, dict) else None
