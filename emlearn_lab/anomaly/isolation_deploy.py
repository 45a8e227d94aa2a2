"""IsolationModel on a device: the tree runtime's files and form, plus emlab_detect, whose
loader wraps the loaded trees with the threshold; the board estimate is the trees' one."""
from dataclasses import replace

from ..runtime.artifacts import Bundle, module_artifact

__all__ = ["device_plan", "device_remedy", "board_estimate", "detector_bundle"]


def device_plan(model, form: str, target, name: str, heap_free_bytes: int) -> tuple:
    """(form, bundle): the trees' plan (loadable or inline, "auto" as trees choose) with the
    detector module added; its loader loads the trees and compares their sum with the
    threshold."""
    from ..trees.deployment import device_plan as trees_plan
    from ..trees.inline_thumb import thumb_inline_supported
    chosen, bundle = trees_plan(model.trees, form, target, name, heap_free_bytes)
    # Where the inline module's walker leaves the sum (trees/inline.py): the Thumb-2 form at
    # the head of its work buffer, the viper form after the features; emltrees says itself.
    sum_at = -1 if chosen != "inline" else \
        0 if thumb_inline_supported(model.trees, target.arch) else model.n_features
    return chosen, detector_bundle(bundle, target, int(model.threshold_units), sum_at)


def detector_bundle(bundle: Bundle, target, threshold: int, sum_at: int = -1) -> Bundle:
    """``bundle`` (a tree model's) loaded through emlab_detect.load_trees(threshold, its
    module, its loader, sum_at, *its args)."""
    notes = list(bundle.notes)
    detect = module_artifact("emlab_detect", target, False, notes)
    return Bundle(bundle.files + [detect], bundle.modules + ("emlab_detect",), "load_trees",
                  (threshold, bundle.modules[-1], bundle.loader, sum_at) + tuple(bundle.args),
                  bundle.native, notes)


def device_remedy(model, form: str) -> str:
    other = " or form='loadable' (data is smaller than code)" if form == "inline" else ""
    return f"Try fewer trees (n_estimators) or a smaller max_samples (shallower trees){other}"


def board_estimate(model, board, form: str, bundle, X=None):
    """The trees' Estimate (files exact, emlab_detect's included; heap and latency of the
    trees), with the detector named."""
    from ..trees.deployment import board_estimate as trees_estimate
    est = trees_estimate(model.trees, board, form, bundle, X)
    detect = sum(len(a.data) for a in bundle.files if a.path.startswith("emlab_detect."))
    notes = list(est.notes) + [f"heap and latency are the trees'; emlab_detect adds a {detect} B "
                               "module, and its predict calls the trees' walker directly (as fast "
                               "as the trees' own predict on an emulated Cortex-M3)"]
    return replace(est, model=repr(model), notes=notes)
