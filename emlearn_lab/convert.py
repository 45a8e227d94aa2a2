"""eml.convert: any supported estimator -> an emlearn_lab model with a host reference."""
from .exceptions import UnsupportedModelError
from .trees.convert import convert_trees, is_tree_estimator
from .trees.model import TreeModel

__all__ = ["convert"]


def convert(estimator, *, features: str = "float32") -> TreeModel:
    """Convert a fitted estimator into a model that runs exactly alike on host and device.

    Parameters
    ----------
    estimator : fitted scikit-learn DecisionTree*, RandomForest*, ExtraTree(s)* (classifier
        or regressor), or an existing TreeModel (returned as is).
    features : {"float32", "int16"}
        How features reach the device. "float32" predicts exactly what scikit-learn predicts
        for float32 input; "int16" expects whole-number features and compares integers.

    Returns
    -------
    TreeModel
        ``predict``, ``predict_proba`` and ``scores`` on the host compute what the device
        computes, bit for bit.

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
    if isinstance(estimator, TreeModel):
        return estimator
    if is_tree_estimator(estimator):
        return convert_trees(estimator, features=features)
    if hasattr(estimator, "steps"):
        raise UnsupportedModelError(
            "Pipelines are not supported yet: convert the final estimator and apply the "
            "preprocessing before sending features")
    name = type(estimator).__name__
    if name.startswith(("GradientBoosting", "HistGradientBoosting")):
        raise UnsupportedModelError(f"{name} is not supported yet; use RandomForest or "
                                    "ExtraTrees")
    if not hasattr(estimator, "fit"):
        raise UnsupportedModelError(f"expected a fitted scikit-learn estimator, got {name}")
    raise UnsupportedModelError(
        f"cannot convert {name}: supported are DecisionTree, RandomForest and ExtraTrees "
        "classifiers and regressors")


