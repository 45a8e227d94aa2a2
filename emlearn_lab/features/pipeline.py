"""A deployable scikit-learn Pipeline: eml.features extractor(s), then a model."""
from ..exceptions import InputError, UnsupportedModelError

__all__ = ["split_pipeline", "extractors_of", "check_fitted", "device_pipeline"]


def extractors_of(step) -> list:
    """The Extractors of a feature step: an Extractor, or a FeatureUnion of Extractors."""
    from sklearn.pipeline import FeatureUnion

    from .base import Extractor
    if isinstance(step, Extractor):
        return [step]
    if isinstance(step, FeatureUnion) and not step.transformer_weights:
        parts = [t for _, t in step.transformer_list if t != "drop"]
        if parts and all(isinstance(t, Extractor) for t in parts):
            return parts
    raise UnsupportedModelError(
        f"{type(step).__name__} has no device implementation: a feature step must be an "
        "eml.features extractor or a FeatureUnion of them (no transformer_weights)")


def split_pipeline(pipe) -> tuple:
    """(extractors, final estimator) of Pipeline(feature step, model)."""
    steps = [s for _, s in pipe.steps if s not in (None, "passthrough")]
    if len(steps) != 2:
        names = [type(s).__name__ for s in steps]
        raise UnsupportedModelError(
            f"a deployable Pipeline is (feature extractor, model), got steps {names}: trees "
            "need no scaling; join several extractors with sklearn's FeatureUnion")
    return extractors_of(steps[0]), steps[1]


def check_fitted(extractors) -> None:
    """NotFittedError / InputError unless the extractors are fitted on the same windows."""
    for e in extractors:
        e._require_fit()
    first = extractors[0]
    for e in extractors[1:]:
        if (e.n_samples_, e.n_channels_, e.input_dtype_, e.input_shifts_) != (
                first.n_samples_, first.n_channels_, first.input_dtype_, first.input_shifts_):
            raise InputError("the extractors of one FeatureUnion must be fitted on the same "
                             "windows (same shape, dtype and input scaling)")


def device_pipeline(pipe) -> tuple:
    """(extractors, converted model) of a fitted Pipeline that can run on a device: fitted
    extractors whose feature count the model takes, and a model that can follow them
    (InputError, NotFittedError or UnsupportedModelError otherwise)."""
    from ..conversion import convert
    extractors, estimator = split_pipeline(pipe)
    check_fitted(extractors)
    model = convert(estimator)
    n_in = sum(e.n_features_out_ for e in extractors)
    if model.n_features != n_in:
        raise InputError(f"the model takes {model.n_features} features, the extractors make "
                         f"{n_in}: fit the Pipeline as a whole")
    why = model.pipeline_input_error()
    if why:
        raise InputError(why)
    return extractors, model
