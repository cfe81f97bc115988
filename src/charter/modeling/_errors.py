"""The errors the modeling package raises on purpose; each message is one user-facing sentence."""

from __future__ import annotations

from charter.errors import CharterError


class ModelingError(CharterError):
    """Training, using or validating a model failed for a reason the user can act on."""


class TrainingError(ModelingError):
    """The search cannot run or finish: unusable data, a budget too small, every trial failed."""


class CandidateError(TrainingError):
    """A candidate in `model.candidates` that cannot be used.

    Unknown, unfit for the task, or a custom `module:function` that does not return a
    scikit-learn-compatible estimator.
    """


class FeatureError(ModelingError):
    """A frame handed to a fitted model lacks a feature column the model was trained on."""


class ModelFormatError(ModelingError):
    """Bytes that are not a charter model, or one saved in another format version."""
