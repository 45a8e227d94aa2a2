"""deploy(): push a model to a device, load it there, verify it row by row, time it."""
import time

import numpy as np

from ..exceptions import (
    BuildError,
    DeviceError,
    DeviceMemoryError,
    InputError,
    UnsupportedModelError,
)
from ..nets.model import NetModel
from ..trees.model import TreeModel
from .artifacts import net_bundle, runtime_bundle
from .report import DeployReport

__all__ = ["deploy", "predict_on_device", "DeployedModel"]

_X_PATH = "_emlab_x.bin"
_OUT_PATH = "_emlab_out.bin"
_FORMS = ("auto", "loadable", "inline")


class DeployedModel:
    """Host-side record of what is loaded on the device (`_emlab_models[name]` there) and the
    call that loads it, to load it again after the device restarted."""

    def __init__(self, model: TreeModel, name: str, form: str, load_call: str,
                 source=None):
        self.model, self.name, self.form, self.load_call = model, name, form, load_call
        self.source = model if source is None else source  # what the caller deployed
        self.features = None         # extractors, when deployed as a feature pipeline
        self.fx_load_call = None

    def __repr__(self) -> str:
        what = "pipeline" if self.features is not None else self.form
        return f"DeployedModel({self.name!r}, {what}, {self.model!r})"


def _as_model(model):
    if isinstance(model, (TreeModel, NetModel)):
        return model
    from ..convert import convert
    return convert(model)


def deploy(dev, model, X=None, *, form="auto", name="model", verify=True, repeats=200):
    """Build the runtime for the device, push runtime + model, verify and time on the device.

    Parameters
    ----------
    dev : Device
    model : TreeModel, NetModel, a fitted estimator eml.convert accepts, or a Pipeline
        A fitted ``Pipeline(eml.features extractor (or a FeatureUnion of them), model)``
        deploys both; X is then windows, and the device computes features and predictions
        from them (see emlearn_lab.device.features.deploy_pipeline).
    X : array-like, optional
        Rows to verify on the device (every row: device result == host reference) and to time.
    form : {"auto", "loadable", "inline"}
        "loadable": generic runtime .mpy + binary model file. "inline": the model compiled into
        viper code (fastest; trees only). "auto": inline when the device runs native code, the
        model has at most 4000 decision nodes and the inline module is under a quarter of the
        device's free heap, else loadable (also when the inline module cannot be built, e.g. trees
        deeper than 64 levels; the report's notes say so).
    name : str
        Device file names derive from it (``name.eml``, ``name_inline.mpy``).
    repeats : int
        predict() calls per timed row.

    Returns
    -------
    DeployReport

    Raises
    ------
    InputError, UnsupportedModelError, NotFittedError
        Before anything is sent.
    DeviceMemoryError
        The model does not fit the device's free heap.
    DeviceDisconnectedError
        The link was lost; calling deploy again resumes (unchanged files are not re-sent).
    """
    from sklearn.pipeline import Pipeline
    if isinstance(model, Pipeline):
        from .features import deploy_pipeline
        report = deploy_pipeline(dev, model, X, form=form, name=name, verify=verify,
                                 repeats=repeats)
        dev.deployments[name].source = model
        return report
    if form not in _FORMS:
        raise InputError(f"form must be one of {_FORMS}, got {form!r}")
    if not name.isidentifier():
        raise InputError(f"name must be a Python identifier (it names device files), "
                         f"got {name!r}")
    source, model = model, _as_model(model)
    Xc = model.check_X(X) if X is not None else None
    if Xc is not None and len(Xc) == 0:
        raise InputError("X has no rows: pass the rows to verify on the device, or X=None to "
                         "deploy without verification")
    target = dev.target                  # cached per connection
    info = dev.info                      # one round trip: heap after a collection
    heap_free = info["heap_free_bytes"]
    chosen, bundle = _choose(form, model, target, name, heap_free)

    sent, skipped = [], []
    for art in bundle.files:
        (sent if dev.write_file(art.path, art.data) else skipped).append(art)

    dev.exec(_HELPERS)
    load_call = f"_emlab_load({bundle.modules!r}, {bundle.loader!r}, {bundle.args!r}, {name!r})"
    try:
        loaded = dev.eval(load_call, timeout_s=60)
    except DeviceMemoryError as e:
        need = sum(len(a.data) for a in bundle.files
                   if a.path.endswith((".eml", ".emn", "_inline.mpy")))
        if isinstance(model, NetModel):
            remedy = ("Try fewer or narrower hidden layers, or weights='int8' (4x smaller)"
                      if model.int8 is None else "Try fewer or narrower hidden layers")
        else:
            other = " or form='loadable' (data is smaller than code)" if chosen == "inline" \
                else ""
            remedy = ("Try fewer trees, a smaller max_leaf_nodes or a larger "
                      f"min_samples_leaf{other}")
        raise DeviceMemoryError(
            f"model '{name}' does not fit the device heap: it is {need} bytes on file and the "
            f"device had {heap_free} bytes free before loading ({e}). {remedy}.") from None
    runtime_ram, model_ram, load_us = loaded
    dev.deployed = dev.deployments[name] = DeployedModel(model, name, chosen, load_call,
                                                         source)

    report = DeployReport(
        device=repr(dev), target=str(target), form=chosen, name=name, model=repr(model),
        files=[(a.path, len(a.data), a in sent) for a in bundle.files],
        runtime_ram_bytes=runtime_ram, model_ram_bytes=model_ram, load_us=load_us,
        heap_free_bytes=heap_free, native=bundle.native, notes=list(bundle.notes))
    if info["platform"] == "linux" and bundle.native:
        native = sum(len(a.data) for a in bundle.files
                     if a.path.endswith(("_kernels.mpy", "_inline.mpy")))
        report.notes.append(
            "unix port: native code lives outside the GC heap, so the RAM figures exclude it; "
            f"on a microcontroller it is loaded into the heap (up to {native} B of .mpy here)")
    if Xc is not None and verify:
        _verify(dev, model, Xc, name, report)
        _bench(dev, name, Xc, repeats, report)
    return report


def _choose(form, model, target, name, heap_free):
    """(form, bundle). "auto" takes inline when the device runs native code, the model has at
    most 4000 decision nodes and the inline module is under a quarter of the free heap (on a
    microcontroller native code is loaded into the heap), else loadable."""
    if isinstance(model, NetModel):
        if form == "inline":
            raise InputError("form='inline' is for trees; networks deploy as 'loadable' (the "
                             "int8 kernel is native code already)")
        return "loadable", net_bundle(target, model, name)
    if form == "inline" and target.arch is None:
        raise InputError(f"form='inline' needs native code, which device target {target} "
                         "lacks; use form='loadable'")
    if form == "auto":
        from ..build import mpy_cross_binary
        note = None
        if target.arch is not None and model.n_nodes <= 4000 and mpy_cross_binary(target):
            try:
                bundle = _bundle("inline", model, target, name)
            except (BuildError, UnsupportedModelError) as e:
                note = f"form 'inline' unavailable ({str(e).splitlines()[0]}); chose loadable"
            else:
                code = sum(len(a.data) for a in bundle.files if a.path.endswith("_inline.mpy"))
                if code <= heap_free // 4:
                    return "inline", bundle
        bundle = _bundle("loadable", model, target, name)
        bundle.notes += [note] if note else []
        return "loadable", bundle
    return form, _bundle(form, model, target, name)


def _bundle(form, model, target, name):
    if form == "inline":
        from .inline_form import inline_bundle
        return inline_bundle(model, target, name)
    return runtime_bundle(target, model, name)


_HELPERS = """
_emlab_models = globals().get('_emlab_models', {})
def _emlab_load(modules, loader, args, name):
    import emlab_tools
    _emlab_models.pop(name, None)
    m, rr, mr, us = emlab_tools.load(modules, loader, *args)
    _emlab_models[name] = m
    return (rr, mr, us)
"""


def _send_rows(dev, X: np.ndarray) -> None:
    data = np.ascontiguousarray(X).astype(X.dtype.newbyteorder("<")).tobytes()
    dev.write_file(_X_PATH, data, skip_unchanged=True)


def _row_cost(model) -> float:
    """Work per row in units of one tree walk, for timeouts (a float32 network's
    multiply-accumulate runs in bytecode: about a hundredth of a walk each)."""
    return model.n_trees if isinstance(model, TreeModel) else model.n_macs / 100 + 1


def _run_rows(dev, model, X: np.ndarray, name: str) -> tuple:
    """Device predict() index and scores() for every row of X (already validated)."""
    _send_rows(dev, X)
    deployed = dev.deployments.get(name)
    if deployed is not None:
        # After a reset or reconnect the device has the files but not the loaded model.
        dev.exec(_HELPERS + f"if {name!r} not in _emlab_models:\n {deployed.load_call}\n",
                 timeout_s=60)
    per_row_s = 0.002 if dev.target.arch is not None else 0.05
    rows = dev.eval(f"__import__('emlab_tools').verify(_emlab_models[{name!r}], {_X_PATH!r}, "
                    f"{_OUT_PATH!r})", timeout_s=30 + per_row_s * len(X) * _row_cost(model))
    if rows != len(X):
        raise DeviceError(f"device processed {rows} of {len(X)} rows")
    score_dtype = getattr(model, "score_dtype", np.dtype("<i4"))
    row = np.dtype([("index", "<i4"), ("scores", score_dtype, (model.n_outputs,))])
    out = np.frombuffer(dev.read_file(_OUT_PATH), dtype=row, count=len(X))
    scores = out["scores"] if score_dtype.kind == "f" else out["scores"].astype(np.int64)
    return out["index"].astype(np.int64), scores


def _same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise bit-for-bit equality (float32 scores compare as bits: -0.0 != 0.0)."""
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        a, b = a.astype("<f4").view("<u4"), b.astype("<f4").view("<u4")
    return np.all(a == b, axis=1)


def _verify(dev, model, X, name, report) -> None:
    t0 = time.perf_counter()
    dev_index, dev_scores = _run_rows(dev, model, X, name)
    host_scores = model.scores(X)
    host_index = model.predict_index(X)
    same = _same_rows(dev_scores, host_scores)
    if model.kind == "classifier":
        same &= dev_index == host_index
    report.n_rows = len(X)
    report.agreement = float(same.mean()) if len(X) else 1.0
    bad = np.flatnonzero(~same)
    report.disagreements = [
        {"row": int(r), "host": host_scores[r].tolist(), "device": dev_scores[r].tolist()}
        for r in bad[:20]]
    report.n_disagreements = int(len(bad))
    report.verify_s = time.perf_counter() - t0


def _bench(dev, name, X, repeats, report) -> None:
    rows = min(len(X), 16)
    med, best, n = dev.eval(
        f"__import__('emlab_tools').bench(_emlab_models[{name!r}], {_X_PATH!r}, {rows}, "
        f"{int(repeats)})", timeout_s=60 + rows * repeats * 0.01)
    report.us_per_predict_median = float(med)
    report.us_per_predict_min = float(best)
    report.bench_rows = int(n)
    report.bench_repeats = int(repeats)


def predict_on_device(dev, X, name=None):
    """Predict rows X on the device (windows for a pipeline) with the model deployed under
    ``name``, default the last one deployed (same output as model.predict)."""
    deployed = dev.deployed if name is None else dev.deployments.get(name)
    if deployed is None:
        if name is not None and dev.deployments:
            raise DeviceError(f"no model named {name!r} deployed on this device in this "
                              f"session; deployed: {', '.join(map(repr, dev.deployments))}")
        raise DeviceError("no model deployed on this device in this session: call "
                          "dev.deploy(model) first")
    if deployed.features is not None:
        from .features import predict_windows
        return predict_windows(dev, X, deployed)
    model = deployed.model
    Xc = model.check_X(X)
    index, scores = _run_rows(dev, model, Xc, deployed.name)
    if model.kind == "classifier":
        return model.classes_[index]
    if isinstance(model, NetModel):
        return model.values(scores)
    return scores[:, 0] / model.score_denominator
