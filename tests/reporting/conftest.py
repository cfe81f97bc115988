"""Fixtures for the reporting tests: runs built from realistic evidence, and HTML checks."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest

from charter.reporting import RunReport

from . import evidence

RUNS: dict[str, Callable[[], evidence.Parts]] = {
    "full": evidence.full_run,
    "failed_at_validation": evidence.failed_at_validation,
    "no_training": evidence.no_training,
    "regression": evidence.regression_run,
    "multiclass": evidence.multiclass_run,
}

ReportFactory = Callable[..., RunReport]


@pytest.fixture
def make_report() -> ReportFactory:
    """Build the `RunReport` of one kind of run in RUNS, with parts replaced by keyword."""

    def make(kind: str = "full", **overrides: Any) -> RunReport:
        parts = RUNS[kind]()
        parts.update(overrides)
        return RunReport.from_evidence(**{k: v for k, v in parts.items() if v is not ...})

    return make


_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class _Nesting(HTMLParser):
    """Records every element and every end tag that does not close the innermost open one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")


def check_html(html: str) -> Counter[str]:
    """Assert the document is well nested and every SVG is XML; return the element counts."""
    parser = _Nesting()
    parser.feed(html)
    parser.close()
    assert parser.doctype, "the document must start with <!DOCTYPE html>"
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, f"elements left open: {parser.stack}"
    for svg in svgs(html):
        ET.fromstring(svg)
    return parser.tags


def svgs(html: str) -> list[str]:
    """Every inline <svg> element of the page, as text."""
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


_REMOTE = re.compile(
    r"""(?:\b(?:src|href|action|poster|xlink:href|srcset|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//))"""
    r"""|(?:url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//))|(?:@import)""",
    re.I,
)


def remote_references(html: str) -> list[str]:
    """src/href/url() values that would fetch something from outside the file."""
    return [m.group(0) for m in _REMOTE.finditer(html)]
