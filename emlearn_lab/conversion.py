"""eml.convert: any supported estimator -> an emlearn_lab model with a host reference."""
from importlib import import_module

from .exceptions import UnsupportedModelError
from .nets.convert import convert_net, is_network
from .protocol import is_model
from .trees.convert import convert_trees, is_tree_estimator

__all__ = ["convert", "convertible"]

# Kinds of model beyond trees and networks: modules with ``accepts(estimator) -> bool`` (by
# class name, importing nothing heavy) and ``convert(estimator, features=...)``.
FAMILIES = (".anomaly.isolation", ".gauss.convert", ".neighbors.convert")

# Estimators people reach for that no family converts: the nearest supported alternative.
NEAREST = {
    "OneClassSVM": "EllipticEnvelope (a Gaussian boundary) or IsolationForest",
    "SGDOneClassSVM": "EllipticEnvelope (a Gaussian boundary) or IsolationForest",
    "LocalOutlierFactor": "IsolationForest, or KNeighborsRegressor on distances",
    "MinCovDet": "EllipticEnvelope (MinCovDet's robust fit with a threshold)",
    "EmpiricalCovariance": "EllipticEnvelope",
    "KMeans": "GaussianMixture(covariance_type='spherical')",
    "MiniBatchKMeans": "GaussianMixture(covariance_type='spherical')",
    "RadiusNeighborsClassifier": "KNeighborsClassifier",
    "RadiusNeighborsRegressor": "KNeighborsRegressor",
    "NearestNeighbors": "KNeighborsClassifier",
    "NearestCentroid": "KNeighborsClassifier(n_neighbors=1)",
    "GradientBoostingClassifier": "RandomForestClassifier or ExtraTreesClassifier",
    "GradientBoostingRegressor": "RandomForestRegressor or ExtraTreesRegressor",
    "HistGradientBoostingClassifier": "RandomForestClassifier or ExtraTreesClassifier",
    "HistGradientBoostingRegressor": "RandomForestRegressor or ExtraTreesRegressor",
}


def _family(estimator):
    for name in FAMILIES:
        module = import_module(name, __package__)
        if module.accepts(estimator):
            return module
    return None


def convertible(obj) -> bool:
    """Whether :func:`convert` takes ``obj``: a model, an estimator wrapping one in ``model_``
    (a fitted CompressedTrees), or an estimator of a kind it converts (fitted or not)."""
    return (is_model(obj) or is_model(getattr(obj, "model_", None)) or is_network(obj)
            or is_tree_estimator(obj) or _family(obj) is not None)


def convert(estimator, *, features: str = "float32", weights: str | None = None,
            X_calib=None, classes=None):
    """Convert a fitted estimator into a model that runs exactly alike on host and device.

    Parameters
    ----------
    estimator : fitted scikit-learn DecisionTree*, RandomForest*, ExtraTree(s)* (classifier
        or regressor), MLPClassifier / MLPRegressor, a Keras 3 ``Sequential`` model of Dense
        layers (activations linear, relu, sigmoid, tanh; softmax last), an anomaly detector
        (IsolationForest, GaussianMixture, BayesianGaussianMixture, EllipticEnvelope: see
        :mod:`emlearn_lab.anomaly`), KNeighborsClassifier / KNeighborsRegressor (euclidean or
        manhattan, uniform or distance weights; ``dev.learn`` adds examples on the device),
        or an existing model (returned as is).
    features : {"float32", "int16"}
        Trees and neighbours: how features reach the device. "float32" predicts exactly what
        scikit-learn predicts for float32 input (trees; neighbours up to ties); "int16"
        expects whole-number features and compares integers. Detectors take float32.
    weights : {"float32", "int8"}, optional
        Networks: "float32" (default) computes in float32, one rounded operation at a time;
        "int8" quantises weights to int8 with int32 accumulation (needs ``X_calib``).
    X_calib : array-like, optional
        Networks with ``weights="int8"``: training rows that set the int8 scales.
    classes : sequence, optional
        Networks: class labels, making the network a classifier (first maximum of the
        outputs; one output: logit > 0). Default: scikit-learn's ``classes_``; for Keras,
        classifier when the last activation is softmax (or one sigmoid output).

    Returns
    -------
    TreeModel, NetModel, IsolationModel, GaussModel or KNNModel
        ``predict`` and ``scores`` on the host compute what the device computes, bit for
        bit (detectors: ``score_samples``, ``decision_function`` and ``threshold`` too).

    Raises
    ------
    NotFittedError
        The estimator has not been fitted.
    UnsupportedModelError
        Not a supported estimator, multi-output, or an unknown ``features`` value.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> import emlearn_lab as eml
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    >>> model = eml.convert(clf)
    >>> bool((model.predict(X) == clf.predict(X.astype("float32"))).all())
    True
    """
    if is_model(estimator):
        return estimator
    if is_model(getattr(estimator, "model_", None)):
        return estimator.model_             # a fitted eml.CompressedTrees: its exact model
    if is_network(estimator):
        if features != "float32":
            raise UnsupportedModelError("features= applies to trees; networks take float32 "
                                        "features (use weights='int8' to quantise)")
        return convert_net(estimator, weights=weights or "float32", X_calib=X_calib,
                           classes=classes)
    if weights is not None or X_calib is not None or classes is not None:
        raise UnsupportedModelError("weights=, X_calib= and classes= apply to networks; for "
                                    "trees see eml.compress(..., X_calib=...)")
    if is_tree_estimator(estimator):
        return convert_trees(estimator, features=features)
    family = _family(estimator)
    if family is not None:
        return family.convert(estimator, features=features)
    if hasattr(estimator, "steps"):
        raise UnsupportedModelError(
            "a Pipeline is not one model: Pipeline(eml.features extractor, model) deploys as "
            "it is (dev.deploy(pipe, windows), eml.estimate(pipe, board)); otherwise convert "
            "the final estimator and send the features it takes")
    name = type(estimator).__name__
    if name in NEAREST:
        raise UnsupportedModelError(f"{name} is not supported yet; the nearest supported "
                                    f"estimator is {NEAREST[name]}")
    if not hasattr(estimator, "fit"):
        raise UnsupportedModelError(f"expected a fitted scikit-learn estimator, got {name}")
    raise UnsupportedModelError(
        f"cannot convert {name}: supported are DecisionTree, RandomForest and ExtraTrees "
        "classifiers and regressors, MLPClassifier/MLPRegressor, Keras Sequential, "
        "IsolationForest, GaussianMixture, BayesianGaussianMixture, EllipticEnvelope and "
        "KNeighborsClassifier/Regressor")


