"""What the server needs from the predictor, the prediction log and the feedback store.

The real implementations live in `charter.serving`; anything with these shapes works
(tests use small ones).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class PredictionBatch(Protocol):
    """Predictions for a list of records: labels and probabilities, or values."""

    @property
    def labels(self) -> Any: ...

    @property
    def probabilities(self) -> Any: ...

    @property
    def values(self) -> Any: ...


class Predictor(Protocol):
    """A compiled model: validated, coerced records in, predictions out."""

    @property
    def kind(self) -> str: ...

    @property
    def features(self) -> Sequence[str]: ...

    @property
    def classes(self) -> Sequence[Any]: ...

    @property
    def task(self) -> str: ...

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> PredictionBatch: ...

    def explain_records(
        self, records: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, float]] | None: ...


class PredictionLog(Protocol):
    """An append-only log of answered predictions."""

    def submit(self, records: list[dict[str, Any]]) -> concurrent.futures.Future[None]: ...

    def close(self) -> None: ...

    def stats(self) -> Any: ...


class FeedbackStore(Protocol):
    """Idempotent true labels, keyed by prediction id."""

    def record(self, prediction_id: str, label: Any) -> str: ...
