"""Extractor: the scikit-learn face of a device feature module.

Each extractor's arithmetic lives in one MicroPython source under emlearn_lab/device_src
(``emlfx_<name>.py``). On the host, CPython imports that very file and runs it window by
window; on the device, mpy-cross compiles it. The transformer here only validates windows,
learns the input scaling, and describes the device object as a JSON-able spec.
"""
import array
import importlib
import math

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..exceptions import InputError, NotFittedError

__all__ = ["Extractor", "as_windows", "input_shifts"]

MAX_SAMPLES = 16384        # per window: keeps the device's int32 sums exact
MAX_CHANNELS = 64
HEADROOM = 16384           # float input: the training maximum maps to at most half of int16


def as_windows(X, who: str) -> np.ndarray:
    """X as a 3-D (n_windows, n_samples, n_channels) array of int16 or float32. 2-D X is one
    channel per window; an eml.windows() result is taken by its .X."""
    X = getattr(X, "X", X)
    try:
        X = np.asarray(X)
    except Exception as e:
        raise InputError(f"{who}: windows must be array-like of numbers: {e}") from None
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise InputError(f"{who}: expected windows of shape (n_windows, n_samples, "
                         f"n_channels), e.g. eml.windows(...).X, got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise InputError(f"{who}: windows must hold integers or floats, got dtype {X.dtype}")
    if X.shape[1] > MAX_SAMPLES or X.shape[2] > MAX_CHANNELS:
        raise InputError(f"{who}: windows of at most {MAX_SAMPLES} samples and "
                         f"{MAX_CHANNELS} channels, got {X.shape[1]} x {X.shape[2]}: "
                         "use a shorter window_s")
    if np.issubdtype(X.dtype, np.integer):
        if X.size and (X.min() < -32768 or X.max() > 32767):
            return _finite(X.astype(np.float32), who)
        return X.astype(np.int16, copy=False)
    return _finite(X, who)


def _finite(X: np.ndarray, who: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        X32 = X.astype(np.float32, copy=False)
    bad = ~np.isfinite(X32)
    if bad.any():
        w, s, c = np.argwhere(bad)[0]
        raise InputError(f"{who}: windows contain {int(bad.sum())} NaN/inf value(s), first in "
                         f"window {w} at sample {s}, channel {c}: fill the gaps in the "
                         "recording, or crop or leave them unlabelled so eml.windows drops them")
    return X32


def input_shifts(X: np.ndarray) -> list:
    """Per channel, the largest power-of-two scale 2**k (k in [-48, 48]) that maps the
    channel's largest magnitude in X to at most HEADROOM (half of int16: room for louder
    data on the device, which saturates beyond int16)."""
    peak = np.abs(X).max(axis=(0, 1)) if X.size else np.zeros(X.shape[2])
    shifts = []
    for p in peak.astype(np.float64):
        k = 0 if p == 0 else math.floor(math.log2(HEADROOM / p))
        while k > -48 and p * 2.0 ** k > HEADROOM:    # log2 rounding at the boundary
            k -= 1
        shifts.append(int(min(max(k, -48), 48)))
    return shifts


class Extractor(TransformerMixin, BaseEstimator):
    """Base of the portable feature extractors (see eml.features).

    Subclasses set ``_module`` / ``_class`` (the device source and class), and implement
    ``_params(n_samples, n_channels)`` (the extractor's own spec fields, validated on the
    host with clear messages) and ``_names()`` (feature names, after fit).
    """
    _module = ""
    _class = ""

    def fit(self, X, y=None):
        """Learn the window shape and the input scaling of float windows.

        Parameters
        ----------
        X : array of shape (n_windows, n_samples, n_channels), or eml.windows(...)
            int16 windows are used as they are; float windows are quantised per channel
            to int16 by a power of two learned here (``input_shifts_``).
        y : ignored

        Returns
        -------
        self
        """
        who = type(self).__name__
        rate = getattr(X, "samplerate_hz", None)
        X = as_windows(X, who)
        # Learned state is assigned only once everything is valid: a failed refit leaves
        # the previous fit intact.
        state = {"window_samplerate_hz_": rate, "n_samples_": X.shape[1],
                 "n_channels_": X.shape[2], "input_dtype_": "h" if X.dtype == np.int16 else "f"}
        state["input_shifts_"] = input_shifts(X) if state["input_dtype_"] == "f" else None
        params = {"n_samples": X.shape[1], "n_channels": X.shape[2],
                  "dtype": state["input_dtype_"]}
        if state["input_shifts_"] is not None:
            params["shifts"] = state["input_shifts_"]
        previous = {k: getattr(self, k) for k in state if hasattr(self, k)}
        self.__dict__.update(state)           # _params may read them (e.g. the rate)
        try:
            params.update(self._params(X.shape[1], X.shape[2]))
            spec = {"module": self._module, "cls": self._class, "params": params}
            device = self._build(spec)
        except Exception:
            for k in state:
                self.__dict__.pop(k, None)
            self.__dict__.update(previous)
            raise
        self.spec_, self._device = spec, device
        self.n_features_out_ = device.n_features
        return self

    def _build(self, spec: dict | None = None):
        """A new device-side extractor object (from the fitted spec by default)."""
        spec = self.spec_ if spec is None else spec
        module = importlib.import_module("emlearn_lab.device_src." + spec["module"])
        return getattr(module, spec["cls"])(spec["params"])

    def transform(self, X) -> np.ndarray:
        """Features of each window, computed by the device source running in CPython.

        Returns
        -------
        ndarray of int32, shape (n_windows, n_features_out_)
        """
        self._require_fit()
        X = self.check_windows(X)
        out = np.empty((len(X), self.n_features_out_), dtype=np.int32)
        row = array.array("i", bytes(4 * self.n_features_out_))
        device = self._device
        for i in range(len(X)):
            device.transform(X[i].reshape(-1), row)
            out[i] = row
        return out

    def check_windows(self, X) -> np.ndarray:
        """X validated against what fit saw, in the dtype the device reads (int16/float32)."""
        who = type(self).__name__
        X = as_windows(X, who)
        fitted = (self.n_samples_, self.n_channels_)
        if X.shape[1:] != fitted:
            raise InputError(
                f"{who} was fitted on windows of {fitted[0]} samples x {fitted[1]} channels, "
                f"got {X.shape[1]} x {X.shape[2]}: make the windows with the same window_s, "
                "sample rate and channels as the training data")
        if self.input_dtype_ == "h" and X.dtype != np.int16:
            raise InputError(f"{who} was fitted on int16 windows (raw sensor counts), got "
                             f"{X.dtype}: pass the same raw integer samples the device reads")
        if self.input_dtype_ == "f":
            X = X.astype(np.float32, copy=False)
        return np.ascontiguousarray(X)

    def quantise(self, X) -> np.ndarray:
        """The int16 windows the extractor computes on (float windows: round(x * 2**shift)
        half to even, saturated), as the device computes them."""
        self._require_fit()
        X = self.check_windows(X)
        if self.input_dtype_ == "h":
            return X
        with np.errstate(over="ignore"):
            scaled = X.astype(np.float64) * np.exp2(self.input_shifts_)
        return np.clip(np.round(scaled), -32768, 32767).astype(np.int16)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        self._require_fit()
        return np.asarray(self._names(), dtype=object)

    def device_spec(self) -> dict:
        """The JSON-able description the device builds this extractor from."""
        self._require_fit()
        return {"module": self._module, "cls": self._class,
                "params": dict(self.spec_["params"])}

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_device", None)           # rebuilt from spec_ on unpickling
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "spec_" in state:
            self._device = self._build(state["spec_"])

    def _require_fit(self) -> None:
        if not hasattr(self, "spec_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call "
                                 "fit(windows) first (or fit the Pipeline it is in)")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "spec_")

    def _samplerate_hz(self) -> float:
        """The samplerate_hz parameter, else the rate of the eml.windows() given to fit."""
        rate = getattr(self, "samplerate_hz", None) or self.window_samplerate_hz_
        if rate is None or not rate > 0:
            raise InputError(f"{type(self).__name__} needs the sample rate: pass "
                             "samplerate_hz=..., or fit it on eml.windows(...) itself")
        return float(rate)

    def _params(self, n_samples: int, n_channels: int) -> dict:
        raise NotImplementedError

    def _names(self) -> list:
        raise NotImplementedError
