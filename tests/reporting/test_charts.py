"""The SVG charts: ticks, labels, empty and broken data, escaping, and XML validity."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.reporting import charts
from charter.reporting.charts import Bar, Reference, Series


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    return root


def texts(svg: str) -> list[str]:
    """Every visible text of the chart (tooltips left out)."""
    out = []
    for node in parse(svg).iter("text"):
        out.append("".join(t for t in node.itertext() if t not in {c.text for c in node}))
    return out


_GEOMETRY = ("x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height", "d", "viewBox")


def assert_finite_geometry(svg: str) -> None:
    """Every coordinate in the chart is a finite number."""
    for node in parse(svg).iter():
        for name in _GEOMETRY:
            value = (node.get(name) or "").lower()
            assert "nan" not in value, (node.tag, name, value)
            assert "inf" not in value, (node.tag, name, value)


def assert_accessible(svg: str, title: str) -> None:
    root = parse(svg)
    assert root.get("role") == "img"
    assert (root.get("aria-label") or "").startswith(title)
    first = root[0]
    assert first.tag == "title"
    assert first.text == title
    assert "http" not in svg  # inline SVG needs no namespace URL or any other reference
    assert "<script" not in svg


# --------------------------------------------------------------------------- ticks


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.0, 1.0, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        (0.0001, 0.0002, ["0.00010", "0.00012", "0.00014", "0.00016", "0.00018", "0.00020"]),
        (0.0, 100.0, ["0", "20", "40", "60", "80", "100"]),
        (-3.0, 7.0, ["-4", "-2", "0", "2", "4", "6", "8"]),
        (0.0, 60_000.0, ["0", "20,000", "40,000", "60,000"]),
    ],
)
def test_nice_ticks_are_round_and_cover_the_range(
    lo: float, hi: float, expected: list[str]
) -> None:
    start, end, ticks = charts.nice_ticks(lo, hi)
    assert start <= lo
    assert end >= hi
    assert charts.tick_labels(ticks) == expected


def test_a_constant_range_is_padded_instead_of_collapsing() -> None:
    start, end, ticks = charts.nice_ticks(5.0, 5.0)
    assert start < 5.0 < end
    assert len(set(charts.tick_labels(ticks))) == len(ticks) >= 2
    start, end, ticks = charts.nice_ticks(0.0, 0.0)
    assert (start, end) == (-1.0, 1.0)


@pytest.mark.parametrize(
    ("lo", "hi"), [(1e-9, 3e-9), (1e9, 1e9 + 5e8), (-1e50, 1e50), (123.4, 123.5)]
)
def test_tick_labels_stay_distinct_for_tiny_and_huge_ranges(lo: float, hi: float) -> None:
    _, _, ticks = charts.nice_ticks(lo, hi)
    labels = charts.tick_labels(ticks)
    assert 2 <= len(ticks) <= 12
    assert len(set(labels)) == len(labels), labels
    assert ticks == sorted(ticks)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.8457, "0.8457"),
        (0.84571234, "0.8457"),
        (71350.0, "71,350"),
        (1234.5, "1,234.5"),
        (12, "12"),
        (1234567, "1,234,567"),
        (0.00012, "0.00012"),
        (2.5e-7, "2.5e-07"),
        (float("nan"), "NaN"),
        (float("inf"), "∞"),
        (True, "yes"),
        (0.0, "0"),
    ],
)
def test_format_number(value: object, text: str) -> None:
    assert charts.format_number(value) == text


# --------------------------------------------------------------------------- line chart


def test_line_chart_has_axes_ticks_labels_legend_and_title() -> None:
    svg = charts.line_chart(
        [
            Series("model A", [(0, 0), (0.5, 0.8), (1, 1)]),
            Series("model B", [(0, 0), (0.5, 0.6), (1, 1)], kind="line+markers"),
        ],
        title="ROC curve",
        x_label="false positive rate",
        y_label="true positive rate",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        diagonal="chance",
    )
    assert_accessible(svg, "ROC curve")
    shown = texts(svg)
    for label in ("false positive rate", "true positive rate", "model A", "model B", "chance"):
        assert label in shown
    assert {"0", "0.2", "0.4", "0.6", "0.8", "1.0"} <= set(shown)
    assert svg.count('class="series"') == 2


def test_missing_and_non_finite_points_are_skipped_and_counted() -> None:
    points = [(0, 1), (1, None), (2, float("nan")), (None, 3), (4, float("inf")), (5, 2), ("x", 1)]
    svg = charts.line_chart([Series("s", points)], title="t", x_label="x", y_label="y")
    parse(svg)
    assert "5 points skipped (missing or not finite)" in texts(svg)
    # The line breaks at the gap instead of joining across it.
    assert len(re.findall(r'<path d="M', svg.split('class="series"')[1])) == 2


@pytest.mark.parametrize(
    "series",
    [
        [],
        [Series("empty", [])],
        [Series("all missing", [(None, None), (float("nan"), 1.0)])],
    ],
)
def test_no_data_gives_an_explicit_picture(series: list[Series]) -> None:
    svg = charts.line_chart(series, title="Search history", x_label="trial", y_label="score")
    assert_accessible(svg, "Search history")
    assert any(t.startswith("No data") for t in texts(svg))


def test_a_constant_series_draws_with_a_padded_axis() -> None:
    svg = charts.line_chart(
        [Series("flat", [(i, 0.75) for i in range(10)])], title="t", x_label="x", y_label="y"
    )
    parse(svg)
    labels = [t for t in texts(svg) if re.fullmatch(r"-?[\d.,]+", t)]
    assert len(set(labels)) == len(labels)
    assert "NaN" not in svg


def test_a_single_point_is_drawn() -> None:
    svg = charts.line_chart(
        [Series("one", [(3, 4)], kind="markers")], title="t", x_label="x", y_label="y"
    )
    assert "<circle" in svg


def test_long_series_are_downsampled_to_keep_the_file_small() -> None:
    points = [(i / 9999, math.sqrt(i / 9999)) for i in range(10_000)]
    svg = charts.line_chart(
        [Series("curve", points)], title="t", x_label="x", y_label="y", max_points=200
    )
    path = re.search(r'<g class="series">.*?<path d="([^"]+)"', svg, flags=re.S)
    assert path is not None
    assert path.group(1).count("L") <= 200
    assert len(svg) < 12_000


def test_downsample_keeps_the_ends() -> None:
    points = [(float(i), float(i)) for i in range(1000)]
    kept = charts.downsample(points, 10)
    assert len(kept) == 10
    assert kept[0] == points[0]
    assert kept[-1] == points[-1]
    assert charts.downsample(points[:5], 10) == points[:5]


def test_step_series_draws_a_running_best_as_steps() -> None:
    svg = charts.line_chart(
        [Series("best", [(0, 0.5), (1, 0.6), (2, 0.6), (3, 0.7)], kind="step")],
        title="t",
        x_label="trial",
        y_label="score",
    )
    path = re.search(r'<g class="series">.*?<path d="([^"]+)"', svg, flags=re.S)
    assert path is not None
    assert "H" in path.group(1)
    assert "V" in path.group(1)
    assert "L" not in path.group(1)


def test_text_is_escaped_in_titles_labels_and_legends() -> None:
    evil = "<script>alert('x')</script> & \"quotes\""
    svg = charts.line_chart(
        [Series(evil, [(0, 1), (1, 2)]), Series("b", [(0, 2), (1, 1)])],
        title=evil,
        x_label=evil,
        y_label=evil,
    )
    root = parse(svg)
    assert "<script" not in svg
    assert root.get("aria-label", "").startswith(evil)
    assert root[0].text == evil


def test_standalone_adds_the_namespace_once() -> None:
    svg = charts.no_data("t")
    document = charts.standalone(svg)
    assert document.count("xmlns=") == 1
    assert ET.fromstring(document).tag.endswith("svg")


# --------------------------------------------------------------------------- bar chart


def test_bar_chart_shows_values_errors_words_and_references() -> None:
    svg = charts.bar_chart(
        [
            Bar("Female", 0.45, status="pass"),
            Bar("Male", 0.31, status="fail"),
            Bar("Other", 0.40, error=0.02),
        ],
        title="Selection rate by gender",
        x_label="share predicted positive",
        references=[Reference(0.35, "parity limit"), Reference(0.4, "overall")],
        x_range=(0.0, 1.0),
    )
    assert_accessible(svg, "Selection rate by gender")
    shown = texts(svg)
    assert "0.45 ✓ PASS" in shown
    assert "0.31 ✗ FAIL" in shown
    assert "0.4 ± 0.02" in shown
    assert {"Female", "Male", "Other", "parity limit", "overall"} <= set(shown)
    assert charts.FAIL_COLOR in svg


def test_bar_chart_handles_negative_values_missing_bars_and_too_many_bars() -> None:
    bars = [Bar(f"f{i}", (-1) ** i * i / 10) for i in range(40)] + [Bar("none", None)]
    svg = charts.bar_chart(bars, title="Importance", x_label="drop", max_bars=25)
    parse(svg)
    shown = texts(svg)
    assert "15 more not shown" in shown
    assert "1 bar without a value not shown" in shown


def test_bar_chart_without_values_says_no_data() -> None:
    svg = charts.bar_chart([Bar("a", None), Bar("b", float("nan"))], title="t", x_label="x")
    assert "No data: 2 bars without a value" in texts(svg)
    assert "No data" in texts(charts.bar_chart([], title="t", x_label="x"))


# --------------------------------------------------------------------------- heatmap


def test_heatmap_prints_every_count_with_labels() -> None:
    svg = charts.heatmap(
        [[768, 267], [78, 296]],
        row_labels=["No", "Yes"],
        col_labels=["No", "Yes"],
        title="Confusion matrix at threshold 0.31",
    )
    assert_accessible(svg, "Confusion matrix at threshold 0.31")
    shown = texts(svg)
    assert {"768", "267", "78", "296", "Predicted", "Actual", "No", "Yes"} <= set(shown)
    assert "74%" in shown


def test_heatmap_tolerates_ragged_rows_and_bad_cells() -> None:
    svg = charts.heatmap([[1, "x"], [None], [3, 4, 5]], row_labels=["a"], col_labels=[], title="t")
    parse(svg)
    shown = texts(svg)
    assert "—" in shown
    assert "row 2" in shown
    assert "column 3" in shown


def test_empty_heatmap_says_no_data() -> None:
    assert "No data" in texts(charts.heatmap([], row_labels=[], col_labels=[], title="t"))
    assert "No data" in texts(charts.heatmap([[]], row_labels=[], col_labels=[], title="t"))


# --------------------------------------------------------------------------- histogram


def test_histogram_counts_every_finite_value() -> None:
    values = [0.1 * i for i in range(100)] + [None, float("nan")]
    svg = charts.histogram(values, title="Residuals", x_label="residual", bins=10)
    assert_accessible(svg, "Residuals")
    tips = [t.text or "" for t in parse(svg).iter("title")][1:]
    counts = [int(t.rsplit(": ", 1)[1]) for t in tips]
    assert sum(counts) == 100
    assert "2 points skipped (missing or not finite)" in texts(svg)


def test_histogram_of_a_constant_and_of_nothing() -> None:
    parse(charts.histogram([3.0] * 50, title="t", x_label="x"))
    assert "No data" in texts(charts.histogram([], title="t", x_label="x"))
    assert "No data" in texts(charts.binned_histogram([0, 1], [], title="t", x_label="x"))


# --------------------------------------------------------------------------- properties

numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(min_value=-1e-300, max_value=1e-300),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(numbers, numbers), max_size=30), max_size=4))
def test_line_chart_never_crashes_and_is_valid_xml(
    series: list[list[tuple[object, object]]],
) -> None:
    svg = charts.line_chart(
        [Series(f"s{i}", points, kind="line+markers") for i, points in enumerate(series)],
        title="t",
        x_label="x",
        y_label="y",
    )
    assert_finite_geometry(svg)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(numbers, numbers), max_size=30))
def test_bar_chart_never_crashes_and_is_valid_xml(values: list[tuple[object, object]]) -> None:
    svg = charts.bar_chart(
        [Bar(f"b{i}", v, error=e) for i, (v, e) in enumerate(values)],
        title="t",
        x_label="x",
        references=[Reference(0.5, "ref")],
    )
    assert_finite_geometry(svg)


@settings(max_examples=60, deadline=None)
@given(st.lists(numbers, max_size=60), st.integers(min_value=-3, max_value=300))
def test_histogram_never_crashes_and_is_valid_xml(values: list[object], bins: int) -> None:
    assert_finite_geometry(charts.histogram(values, title="t", x_label="x", bins=bins))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(numbers, max_size=6), max_size=6))
def test_heatmap_never_crashes_and_is_valid_xml(matrix: list[list[object]]) -> None:
    assert_finite_geometry(
        charts.heatmap(matrix, row_labels=["a", "b"], col_labels=["c"], title="t")
    )


@settings(max_examples=80, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e100, max_value=1e100),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e100, max_value=1e100),
)
def test_ticks_cover_any_finite_range_with_distinct_labels(a: float, b: float) -> None:
    start, end, ticks = charts.nice_ticks(a, b)
    # Covered up to float noise: a point a billionth of the axis outside is drawn on its edge.
    slack = 1e-6 * (end - start)
    assert start <= min(a, b) + slack
    assert end >= max(a, b) - slack
    assert 2 <= len(ticks) <= 62
    labels = charts.tick_labels(ticks)
    assert len(labels) == len(ticks)
