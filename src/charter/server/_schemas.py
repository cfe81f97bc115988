"""Response shapes, for the OpenAPI document only: handlers build plain dicts (orjson)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Prediction(_Doc):
    """One record's prediction."""

    prediction: Any = Field(description="The predicted class (classification) or value.")
    probabilities: dict[str, float] | None = Field(
        default=None, description="Class probabilities, keyed by class (classification only)."
    )
    prediction_id: str = Field(description="Quote it when posting feedback (uuid4, hex).")
    model_version: int
    id: Any = Field(default=None, description="The record's id column, when it was given.")
    contributions: dict[str, float] | None = Field(
        default=None,
        description="Per-feature contributions (?explain=true), null when the model has none.",
    )


class Predictions(_Doc):
    """The cloud platforms' shape: one prediction per instance."""

    predictions: list[Prediction]


class ErrorItem(_Doc):
    loc: list[int | str]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error: what is wrong, where (record index and field), and a type."""

    model_config = ConfigDict(extra="allow")
    detail: list[ErrorItem]


class FeedbackIn(_Doc):
    prediction_id: str = Field(min_length=1, max_length=200)
    label: Any = Field(description="The true label: one of the target's classes, or a number.")


class FeedbackOut(_Doc):
    prediction_id: str
    status: Literal["created", "duplicate"]


class Health(_Doc):
    status: Literal["ok"]


class Ready(_Doc):
    status: Literal["ready", "not ready"]
    model_version: int | None = None
    predictor: str | None = None
    reasons: list[str] = Field(default_factory=list)


class InputSchema(BaseModel):
    """The input contract of the model being served."""

    model_config = ConfigDict(extra="allow")
    project: str
    model_version: int | None
    task: str
    target: str
    classes: list[Any]
    features: list[str]
    fields: dict[str, dict[str, Any]]
