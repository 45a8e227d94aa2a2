"""Feature extractors on the device: check_features (device == host, window by window) and
deploying a scikit-learn Pipeline of extractor(s) + model, verified end to end."""
import json
import time

import numpy as np

from ..build import Target
from ..exceptions import BuildError, DeviceError, InputError, UnsupportedModelError
from ..progress import bar
from . import budget
from .artifacts import Artifact, Bundle, module_artifact
from .feature_report import FeatureCheck

__all__ = ["check_features", "deploy_pipeline", "predict_windows", "split_pipeline",
           "extractors_of", "feature_bundle"]

_W_PATH = "_emlab_w.bin"
_OUT_PATH = "_emlab_fout.bin"
_BENCH_PATH = "_emlab_bench.bin"
_HELPERS = """
_emlab_fx = globals().get('_emlab_fx', {})
def _emlab_fx_load(modules, path, name):
    import emlab_tools
    _emlab_fx.pop(name, None)
    fx, rr, fr, us = emlab_tools.load(modules, 'load', path)
    _emlab_fx[name] = fx
    return (rr, fr, us, fx.n_features)
"""


def extractors_of(step) -> list:
    """The Extractors of a feature step: an Extractor, or a FeatureUnion of Extractors."""
    from sklearn.pipeline import FeatureUnion

    from ..features.base import Extractor
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


def _fitted(extractors) -> None:
    for e in extractors:
        e._require_fit()
    first = extractors[0]
    for e in extractors[1:]:
        if (e.n_samples_, e.n_channels_, e.input_dtype_, e.input_shifts_) != (
                first.n_samples_, first.n_channels_, first.input_dtype_, first.input_shifts_):
            raise InputError("the extractors of one FeatureUnion must be fitted on the same "
                             "windows (same shape, dtype and input scaling)")


def feature_bundle(target: Target, extractors, name: str) -> Bundle:
    """The extractors' device modules (native code) + the pipeline runtime + the feature
    file ``name.fx`` (JSON)."""
    if target.arch is None:
        raise BuildError(f"feature extractors are viper (native) code, which device target "
                         f"{target} cannot run; use a port built with the native emitter")
    notes: list = []
    modules = ["emlfx_core"] + sorted({e.device_spec()["module"] for e in extractors})
    files = [module_artifact(m, target, True, notes) for m in modules]
    twins = machine_code_twins(target, modules, notes)
    files += twins
    files += [module_artifact(m, target, False, notes) for m in ("emlab_tools", "emlfx")]
    spec = {"format": "emlfx", "version": 1, "steps": [e.device_spec() for e in extractors]}
    files.append(Artifact(name + ".fx", json.dumps(spec, separators=(",", ":")).encode()))
    twin_names = tuple(a.path.rsplit(".", 1)[0] for a in twins)
    return Bundle(files, twin_names + tuple(modules) + ("emlfx",), "load", (name + ".fx",),
                  True, notes)


def machine_code_twins(target: Target, modules: list, notes: list) -> list:
    """Artifacts of the extractor modules' machine-code twins for target's core: TimeStats'
    (emlfx_time_thumb, device/thumb_time_stats.py) on Thumb-2 cores. The module imports it
    when present and keeps its viper code otherwise (other cores, or a failed build, noted)."""
    from ..trees.ties_thumb import THUMB2_ARCHS
    from .thumb_time_stats import time_stats_source
    if "emlfx_time" not in modules or target.arch not in THUMB2_ARCHS:
        return []
    try:
        return [module_artifact("emlfx_time_thumb", target, True, notes,
                                source=time_stats_source())]
    except BuildError as e:
        notes.append(f"TimeStats machine code unavailable ({str(e).splitlines()[0]}); "
                     "its viper code runs instead")
        return []


def _load(dev, extractors, name: str) -> tuple:
    """Push and load the extractors as _emlab_fx[name]: (bundle, sent, ram, load call)."""
    from .deploy import send_bundle
    bundle = feature_bundle(dev.target, extractors, name)
    dev.exec(_HELPERS + f"_emlab_fx.pop({name!r}, None)")
    sent, _ = send_bundle(dev, bundle.files, f"the feature extractors of '{name}'",
                          "Use fewer extractors")
    call = f"_emlab_fx_load({bundle.modules!r}, {bundle.args[0]!r}, {name!r})"
    runtime_ram, fx_ram, load_us, n = dev.eval(
        call, timeout_s=_load_timeout_s(bundle), what=f"loading the extractors of '{name}'")
    want = sum(e.n_features_out_ for e in extractors)
    if n != want:
        raise DeviceError(f"the device built {n} features from {name}.fx, the host {want}")
    return bundle, sent, (runtime_ram, fx_ram, load_us), call


def _windows(extractors, X) -> np.ndarray:
    X = extractors[0].check_windows(X)
    if len(X) == 0:
        raise InputError("X has no windows: pass the windows to check on the device")
    return X


def _load_timeout_s(bundle) -> float:
    from .deploy import _load_timeout_s
    return _load_timeout_s(bundle)


def _run(dev, X, name: str, n_features: int, model=None,
         us_per_window: float | None = None) -> tuple:
    """(device features (n, F) [, predict index (n,), scores (n, k)], microseconds per
    window measured on the device) for windows X, in batches sized from that figure (a
    first window alone when ``us_per_window`` is unknown) and the free filesystem; the
    scratch files are removed afterwards."""
    fields = [("features", "<i4", (n_features,))]
    if model is not None:
        score = getattr(model, "score_dtype", np.dtype("<i4"))
        fields += [("index", "<i4"), ("scores", score, (model.n_outputs,))]
    row = np.dtype(fields)
    from .deploy import row_bytes
    data, size = row_bytes(X), X[0].nbytes
    args = f"_emlab_fx[{name!r}], {_W_PATH!r}, {_OUT_PATH!r}"
    if model is not None:
        args += f", _emlab_models[{name!r}]"
    outs = []

    def run(start, stop, timeout_s):
        dev.put_data(_W_PATH, data[start * size:stop * size])
        rows, us = dev.eval(f"(lambda t: t.timed(__import__('emlfx').run, {args}))"
                            "(__import__('emlab_tools'))", timeout_s=timeout_s,
                            what=f"windows {start}-{stop - 1} of {len(X)} ('{name}')")
        if rows != stop - start:
            raise DeviceError(f"device processed {rows} of {stop - start} windows")
        outs.append(dev.read_file(_OUT_PATH))
        return us

    try:
        us = budget.run_batches(len(X), size + row.itemsize, us_per_window, run,
                                dev.fs_free_bytes(), f"windows through '{name}'")
    finally:
        budget.remove_scratch(dev, (_W_PATH, _OUT_PATH))
    out = np.frombuffer(b"".join(outs), dtype=row, count=len(X))
    return tuple(out[f[0]] for f in fields), us


def _bench(dev, name: str, X, rows: int, repeats: int, with_model: bool,
           us_per_window: float) -> tuple:
    """Time windows on the device within budget.BENCH_BUDGET_S of its time (fewer repeats,
    then rows, for slow extractors): (rows, repeats, figures), figures being (median, min,
    max) microseconds per window of the features alone, or with the model the tuple
    (features, predict, features + predict) of such triples, timed in one device loop
    (emlfx.bench_pipeline: the parts never exceed the whole)."""
    fit = budget.items_that_fit(X[0].nbytes, dev.fs_free_bytes())
    rows, repeats = budget.bench_plan(us_per_window, min(rows, fit), repeats)
    from .deploy import row_bytes
    dev.put_data(_BENCH_PATH, row_bytes(X[:rows]))
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
                    f"_emlab_models[{name!r}], {_BENCH_PATH!r}, {rows}, {repeats})",
                    timeout_s=timeout_s, what=f"timing '{name}'")
                figures = tuple(tuple(float(v) for v in f) for f in figures)
            else:
                med, best, n, worst = dev.eval(
                    f"__import__('emlfx').bench(_emlab_fx[{name!r}], {_BENCH_PATH!r}, "
                    f"{rows}, {repeats})", timeout_s=timeout_s, what=f"timing '{name}'")
                figures = (float(med), float(best), float(worst))
    finally:
        budget.remove_scratch(dev, (_BENCH_PATH,))
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
    _fitted(extractors)
    from .deploy import MAX_NAME_CHARS
    if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
        raise InputError(f"name must be at most {MAX_NAME_CHARS} characters (it names device "
                         f"files), got {len(name)}: {name[:20]!r}...; use a shorter name")
    if not name.isidentifier():
        raise InputError(f"name must be a Python identifier (it names device files), "
                         f"got {name!r}")
    X = _windows(extractors, X)
    t0 = time.perf_counter()
    host = np.hstack([e.transform(X) for e in extractors])
    host_s = time.perf_counter() - t0
    _load(dev, extractors, name)
    (device,), us = _run(dev, X, name, host.shape[1])
    names = [str(n) for e in extractors for n in e.get_feature_names_out()]
    check = FeatureCheck.compare(host, device, names, host_us=host_s / len(X) * 1e6)
    if repeats:
        _, _, (check.device_us_median, check.device_us_min, _) = _bench(
            dev, name, X, min(len(X), 8), repeats, False, us)
    return check


def deploy_pipeline(dev, pipe, X=None, *, form: str = "auto", name: str = "model",
                    verify: bool = True, repeats: int = 50):
    """Deploy Pipeline(extractor(s), model): the model as dev.deploy does, then the
    extractors; with windows X, verify features and predictions end to end on the device and
    time a window. Returns the model's DeployReport with the feature figures added."""
    from .deploy import _as_model, deploy
    extractors, estimator = split_pipeline(pipe)
    _fitted(extractors)
    model = _as_model(estimator)
    n_in = sum(e.n_features_out_ for e in extractors)
    if model.n_features != n_in:
        raise InputError(f"the model takes {model.n_features} features, the extractors make "
                         f"{n_in}: fit the Pipeline as a whole")
    if model.features == "int16" and getattr(model, "quantiser", None) is None:
        raise InputError("a feature pipeline needs a float32-input model (the extractors' "
                         "integer features are below 2**24, exact as float32): convert or "
                         "compress it with features='float32'")
    W = _windows(extractors, X) if X is not None else None
    report = deploy(dev, model, None, form=form, name=name, verify=False)
    bundle, sent, ram, call = _load(dev, extractors, name)
    dev.deployed.features = extractors
    dev.deployed.fx_load_call = call
    report.files += [(a.path, len(a.data), a in sent) for a in bundle.files
                     if a.path not in {p for p, *_ in report.files}]
    report.features = " + ".join(repr(e) for e in extractors)
    report.features_ram_bytes = ram[1]
    if W is not None and verify:
        _verify(dev, pipe, model, extractors, W, name, report)
        rows = min(len(W), 8)
        us = dev.deployed.us_per_row
        n, k, (fx, pr, whole) = _bench(dev, name, W, rows, repeats, True, us)
        report.set_pipeline_timing(fx, pr, whole)
        report.bench_rows, report.bench_repeats = n, k
        if (n, k) != (rows, repeats):
            report.notes.append(
                f"timing: {n} windows x {k} calls instead of {rows} x {repeats}, to spend "
                f"at most ~{budget.BENCH_BUDGET_S:g} s of device time (a window takes "
                f"~{us:.0f} µs here)")
    return report


def _verify(dev, pipe, model, extractors, W, name, report) -> None:
    from .deploy import _same_rows
    t0 = time.perf_counter()
    host = np.hstack([e.transform(W) for e in extractors])
    deployed = dev.deployments[name]
    (dev_features, dev_index, dev_scores), deployed.us_per_row = _run(
        dev, W, name, host.shape[1], model, deployed.us_per_row)
    names = [str(n) for e in extractors for n in e.get_feature_names_out()]
    report.feature_check = FeatureCheck.compare(host, dev_features, names)
    host_scores = model.scores(host)
    same = _same_rows(dev_scores, host_scores) & np.all(dev_features == host, axis=1)
    if model.kind == "classifier":
        same &= dev_index == model.predict_index(host)
        # Pipeline.predict(W) is the final step's predict on these same host features;
        # calling it would run the extractors in CPython a second time.
        report.sklearn_agreement = float(np.mean(
            model.classes_[dev_index] == np.asarray(pipe.steps[-1][1].predict(host))))
    report.n_rows = len(W)
    report.agreement = float(same.mean())
    bad = np.flatnonzero(~same)
    report.disagreements = [{"row": int(r), "host": host_scores[r].tolist(),
                             "device": dev_scores[r].tolist()} for r in bad[:20]]
    report.n_disagreements = int(len(bad))
    report.verify_s = time.perf_counter() - t0


def predict_windows(dev, X, deployed):
    """Device predictions for windows X with a deployed pipeline."""
    extractors, model = deployed.features, deployed.model
    from .deploy import _HELPERS as _MODEL_HELPERS
    W = _windows(extractors, X)
    # After a reset or reconnect the device has the files but nothing loaded.
    dev.exec(_MODEL_HELPERS + _HELPERS
             + f"if {deployed.name!r} not in _emlab_fx:\n {deployed.fx_load_call}\n"
             f"if {deployed.name!r} not in _emlab_models:\n {deployed.load_call}\n",
             timeout_s=2 * deployed.load_timeout_s, what=f"loading '{deployed.name}'")
    n = sum(e.n_features_out_ for e in extractors)
    (_, index, scores), deployed.us_per_row = _run(dev, W, deployed.name, n, model,
                                                   deployed.us_per_row)
    if model.kind == "classifier":
        return model.classes_[index]
    if hasattr(model, "values"):
        return model.values(scores)
    return scores[:, 0] / model.score_denominator
