"""NetModel: a converted multi-layer perceptron and its exact host reference.

``weights="float32"``: the float32 arithmetic of :mod:`.float32`. ``weights="int8"``: the
integer network of :mod:`.int8`. Either way ``scores`` is what the device returns, bit for
bit: float32 logits or int32 accumulators of the last layer.
"""
from dataclasses import dataclass, field

import numpy as np

from ..protocol import register
from ..rows import as_rows, finite_float32
from . import float32 as _f32
from .int8 import Int8Net, forward_int8

__all__ = ["NetModel", "DenseLayer"]

OUTPUTS = ("softmax", "sigmoid", "linear", "relu")


@dataclass(eq=False)
class DenseLayer:
    weights: np.ndarray    # float32 (n_in, n_out)
    bias: np.ndarray       # float32 (n_out,)
    activation: str        # hidden: linear/relu/sigmoid/tanh; last: see NetModel.output

    @property
    def n_in(self) -> int:
        return self.weights.shape[0]

    @property
    def n_out(self) -> int:
        return self.weights.shape[1]


@register
@dataclass(eq=False)
class NetModel:
    """A Dense-layer network (classifier or regressor) with exact float32 or int8 inference.

    Attributes
    ----------
    kind : {"classifier", "regressor"}
    layers : list of DenseLayer
    output : {"softmax", "sigmoid", "linear", "relu"}
        The last layer's activation. Classifiers: scores are logits, the class is the first
        maximum (softmax) or logit > 0 (one sigmoid output). Regressors: linear or relu.
    classes_ : ndarray or None
    int8 : Int8Net or None
        Present for ``weights="int8"``.
    """

    kind: str
    layers: list
    output: str
    classes_: np.ndarray | None = None
    int8: Int8Net | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    features = "float32"      # the device takes raw float32 rows, for both weight types
    device_forms = ("loadable",)

    @property
    def weights(self) -> str:
        return "float32" if self.int8 is None else "int8"

    @property
    def n_features(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def n_weights(self) -> int:
        return sum(layer.weights.size for layer in self.layers)

    @property
    def n_macs(self) -> int:
        """Multiply-accumulates per predict (the work of one row)."""
        return self.n_weights

    @property
    def size_bytes(self) -> int:
        """Exact bytes of the model file sent to the device."""
        from .netfile import to_bytes
        return len(to_bytes(self))

    @property
    def score_dtype(self):
        return np.dtype("<f4") if self.int8 is None else np.dtype("<i4")

    # -- host reference ------------------------------------------------------------------
    def check_X(self, X) -> np.ndarray:
        """Validate features and return them as float32 (what the device receives)."""
        X = as_rows(X, self.n_features, f"The network's first layer takes {self.n_features} "
                    "inputs.")
        return finite_float32(X, "NaN has no meaning to the network")

    def scores(self, X) -> np.ndarray:
        """What the device returns: float32 logits (float weights) or int32 accumulators (int8
        weights) of the last layer; regressors with a relu output get it applied."""
        X32 = self.check_X(X)
        # IEEE semantics whatever numpy's global error state (overflow to inf is what the
        # device computes too).
        with np.errstate(all="ignore"):
            return self._scores(X32)

    def _scores(self, X32):
        if self.int8 is not None:
            s = forward_int8(self.int8, X32)
            return np.maximum(s, 0) if self.output == "relu" else s
        a = X32
        for layer in self.layers[:-1]:
            a = _f32.activate(_f32.dense(a, layer.weights, layer.bias), layer.activation)
        last = self.layers[-1]
        z = _f32.dense(a, last.weights, last.bias)
        return _f32.activate(z, "relu") if self.output == "relu" else z

    def _real_scores(self, X) -> np.ndarray:
        s = self.scores(X).astype(np.float64)
        return s if self.int8 is None else np.ldexp(s, -self.int8.output_shift)

    def values(self, scores) -> np.ndarray:
        """Regressor output(s) from scores (as the device returns them)."""
        s = np.asarray(scores).astype(np.float64)
        if self.int8 is not None:
            s = np.ldexp(s, -self.int8.output_shift)
        return s[:, 0] if self.n_outputs == 1 else s

    def predict_index(self, X) -> np.ndarray:
        """Class index (first maximum; one sigmoid output: logit > 0) or the raw scores."""
        s = self.scores(X)
        if self.kind != "classifier":
            return s
        if self.n_outputs == 1:
            return (s[:, 0] > 0).astype(np.int64)
        # First maximum by "greater than" comparisons, as the device and C do: a NaN score
        # (inf - inf from features near the float32 limit) is never greater, so it is
        # skipped, or kept when it is first (numpy.argmax would pick the NaN).
        best = np.zeros(len(s), dtype=np.int64)
        rows = np.arange(len(s))
        for j in range(1, self.n_outputs):
            best[s[:, j] > s[rows, best]] = j
        return best

    def predict_proba(self, X) -> np.ndarray:
        if self.kind != "classifier":
            raise AttributeError("predict_proba is only available for classifiers")
        z = self._real_scores(X)
        with np.errstate(all="ignore"):
            if self.n_outputs == 1:
                p = 1.0 / (1.0 + np.exp(-z[:, 0]))
                return np.column_stack([1.0 - p, p])
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        if self.kind == "classifier":
            return self.classes_[self.predict_index(X)]
        return self.values(self.scores(X))


    # -- the Model protocol's device and board parts (emlearn_lab.protocol) ----------------
    def decode(self, index, scores) -> np.ndarray:
        """What predict returns, from the class indices or scores the device wrote."""
        if self.kind == "classifier":
            return self.classes_[index]
        return self.values(scores)

    def device_plan(self, form: str, target, name: str, heap_free_bytes: int) -> tuple:
        from .deployment import device_plan
        return device_plan(self, form, target, name, heap_free_bytes)

    def device_remedy(self, form: str) -> str:
        from .deployment import device_remedy
        return device_remedy(self, form)

    def pipeline_input_error(self) -> str | None:
        return None  # float32 rows, as the extractors' features are

    def board_estimate(self, board, form: str, bundle, X=None):
        from .deployment import board_estimate
        return board_estimate(self, board, form, bundle, X)

    def compare(self, source, X) -> dict:
        """How this conversion agrees with the model it came from (a Keras model or a fitted
        scikit-learn MLP) on rows X: ``class_agreement`` (classifiers: share of rows with the
        same predicted class) and ``max_output_error`` (largest absolute difference of the
        probabilities, or of the values for regressors)."""
        X32 = self.check_X(X)
        if hasattr(source, "predict_proba") or hasattr(source, "coefs_"):
            theirs = (source.predict_proba(X32) if self.kind == "classifier"
                      else source.predict(X32))
        else:                                   # Keras: predict gives the last activation
            theirs = np.asarray(source.predict(X32, verbose=0), dtype=np.float64)
        theirs = np.asarray(theirs, dtype=np.float64)
        if self.kind != "classifier":
            ours = self.predict(X32).reshape(theirs.shape)
            return {"max_output_error": float(np.abs(ours - theirs).max(initial=0.0))}
        if theirs.ndim == 1 or theirs.shape[1] == 1:     # one sigmoid output
            p = theirs.reshape(-1)
            theirs = np.column_stack([1.0 - p, p])
        ours = self.predict_proba(X32)
        return {"class_agreement": float(np.mean(ours.argmax(axis=1)
                                                 == theirs.argmax(axis=1))),
                "max_output_error": float(np.abs(ours - theirs).max(initial=0.0))}

    def __repr__(self) -> str:
        widths = "-".join(str(n) for n in [self.n_features] + [la.n_out for la in self.layers])
        acts = ",".join(la.activation for la in self.layers[:-1]) or "none"
        return (f"NetModel({self.kind}, {widths}, hidden {acts}, output {self.output}, "
                f"{self.weights} weights, {self.n_weights} weights, from "
                f"{self.source or 'unknown'})")
