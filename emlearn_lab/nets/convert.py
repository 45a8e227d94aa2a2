"""scikit-learn MLPClassifier/MLPRegressor and Keras 3 Sequential Dense models -> NetModel."""
import numpy as np

from ..exceptions import InputError, NotFittedError, UnsupportedModelError
from ..validate import invalid, one_of
from .int8 import MAX_INPUTS, quantise_net
from .model import DenseLayer, NetModel

__all__ = ["convert_net", "is_network"]

_SKLEARN_ACTIVATIONS = {"identity": "linear", "relu": "relu", "logistic": "sigmoid",
                        "tanh": "tanh", "softmax": "softmax"}
_KERAS_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
_KERAS_PASSTHROUGH = ("InputLayer", "Dropout", "GaussianNoise", "GaussianDropout",
                      "AlphaDropout", "ActivityRegularization")


def _is_keras(obj) -> bool:
    return any(c.__module__.startswith("keras") for c in type(obj).__mro__)


def is_network(estimator) -> bool:
    name = type(estimator).__name__
    return name in ("MLPClassifier", "MLPRegressor") or _is_keras(estimator)


def convert_net(estimator, *, weights="float32", X_calib=None, classes=None) -> NetModel:
    """Convert a network; see :func:`emlearn_lab.conversion` for the parameters."""
    one_of("weights", weights, ("float32", "int8"), owner="eml.convert")
    if _is_keras(estimator):
        layers, output, source = _from_keras(estimator)
    else:
        layers, output, source = _from_sklearn(estimator)
    kind, classes_ = _task(estimator, output, layers[-1].n_out, classes)
    if output == "softmax" and layers[-1].n_out == 1:
        raise UnsupportedModelError("a softmax over one output is constant; use sigmoid for "
                                    "a binary classifier")
    if kind == "regressor" and output not in ("linear", "relu"):
        raise UnsupportedModelError(
            f"{source}: a regressor's last activation must be linear or relu, got {output!r}; "
            "pass classes=[...] if this network is a classifier")
    for i, layer in enumerate(layers):
        if layer.n_in > MAX_INPUTS:
            raise UnsupportedModelError(f"layer {i} has {layer.n_in} inputs; at most "
                                        f"{MAX_INPUTS} fit the device's int32 accumulator")
    model = NetModel(kind=kind, layers=layers, output=output, classes_=classes_,
                     source=source)
    if weights == "int8":
        if X_calib is None:
            raise invalid("X_calib", X_calib, "rows of training features when weights='int8'",
                          owner="eml.convert", remedy="They set the int8 scales: pass e.g. "
                                                      "X_calib=X_train.")
        model.int8 = quantise_net([(la.weights, la.bias, la.activation) for la in layers],
                                  X_calib)
    elif X_calib is not None:
        raise invalid("X_calib", X_calib, "None unless weights='int8'", owner="eml.convert",
                      remedy="It calibrates int8 weights; float32 weights need none.")
    return model


def _task(estimator, output, n_out, classes):
    if classes is not None:
        classes = np.asarray(classes)
        want = 2 if n_out == 1 else n_out
        if classes.ndim != 1 or len(classes) != want:
            raise invalid("classes", classes.tolist(), f"{want} labels, one per class, for "
                          f"{n_out} output(s)", owner="eml.convert")
        return "classifier", classes
    if hasattr(estimator, "classes_"):
        return "classifier", np.asarray(estimator.classes_)
    if type(estimator).__name__ == "MLPRegressor":
        return "regressor", None
    if output == "softmax":
        return "classifier", np.arange(n_out)
    if output == "sigmoid" and n_out == 1:
        return "classifier", np.arange(2)
    return "regressor", None


def _layer(weights, bias, activation) -> DenseLayer:
    w = np.asarray(weights, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64)
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise InputError("the network has NaN/inf weights: training diverged; lower the "
                         "learning rate or scale the inputs and train again")
    with np.errstate(under="ignore"):     # tiny weights become float32 subnormals or 0
        return DenseLayer(w.astype(np.float32), b.astype(np.float32), activation)


def _from_sklearn(est):
    name = type(est).__name__
    if name not in ("MLPClassifier", "MLPRegressor"):
        raise UnsupportedModelError(f"cannot convert {name} as a network")
    if not hasattr(est, "coefs_"):
        raise NotFittedError(f"this {name} is not fitted yet: call fit(X, y) first")
    if name == "MLPClassifier" and est.out_activation_ == "logistic" and est.n_outputs_ > 1:
        raise UnsupportedModelError("multi-label MLPClassifier (one sigmoid per label) is not "
                                    "supported; train one classifier per label")
    hidden = _SKLEARN_ACTIVATIONS[est.activation]
    acts = [hidden] * (len(est.coefs_) - 1) + [_SKLEARN_ACTIVATIONS[est.out_activation_]]
    layers = [_layer(w, b, a) for w, b, a in zip(est.coefs_, est.intercepts_, acts)]
    return layers, acts[-1], f"scikit-learn {name}"


def _from_keras(model):
    name = type(model).__name__
    if name != "Sequential":
        raise UnsupportedModelError(
            f"cannot convert a Keras {name}: only keras.Sequential models of Dense layers "
            "are supported (rebuild it as Sequential)")
    if not model.built:
        raise NotFittedError("this Keras model is not built: give it an Input shape or call "
                             "it on data first")
    layers = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in _KERAS_PASSTHROUGH:
            continue
        if kind == "Flatten" and len(layer.input.shape) == 2:
            continue
        if kind == "Activation":
            act = _keras_activation(layer, layer.get_config()["activation"])
            if not layers or layers[-1].activation != "linear":
                raise UnsupportedModelError(f"layer '{layer.name}' (Activation) must follow a "
                                            "Dense layer with a linear activation")
            layers[-1].activation = act
            continue
        if kind != "Dense":
            raise UnsupportedModelError(
                f"layer '{layer.name}' ({kind}) is not supported: networks may have Dense, "
                "Activation and Dropout layers only")
        cfg = layer.get_config()
        act = _keras_activation(layer, cfg["activation"])
        params = layer.get_weights()
        w = params[0]
        b = params[1] if cfg.get("use_bias", True) else np.zeros(w.shape[1])
        layers.append(_layer(w, b, act))
    if not layers:
        raise UnsupportedModelError("the Keras model has no Dense layer")
    for i, la in enumerate(layers[:-1]):
        if la.activation == "softmax":
            raise UnsupportedModelError(f"softmax is only supported on the last layer "
                                        f"(found on Dense layer {i})")
    return layers, layers[-1].activation, "Keras Sequential"


def _keras_activation(layer, activation) -> str:
    if isinstance(activation, dict):     # serialised activation object
        activation = activation.get("config", {}).get("name", activation.get("class_name"))
    if not isinstance(activation, str):
        activation = getattr(activation, "__name__", repr(activation))
    if activation not in _KERAS_ACTIVATIONS:
        raise UnsupportedModelError(
            f"layer '{layer.name}': activation {activation!r} is not supported; use one of "
            f"{', '.join(_KERAS_ACTIVATIONS)}")
    return activation
