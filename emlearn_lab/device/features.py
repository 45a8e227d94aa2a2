"""Feature extractors on the device: check_features (device == host, window by window), and
the steps deploy takes for a Pipeline of extractor(s) + model (load, verify, time, predict)."""
import time

import numpy as np

from ..exceptions import DeviceError, InputError
from ..progress import bar
from ..features.pipeline import check_fitted, extractors_of
from ..runtime.feature_bundle import feature_bundle
from . import budget
from .feature_report import FeatureCheck
from .session import (
    BENCH_PATH,
    FX_HELPERS,
    agreement,
    check_name,
    disagreements,
    ensure_loaded,
    load_timeout_s,
    row_bytes,
    run_items,
    scores_of,
    send_bundle,
)

__all__ = ["check_features", "load_extractors", "check_windows", "bench_windows",
           "verify_pipeline", "predict_windows"]

def load_extractors(dev, extractors, name: str) -> tuple:
    """Push and load the extractors as _emlab_fx[name]: (bundle, sent, ram, load call)."""
    bundle = feature_bundle(dev.target, extractors, name)
    dev.exec(FX_HELPERS + f"_emlab_fx.pop({name!r}, None)")
    sent, _ = send_bundle(dev, bundle.files, f"the feature extractors of '{name}'",
                          "Use fewer extractors")
    call = f"_emlab_fx_load({bundle.modules!r}, {bundle.args[0]!r}, {name!r})"
    runtime_ram, fx_ram, load_us, n = dev.eval(
        call, timeout_s=load_timeout_s(bundle), what=f"loading the extractors of '{name}'")
    want = sum(e.n_features_out_ for e in extractors)
    if n != want:
        raise DeviceError(f"the device built {n} features from {name}.fx, the host {want}")
    return bundle, sent, (runtime_ram, fx_ram, load_us), call


def check_windows(extractors, X) -> np.ndarray:
    """Windows X validated for the extractors (InputError), at least one."""
    X = extractors[0].check_windows(X)
    if len(X) == 0:
        raise InputError("X has no windows: pass the windows to check on the device")
    return X


def _run(dev, X, name: str, n_features: int, model=None,
         us_per_window: float | None = None) -> tuple:
    """(device features (n, F) [, predict index (n,), scores (n, k)], microseconds per
    window measured on the device) for windows X (see session.run_items)."""
    out, us, _ = run_items(dev, X, name, model, n_features, us_per_window)
    if model is None:
        return (out["features"],), us
    return (out["features"], out["index"].astype(np.int64), scores_of(out)), us


def bench_windows(dev, name: str, X, rows: int, repeats: int, with_model: bool,
                  us_per_window: float) -> tuple:
    """Time windows on the device within budget.BENCH_BUDGET_S of its time (fewer repeats,
    then rows, for slow extractors): (rows, repeats, figures), figures being (median, min,
    max) microseconds per window of the features alone, or with the model the tuple
    (features, predict, features + predict) of such triples, timed in one device loop
    (emlfx.bench_pipeline: the parts never exceed the whole)."""
    fit = budget.items_that_fit(X[0].nbytes, dev.fs_free_bytes())
    rows, repeats = budget.bench_plan(us_per_window, min(rows, fit), repeats)
    dev.put_data(BENCH_PATH, row_bytes(X[:rows]))
    # 3 rounds per window of each step; the features and the predict loops together take
    # about as long as one pipeline call.
    timeout_s = budget.timeout_s(rows * repeats * 3 * us_per_window / 1e6)
    what = "features + predict" if with_model else "features"
    try:
        with bar(None, f"timing the {what} of '{name}' on the device ({rows} windows x "
                       f"{repeats} calls)"):
            if with_model:
                n, *figures = dev.eval(
                    f"__import__('emlfx').bench_pipeline(_emlab_fx[{name!r}], "
                    f"_emlab_models[{name!r}], {BENCH_PATH!r}, {rows}, {repeats})",
                    timeout_s=timeout_s, what=f"timing '{name}'")
                figures = tuple(tuple(float(v) for v in f) for f in figures)
            else:
                med, best, n, worst = dev.eval(
                    f"__import__('emlfx').bench(_emlab_fx[{name!r}], {BENCH_PATH!r}, "
                    f"{rows}, {repeats})", timeout_s=timeout_s, what=f"timing '{name}'")
                figures = (float(med), float(best), float(worst))
    finally:
        budget.remove_scratch(dev, (BENCH_PATH,))
    return int(n), repeats, figures


def check_features(dev, fx, X, *, name: str = "features", repeats: int = 20) -> FeatureCheck:
    """Compute features of windows X on the device and compare them with the host's.

    Parameters
    ----------
    dev : Device
    fx : fitted eml.features extractor, or a FeatureUnion of them
    X : windows, shape (n_windows, n_samples, n_channels), or an eml.windows() result
    name : str
        Names the device files (``name.fx``).
    repeats : int
        transform() calls per timed window (0: no timing).

    Returns
    -------
    FeatureCheck
        Exact when every feature of every window is identical; otherwise the mismatches
        and the largest absolute error per feature.

    Raises
    ------
    NotFittedError, InputError
        Before anything is sent (unfitted extractor, windows of another shape or dtype).
    BuildError
        The device cannot run native code.
    """
    extractors = extractors_of(fx)
    check_fitted(extractors)
    check_name(name)
    X = check_windows(extractors, X)
    t0 = time.perf_counter()
    host = np.hstack([e.transform(X) for e in extractors])
    host_s = time.perf_counter() - t0
    load_extractors(dev, extractors, name)
    (device,), us = _run(dev, X, name, host.shape[1])
    names = [str(n) for e in extractors for n in e.get_feature_names_out()]
    check = FeatureCheck.compare(host, device, names, host_us=host_s / len(X) * 1e6)
    if repeats:
        _, _, (check.device_us_median, check.device_us_min, _) = bench_windows(
            dev, name, X, min(len(X), 8), repeats, False, us)
    return check


def verify_pipeline(dev, pipe, model, extractors, W, name, report) -> None:
    """Features, predict index and scores of every window W on the device against the host
    (extractors, then the model), into the report."""
    t0 = time.perf_counter()
    host = np.hstack([e.transform(W) for e in extractors])
    deployed = dev.deployments[name]
    (dev_features, dev_index, dev_scores), deployed.us_per_row = _run(
        dev, W, name, host.shape[1], model, deployed.us_per_row)
    names = [str(n) for e in extractors for n in e.get_feature_names_out()]
    report.feature_check = FeatureCheck.compare(host, dev_features, names)
    host_scores = model.scores(host)
    same = agreement(model, (host_scores, model.predict_index(host)), (dev_scores, dev_index))
    same &= np.all(dev_features == host, axis=1)
    if model.kind == "classifier":
        # Pipeline.predict(W) is the final step's predict on these same host features;
        # calling it would run the extractors in CPython a second time.
        report.sklearn_agreement = float(np.mean(
            model.classes_[dev_index] == np.asarray(pipe.steps[-1][1].predict(host))))
    report.n_rows = len(W)
    report.agreement = float(same.mean())
    report.disagreements = disagreements(host_scores, dev_scores, same)
    report.n_disagreements = int((~same).sum())
    report.verify_s = time.perf_counter() - t0


def predict_windows(dev, X, deployed):
    """Device predictions for windows X with a deployed pipeline."""
    extractors, model = deployed.features, deployed.model
    W = check_windows(extractors, X)
    ensure_loaded(dev, deployed, f"loading '{deployed.name}'")
    n = sum(e.n_features_out_ for e in extractors)
    (_, index, scores), deployed.us_per_row = _run(dev, W, deployed.name, n, model,
                                                   deployed.us_per_row)
    return model.decode(index, scores)
