"""The seam between kinds of model and what uses them: deploy, the live comparison, estimates.

A kind of model (trees, networks, ...) is a class that implements :class:`Model` and is
registered with :func:`register`. Everything in ``device/``, ``live/`` and ``board_fit/`` talks to
a model through this protocol only, so adding a kind touches none of them: write the class
(prediction on the host, the files a device needs, the board estimate), decorate it with
``@register``, and let ``eml.convert`` build it from the estimators it stands for.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from .board_fit.estimate import Estimate
    from .board_fit.table import Board
    from .runtime.artifacts import Bundle
    from .runtime.build import Target

__all__ = ["Model", "register", "model_types", "is_model"]


@runtime_checkable
class Model(Protocol):
    """What a kind of model provides. TreeModel and NetModel are the reference implementations.

    Prediction (host reference, exact: the device must compute the same bits)
        ``kind`` ("classifier" or "regressor"), ``n_features``, ``n_outputs``, ``classes_``
        (classifiers), ``score_dtype`` (the dtype of one score as the device writes it),
        ``check_X``, ``scores``, ``predict_index``, ``decode``.
    Deployment
        ``device_forms`` (the forms ``form=`` may name besides "auto"), ``device_plan``,
        ``device_remedy``, ``pipeline_input_error``.
    Estimates
        ``board_estimate``.
    """

    kind: str
    n_features: int
    device_forms: tuple

    @property
    def n_outputs(self) -> int: ...

    @property
    def score_dtype(self) -> np.dtype: ...

    def check_X(self, X) -> np.ndarray:
        """Rows as the device reads them (validated, the device's dtype), or InputError."""

    def scores(self, X) -> np.ndarray:
        """Per-row scores, shape (n, n_outputs), bit for bit what the device writes."""

    def predict_index(self, X) -> np.ndarray:
        """Classifiers: the index into ``classes_`` the device picks for each row."""

    def decode(self, index: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """What ``predict`` returns, from the class indices (classifiers) or the scores
        (regressors) that the device wrote."""

    def device_plan(self, form: str, target: Target, name: str,
                    heap_free_bytes: int) -> tuple[str, Bundle]:
        """(chosen form, Bundle of files and load call) for a device target; "auto" chooses
        with the free heap. InputError for a form this kind or target cannot take."""

    def device_remedy(self, form: str) -> str:
        """What to change when the model does not fit a device (one sentence, no period)."""

    def pipeline_input_error(self) -> str | None:
        """Why the model cannot follow feature extractors on the device, or None."""

    def board_estimate(self, board: Board, form: str, bundle: Bundle, X=None) -> Estimate:
        """Flash, RAM and latency on a board, for the plan ``(form, bundle)``."""


_TYPES: list = []


def register(cls: type) -> type:
    """Class decorator: ``cls`` is a kind of model (see :class:`Model`)."""
    missing = [name for name in ("check_X", "scores", "predict_index", "decode", "device_plan",
                                 "device_remedy", "pipeline_input_error", "board_estimate",
                                 "device_forms", "n_outputs", "score_dtype")
               if not hasattr(cls, name)]
    if missing:
        raise TypeError(f"{cls.__name__} does not implement the Model protocol: it lacks "
                        f"{', '.join(missing)}")
    if cls not in _TYPES:
        _TYPES.append(cls)
    return cls


# The modules whose import registers the built-in kinds.
KIND_MODULES = (".trees.model", ".nets.model", ".anomaly.isolation", ".gauss.model",
                ".neighbors.model")


def model_types() -> tuple:
    """The registered model classes (the built-in kinds are registered on first use)."""
    for name in KIND_MODULES:
        import_module(name, __package__)
    return tuple(_TYPES)


def is_model(obj) -> bool:
    """Whether ``obj`` is an instance of a registered kind of model."""
    return isinstance(obj, model_types())
