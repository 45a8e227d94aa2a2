"""eml.compress and the CompressedTrees estimator (eml.compression_sweep: sweep.py).

A compressed model is a TreeModel: ``predict``, ``size_bytes`` (the exact model file deploy
sends), ``dev.deploy(model, X)`` (verified row by row on the device against this model's own
host reference). See trees/compress.py for what each setting does.
"""

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone

from .exceptions import UnsupportedModelError
from .trees.compress import compress_model
from .trees.model import TreeModel
from .trees.prune import Routed, prune_model
from .validate import invalid

__all__ = ["compress", "compression_sweep", "CompressedTrees", "Sweep", "METRICS"]


def _tree_model(estimator) -> TreeModel:
    """The converted tree model eml.compress works on; UnsupportedModelError for others."""
    from .conversion import convert
    from .nets.convert import is_network
    from .nets.model import NetModel
    # A network is refused before conversion: an unfitted one gets the same advice.
    network = isinstance(estimator, NetModel) or is_network(estimator)
    model = None if network else convert(estimator, features="float32")
    if not isinstance(model, TreeModel):
        why = (", a network: quantise it with eml.convert(model, weights='int8', "
               "X_calib=X_train)") if network else ""
        raise UnsupportedModelError(
            "eml.compress takes tree ensembles (DecisionTree, RandomForest, ExtraTrees or "
            f"their eml.convert model); got {type(estimator).__name__}{why}")
    return model


def compress(estimator, *, n_trees=None, ccp_alpha=0.0, refine=None, X_train=None,
             y_train=None, leaves_per_class=None, leaf_bits="auto", features="float32",
             X_calib=None, quantile=0.001, random_state=0) -> TreeModel:
    """Compress a fitted tree ensemble into a smaller model that runs exactly alike on host
    and device.

    Parameters
    ----------
    estimator : fitted scikit-learn tree/forest (as eml.convert takes), or a TreeModel from
        eml.convert.
    n_trees : int or None
        Keep this many trees, chosen by greedy forward selection on (X_train, y_train)
        (reduce-error pruning, Margineantu & Dietterich 1997). None keeps all.
    ccp_alpha : float >= 0
        Minimal cost-complexity pruning of the kept trees (Breiman et al. 1984), impurities
        counted on (X_train, y_train); scikit-learn's meaning of ``ccp_alpha``. 0: no pruning.
    refine : bool or None
        Re-fit every leaf value jointly so the averaged ensemble fits (X_train, y_train)
        (leaf refinement, Buschjaeger & Morik 2021). None: when n_trees or ccp_alpha prunes.
    X_train, y_train : array-like
        Labelled rows for the three steps above (the training rows, or others); also the
        default ``X_calib``. See emlearn_lab/trees/prune.py.
    leaves_per_class : int or None
        k-means of all leaves of all trees into ``leaves_per_class * n_classes`` shared leaves
        (``leaves_per_class`` in total for a regressor). None: exact de-duplication only.
    leaf_bits : int 0..8, None or "auto"
        Classifier leaves as ``round(p * (2**bits - 1))``; 0: one vote for the most probable
        class (hard voting); None: 32-bit fixed point. "auto": 8 for classifiers, None for
        regressors (whose leaves are always 32-bit fixed point).
    features : {"float32", "int16"}
        "int16": thresholds in int16 space with a power-of-two scale per feature learned from
        ``X_calib`` (robust ``quantile`` range, values beyond it clipped). The model then takes
        raw float features on the host and on the device (which also accepts the int16 values
        ``model.quantise(X)`` returns).
    X_calib : array-like, required for features="int16"
    random_state : int
        Seed of k-means.

    Returns
    -------
    TreeModel
        ``predict``/``predict_proba`` are the compressed model's exact reference;
        ``size_bytes`` the bytes sent to the device. Soft voting: integer sums of leaf values,
        first maximum wins, on the host and on the device alike.

    Raises
    ------
    InputError
        Bad parameter values (with what is allowed), int16 without X_calib, or compressing an
        already compressed model.
    UnsupportedModelError
        Not a tree ensemble (networks are quantised by ``eml.convert(..., weights="int8")``).
    """
    model = _tree_model(estimator)
    if refine is None:
        refine = n_trees is not None or ccp_alpha != 0
    if n_trees is not None or ccp_alpha != 0 or refine:
        for name, value, what in (("X_train", X_train, "labelled rows"),
                                  ("y_train", y_train, "the labels of X_train")):
            if value is None:
                raise invalid(name, None, f"{what} with n_trees, ccp_alpha or refine",
                              owner="eml.compress",
                              remedy="They choose the trees and refit the leaves: pass "
                                     "X_train=X_train, y_train=y_train.")
        model = prune_model(Routed(model, X_train, y_train), n_trees=n_trees,
                            ccp_alpha=ccp_alpha, refine=refine)
    return compress_model(model, leaves_per_class=leaves_per_class,
                          leaf_bits=leaf_bits, features=features,
                          X_calib=X_train if X_calib is None else X_calib,
                          quantile=quantile, random_state=random_state)


class CompressedTrees(BaseEstimator):
    """A tree ensemble and its compression as one scikit-learn estimator (cloneable, usable
    in Pipelines, cross_val_score and GridSearchCV over the compression settings).

    ``fit(X, y)`` fits a clone of ``estimator`` (unless ``prefit``) and compresses it, with
    (X, y) as the rows that select trees, prune and refine leaves, and X as the calibration
    rows for int16 features. ``model_`` is the compressed TreeModel.
    """

    def __init__(self, estimator, *, n_trees=None, ccp_alpha=0.0, refine=None,
                 leaves_per_class=None, leaf_bits="auto", features="float32", quantile=0.001,
                 random_state=0, prefit=False):
        self.estimator = estimator
        self.n_trees = n_trees
        self.ccp_alpha = ccp_alpha
        self.refine = refine
        self.leaves_per_class = leaves_per_class
        self.leaf_bits = leaf_bits
        self.features = features
        self.quantile = quantile
        self.random_state = random_state
        self.prefit = prefit

    def fit(self, X, y=None):
        est = self.estimator if self.prefit else clone(self.estimator).fit(X, y)
        self.estimator_ = est
        self.model_ = compress(est, n_trees=self.n_trees, ccp_alpha=self.ccp_alpha,
                               refine=self.refine, X_train=X, y_train=y,
                               leaves_per_class=self.leaves_per_class,
                               leaf_bits=self.leaf_bits, features=self.features,
                               X_calib=X, quantile=self.quantile,
                               random_state=self.random_state)
        if self.model_.kind == "classifier":
            self.classes_ = self.model_.classes_
        self.n_features_in_ = self.model_.n_features
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def score(self, X, y):
        mixin = ClassifierMixin if self.model_.kind == "classifier" else RegressorMixin
        return mixin.score(self, X, y)

    @property
    def size_bytes(self) -> int:
        return self.model_.size_bytes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        kind = getattr(getattr(self, "model_", None), "kind", None)
        if kind is None and hasattr(self.estimator, "predict_proba"):
            kind = "classifier"
        tags.estimator_type = kind if kind in ("classifier", "regressor") else None
        return tags


# The sweep lives in sweep.py; its names stay importable from here.
from .sweep import METRICS, Sweep, compression_sweep  # noqa: E402

