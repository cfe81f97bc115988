"""Target leakage: features that give the answer away, found from cross-tables with the target.

Four rules, each on statistics that merge (so a Spark engine yields the same verdicts):

- strong: the column alone predicts the target almost perfectly. For classification, the
  single-feature ROC AUC is at least 0.98, either as a rank AUC over the column's ordered
  bins, or cross-fitted: the target rate per bin (or category) learnt on one half of the
  rows scores the other half, so that a column of unique values (an id) scores 0.5, not 1.
  For regression, the cross-fitted R² of the per-bin target mean is at least 0.98.
- deterministic: one value of a flag or category (two values, or a category) implies a
  minority class: P(class | value) >= 0.99 over at least 20 rows, at least twice the base
  rate. This catches failure-mode flags that fire in only part of the positive rows.
- presence: a column filled (or empty) almost only for one minority class, the mark of a
  field recorded after the outcome.
- sibling: a rare 0/1 flag sitting in one block of adjacent 0/1 flags of which most are
  leaky by the rules above (outcome flags usually travel together), even when it is not
  predictive on its own. Reported as a warning, with its own numbers, for a person to check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from charter.data._findings import Finding, show
from charter.engines import MISSING, OTHER, Crosstab

STRONG_AUC = 0.98
STRONG_R2 = 0.98
PURE_RATE = 0.99
MIN_SUPPORT = 20
MIN_LIFT = 2.0
FLAG_MAX_SHARE = 0.10
CATEGORY_MAX = 50
_EXCLUDE_HINT = "exclude it in data.exclude"


@dataclass(frozen=True)
class Candidate:
    """A column examined for leakage and what the rules need to know about it."""

    name: str
    table: Crosstab
    ordered: bool  # keys are ordered bins or numbers (a rank AUC is meaningful)
    categorical: bool  # a flag or a category: rule `deterministic` applies
    flag: bool  # exactly two values, 0/1 or true/false, the rarer under 10% of rows
    reported: bool  # a feature (findings are made); False for excluded columns
    present_values: int


@dataclass(frozen=True)
class Verdict:
    """Why a column looks leaky, with the numbers behind it."""

    rule: str
    severity: str
    message: str
    details: dict[str, Any]


def _auc(groups: Sequence[tuple[float, float, float]]) -> float | None:
    """ROC AUC from (score, positives, negatives) groups; ties count a half."""
    positives = sum(group[1] for group in groups)
    negatives = sum(group[2] for group in groups)
    if positives == 0 or negatives == 0:
        return None
    merged: dict[float, list[float]] = {}
    for score, pos, neg in groups:
        cell = merged.setdefault(score, [0.0, 0.0])
        cell[0] += pos
        cell[1] += neg
    below = 0.0
    area = 0.0
    for score in sorted(merged):
        pos, neg = merged[score]
        area += pos * (below + neg / 2)
        below += neg
    return area / (positives * negatives)


def crossfit_auc(table: Crosstab, positive: int) -> float | None:
    """The cross-fitted one-vs-rest AUC of class `positive` scored by per-key rates."""
    areas: list[tuple[float, float]] = []
    for fold in (0, 1):
        fit = table.by_key(1 - fold)
        judge = table.by_key(fold)
        fit_pos = sum(cell[positive] for cell in fit.values())
        fit_all = sum(sum(cell) for cell in fit.values())
        if fit_all == 0:
            continue
        prior = fit_pos / fit_all
        rates = {key: cell[positive] / sum(cell) for key, cell in fit.items() if sum(cell) > 0}
        groups = [
            (rates.get(key, prior), cell[positive], sum(cell) - cell[positive])
            for key, cell in judge.items()
        ]
        auc = _auc(groups)
        if auc is not None:
            weight = sum(g[1] for g in groups) * sum(g[2] for g in groups)
            areas.append((auc, weight))
    total = sum(weight for _, weight in areas)
    if not areas or total == 0:
        return None
    return sum(auc * weight for auc, weight in areas) / total


def rank_auc(table: Crosstab, positive: int) -> float | None:
    """The AUC of the column's own order (bins or numbers), whichever direction is better."""
    cells = table.by_key()
    keys = sorted(key for key in cells if key not in (MISSING, OTHER) and not isinstance(key, str))
    groups = [
        (float(rank), cells[key][positive], sum(cells[key]) - cells[key][positive])
        for rank, key in enumerate(keys)
    ]
    auc = _auc(groups)
    return None if auc is None else max(auc, 1 - auc)


def crossfit_r2(table: Crosstab) -> float | None:
    """The cross-fitted R² of predicting a numeric target by its mean per key."""
    sse = 0.0
    sst = 0.0
    for fold in (0, 1):
        fit = table.by_key(1 - fold)
        judge = table.by_key(fold)
        fit_n = sum(cell[0] for cell in fit.values())
        judge_n = sum(cell[0] for cell in judge.values())
        if fit_n == 0 or judge_n == 0:
            continue
        prior = sum(cell[1] for cell in fit.values()) / fit_n
        means = {key: cell[1] / cell[0] for key, cell in fit.items() if cell[0] > 0}
        judge_mean = sum(cell[1] for cell in judge.values()) / judge_n
        for key, (n, s, s2) in judge.items():
            guess = means.get(key, prior)
            sse += s2 - 2 * guess * s + n * guess * guess
            sst += s2 - 2 * judge_mean * s + n * judge_mean * judge_mean
    if sst <= 0:
        return None
    return 1 - sse / sst


def _minority(class_counts: Sequence[float]) -> list[int]:
    total = sum(class_counts)
    return [i for i, count in enumerate(class_counts) if total and count / total <= 0.5]


def _pure(
    cell: Sequence[float], class_counts: Sequence[float], minority: Sequence[int]
) -> tuple[int, float] | None:
    """(class, rate) when `cell` is almost all one minority class, with support and lift."""
    support = sum(cell)
    total = sum(class_counts)
    if support < MIN_SUPPORT or total == 0:
        return None
    for index in minority:
        rate = cell[index] / support
        base = class_counts[index] / total
        if rate >= PURE_RATE and base > 0 and rate / base >= MIN_LIFT:
            return index, rate
    return None


def judge(
    candidate: Candidate,
    *,
    target: str,
    classes: tuple[Any, ...] | None,
) -> Verdict | None:
    """The first leakage rule a column meets, or None.

    The specific explanations (a field filled for one class only; one value implies a
    class) come before the general one (the column alone separates the classes).
    """
    table = candidate.table
    name = candidate.name
    if classes is None:
        r2 = crossfit_r2(table)
        if r2 is not None and r2 >= STRONG_R2:
            return Verdict(
                "strong",
                "error",
                f"{name} explains {target} almost entirely on its own (cross-validated R² = "
                f"{r2:.3f}): likely leakage; {_EXCLUDE_HINT}.",
                {"rule": "strong", "r2": r2},
            )
        return None
    cells = table.by_key()
    class_counts = [sum(cell[i] for cell in cells.values()) for i in range(len(classes))]
    total = sum(class_counts)
    if total == 0:
        return None
    weights = [count / total for count in class_counts]
    minority = _minority(class_counts)
    missing = list(cells.get(MISSING, (0.0,) * len(classes)))
    filled = [total_ - gap for total_, gap in zip(class_counts, missing, strict=True)]
    if sum(missing) > 0 and sum(filled) > 0:
        for state, side in (("present", filled), ("missing", missing)):
            pure = _pure(side, class_counts, minority)
            if pure is not None:
                index, rate = pure
                label = show(classes[index])
                return Verdict(
                    "presence",
                    "error",
                    f"{name} is {'filled' if state == 'present' else 'empty'} almost only when "
                    f"{target}={label} (P({target}={label} | {name} {state}) = {rate:.2f} over "
                    f"{int(sum(side))} rows): likely recorded after the outcome; "
                    f"{_EXCLUDE_HINT}.",
                    {
                        "rule": "presence",
                        "state": state,
                        "class": classes[index],
                        "rate": rate,
                        "support": int(sum(side)),
                    },
                )
    if candidate.categorical:
        for key, cell in sorted(cells.items(), key=lambda item: -sum(item[1])):
            if key in (MISSING, OTHER):
                continue
            pure = _pure(cell, class_counts, minority)
            if pure is not None:
                index, rate = pure
                label = show(classes[index])
                return Verdict(
                    "deterministic",
                    "error",
                    f"{name} predicts {target} almost perfectly (P({target}={label} | "
                    f"{name}={show(key)}) = {rate:.2f} over {int(sum(cell))} rows): likely "
                    f"leakage; {_EXCLUDE_HINT}.",
                    {
                        "rule": "deterministic",
                        "value": key,
                        "class": classes[index],
                        "rate": rate,
                        "support": int(sum(cell)),
                    },
                )
    present = [i for i, count in enumerate(class_counts) if count > 0]
    if len(present) >= 2:
        binary = len(classes) == 2
        scored = present[1:] if binary else present
        crossfit = [crossfit_auc(table, i) for i in scored]
        ranks = [rank_auc(table, i) if candidate.ordered else None for i in scored]
        best_crossfit = _weighted(crossfit, [weights[i] for i in scored])
        best_rank = _weighted(ranks, [weights[i] for i in scored])
        best = max((a for a in (best_crossfit, best_rank) if a is not None), default=None)
        if best is not None and best >= STRONG_AUC:
            return Verdict(
                "strong",
                "error",
                f"{name} predicts {target} almost perfectly on its own (single-feature ROC AUC "
                f"= {best:.3f}): likely leakage; {_EXCLUDE_HINT}.",
                {
                    "rule": "strong",
                    "auc": best,
                    "crossfit_auc": best_crossfit,
                    "rank_auc": best_rank,
                },
            )
    return None


def _weighted(values: Sequence[float | None], weights: Sequence[float]) -> float | None:
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None]
    total = sum(w for _, w in pairs)
    if not pairs or total == 0:
        return None
    return sum(v * w for v, w in pairs) / total


def siblings(
    candidates: Mapping[str, Candidate],
    verdicts: Mapping[str, Verdict],
    order: Sequence[str],
    *,
    target: str,
    classes: tuple[Any, ...] | None,
) -> dict[str, Verdict]:
    """Rare 0/1 flags in a block of adjacent flags where most of the block is leaky."""
    found: dict[str, Verdict] = {}
    if classes is None:
        return found
    blocks: list[list[str]] = [[]]
    for name in order:
        if name == target:
            continue
        candidate = candidates.get(name)
        if candidate is not None and candidate.flag:
            blocks[-1].append(name)
        elif blocks[-1]:
            blocks.append([])
    for block in blocks:
        leaky = [name for name in block if name in verdicts]
        if len(leaky) < 2 or 2 * len(leaky) < len(block):
            continue
        for name in block:
            candidate = candidates[name]
            if name in verdicts or not candidate.reported:
                continue
            found[name] = _sibling(candidate, leaky, target=target, classes=classes)
    return found


def _sibling(
    candidate: Candidate, leaky: list[str], *, target: str, classes: tuple[Any, ...]
) -> Verdict:
    cells = {key: cell for key, cell in candidate.table.by_key().items() if key != MISSING}
    rare_key = min(cells, key=lambda key: sum(cells[key]))
    rare = cells[rare_key]
    class_counts = [sum(cell[i] for cell in cells.values()) for i in range(len(classes))]
    minority = _minority(class_counts) or [len(classes) - 1]
    index = minority[-1] if len(classes) == 2 else minority[0]
    rate = rare[index] / sum(rare) if sum(rare) else 0.0
    label = show(classes[index])
    others = ", ".join(leaky)
    name = candidate.name
    return Verdict(
        "sibling",
        "warning",
        f"{name} looks like another outcome flag: a rare 0/1 column in one block with "
        f"{others}, which give {target} away, though on its own P({target}={label} | "
        f"{name}={show(rare_key)}) = {rate:.2f} over {int(sum(rare))} rows. Likely recorded "
        f"with the outcome (leakage): check it and {_EXCLUDE_HINT}.",
        {
            "rule": "sibling",
            "block": leaky,
            "value": rare_key,
            "class": classes[index],
            "rate": rate,
            "support": int(sum(rare)),
        },
    )


def leakage_findings(
    candidates: Mapping[str, Candidate],
    order: Sequence[str],
    *,
    target: str,
    classes: tuple[Any, ...] | None,
) -> list[Finding]:
    """A `leakage` finding for every reported column that meets a rule."""
    verdicts: dict[str, Verdict] = {}
    for name, candidate in candidates.items():
        verdict = judge(candidate, target=target, classes=classes)
        if verdict is not None:
            verdicts[name] = verdict
    verdicts.update(siblings(candidates, verdicts, order, target=target, classes=classes))
    findings: list[Finding] = []
    for name in order:
        verdict = verdicts.get(name)
        if verdict is None or not candidates[name].reported:
            continue
        findings.append(
            Finding(
                kind="leakage",
                severity="error" if verdict.severity == "error" else "warning",
                column=name,
                message=verdict.message,
                details=verdict.details,
            )
        )
    return findings
