"""deploy(): push a model to a device, load it there, verify it row by row, time it."""
import time

import numpy as np

from ..conversion import convert
from ..exceptions import DeviceError, DeviceMemoryError, InputError
from ..features.pipeline import device_pipeline
from ..progress import bar
from ..runtime.plan import check_form, plan
from . import budget, features
from .report import DeployReport
from .session import (
    BENCH_PATH,
    HELPERS,
    DeployedModel,
    agreement,
    check_name,
    disagreements,
    forget,
    load_timeout_s,
    row_bytes,
    run_rows,
    send_bundle,
)

__all__ = ["deploy", "predict_on_device", "DeployedModel"]


def deploy(dev, model, X=None, *, form="auto", name="model", verify=True, repeats=200):
    """Build the runtime for the device, push runtime + model, verify and time on the device.

    Parameters
    ----------
    dev : Device
    model : TreeModel, NetModel, a fitted estimator eml.convert accepts, or a Pipeline
        A fitted ``Pipeline(eml.features extractor (or a FeatureUnion of them), model)``
        deploys both; X is then windows, and the device computes features and predictions
        from them (see _deploy_pipeline).
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
        The model does not fit the device's heap: before anything is sent when its model
        file alone exceeds the heap (after a reset, when what is loaded now is in the way),
        or at load, after a reset and a second try (a fragmented heap is not the model's
        fault).
    DeviceStorageError
        The files to send do not fit the device's free filesystem; nothing was sent.
    DeviceTimeoutError
        A step did not finish in time (timeouts come from the device's own measured time
        per row, and timing spends at most ~2 s of device time); the device was interrupted
        or restarted, so the next call works.
    DeviceDisconnectedError
        The link was lost; calling deploy again resumes (unchanged files are not re-sent).

    Notes
    -----
    Rows are sent in batches that fit a quarter of the device's free filesystem (at most
    32 KiB) and are removed from the device afterwards.
    """
    from sklearn.pipeline import Pipeline
    if isinstance(model, Pipeline):
        report = _deploy_pipeline(dev, model, X, form=form, name=name, verify=verify,
                                 repeats=repeats)
        dev.deployments[name].source = model
        return report
    check_form(form)
    check_name(name)
    source, model = model, convert(model)
    Xc = model.check_X(X) if X is not None else None
    if Xc is not None and len(Xc) == 0:
        raise InputError("X has no rows: pass the rows to verify on the device, or X=None to "
                         "deploy without verification")
    target = dev.target                  # cached per connection
    forget(dev, name)
    info = dev.info                      # one round trip: heap after a collection
    heap_free = info["heap_free_bytes"]
    chosen, bundle = plan(model, form, target, name, heap_free)
    remedy = model.device_remedy(chosen)
    notes = []
    heap_free = _check_heap(dev, bundle, name, info, remedy, notes)
    sent, skipped = send_bundle(dev, bundle.files, f"model '{name}'", remedy)

    load_call = f"_emlab_load({bundle.modules!r}, {bundle.loader!r}, {bundle.args!r}, {name!r})"
    load_timeout = load_timeout_s(bundle)
    try:
        loaded = _load(dev, load_call, load_timeout, name)
    except DeviceMemoryError as e:
        # A heap fragmented by earlier loads can fail an allocation that a fresh one takes:
        # restart MicroPython and load once more before blaming the model.
        dev.reset()
        try:
            loaded = _load(dev, load_call, load_timeout, name)
        except DeviceMemoryError:
            size = sum(len(a.data) for a in bundle.files if a.is_model)
            raise DeviceMemoryError(
                f"model '{name}' does not fit the device heap: it is {size} "
                f"bytes on file and the device had {heap_free} bytes free before loading, "
                f"also after a reset to defragment its heap ({e}). {remedy}.") from None
        notes.append(f"loading failed on a fragmented heap ({str(e).split(': ')[-1]}); "
                     "loaded after a reset of the device (models loaded before it are "
                     "loaded again on their next use)")
    runtime_ram, model_ram, load_us = loaded
    dev.deployed = dev.deployments[name] = DeployedModel(model, name, chosen, load_call,
                                                         source)
    dev.deployed.load_timeout_s = load_timeout

    report = DeployReport(
        device=repr(dev), target=str(target), form=chosen, name=name, model=repr(model),
        files=[(a.path, len(a.data), a in sent) for a in bundle.files],
        runtime_ram_bytes=runtime_ram, model_ram_bytes=model_ram, load_us=load_us,
        heap_free_bytes=heap_free, native=bundle.native, notes=list(bundle.notes) + notes,
        float_scores=np.dtype(model.score_dtype).kind == "f")
    if info["platform"] == "linux" and bundle.native:
        native = sum(len(a.data) for a in bundle.files
                     if a.role == "model_code" or a.path.endswith("_kernels.mpy"))
        report.notes.append(
            "unix port: native code lives outside the GC heap, so the RAM figures exclude it; "
            f"on a microcontroller it is loaded into the heap (up to {native} B of .mpy here)")
    if Xc is not None and verify:
        _verify(dev, model, Xc, name, report)
        _bench(dev, name, Xc, repeats, report)
    return report


def _deploy_pipeline(dev, pipe, X=None, *, form: str = "auto", name: str = "model",
                    verify: bool = True, repeats: int = 50):
    """Deploy Pipeline(extractor(s), model): the model as dev.deploy does, then the
    extractors; with windows X, verify features and predictions end to end on the device and
    time a window. Returns the model's DeployReport with the feature figures added."""
    extractors, model = device_pipeline(pipe)
    W = features.check_windows(extractors, X) if X is not None else None
    report = deploy(dev, model, None, form=form, name=name, verify=False)
    bundle, sent, ram, call = features.load_extractors(dev, extractors, name)
    dev.deployed.features = extractors
    dev.deployed.fx_load_call = call
    report.files += [(a.path, len(a.data), a in sent) for a in bundle.files
                     if a.path not in {p for p, *_ in report.files}]
    report.features = " + ".join(repr(e) for e in extractors)
    report.features_ram_bytes = ram[1]
    if W is not None and verify:
        features.verify_pipeline(dev, pipe, model, extractors, W, name, report)
        rows = min(len(W), 8)
        us = dev.deployed.us_per_row
        n, k, (fx, pr, whole) = features.bench_windows(dev, name, W, rows, repeats, True, us)
        report.set_pipeline_timing(fx, pr, whole)
        report.bench_rows, report.bench_repeats = n, k
        if (n, k) != (rows, repeats):
            report.notes.append(
                f"timing: {n} windows x {k} calls instead of {rows} x {repeats}, to spend "
                f"at most ~{budget.BENCH_BUDGET_S:g} s of device time (a window takes "
                f"~{us:.0f} µs here)")
    return report


def _ram_bytes(bundle) -> int:
    """What loading the model must allocate at least: the model files it reads into RAM
    (a tree file's payload, a network file whole). A lower bound: the runtime, buffers and,
    on a microcontroller, native code come on top."""
    return sum(a.heap_bytes for a in bundle.files)


def _check_heap(dev, bundle, name, info, remedy, notes) -> int:
    """Refuse before sending a model that cannot fit the heap; reset the device first when
    only what is loaded now stands in the way. Returns the free heap then."""
    need = _ram_bytes(bundle)
    free, used = info["heap_free_bytes"], info["heap_used_bytes"]
    if need <= free:
        return free
    if need <= free + used:
        dev.reset()
        dev.exec(HELPERS)
        free = dev.info["heap_free_bytes"]
        notes.append(f"reset the device before sending: {used} bytes of its heap were in use "
                     "(models loaded before are loaded again on their next use)")
        if need <= free:
            return free
    raise DeviceMemoryError(
        f"model '{name}' does not fit the device heap: loading it needs at least {need} "
        f"bytes (its model file in RAM) and the device has {free} bytes free of a "
        f"{free + used}-byte heap{' after a reset' if notes else ''}; nothing was sent. "
        f"{remedy}.")


def _load(dev, load_call, timeout_s, name):
    dev.exec(HELPERS)
    return dev.eval(load_call, timeout_s=timeout_s, what=f"loading model '{name}'")


def _verify(dev, model, X, name, report) -> None:
    t0 = time.perf_counter()
    device = run_rows(dev, model, X, name)[::-1]            # (scores, index)
    host = (model.scores(X), model.predict_index(X))
    same = agreement(model, host, device)
    report.n_rows = len(X)
    report.agreement = float(same.mean()) if len(X) else 1.0
    report.disagreements = disagreements(host[0], device[0], same)
    report.n_disagreements = int((~same).sum())
    report.verify_s = time.perf_counter() - t0


def bench_plan(dev, name, rows, repeats, what, report) -> tuple:
    """(rows, repeats, timeout_s) for timing model ``name``: at most budget.BENCH_BUDGET_S
    of device time at the speed its verification measured; a note says when that is fewer
    calls than asked."""
    deployed = dev.deployments.get(name)
    us = None if deployed is None else (deployed.us_per_predict or deployed.us_per_row)
    n, k = budget.bench_plan(us, rows, repeats)
    if (n, k) != (rows, repeats):
        report.notes.append(
            f"timing: {n} {what} x {k} calls instead of {rows} x {repeats}, to spend at most "
            f"~{budget.BENCH_BUDGET_S:g} s of device time (one call takes ~{us:.0f} µs "
            "here)")
    # time_calls: 3 timed loops of k calls per row
    return n, k, budget.timeout_s(n * k * 3 * (us or 0) / 1e6)


def _bench(dev, name, X, repeats, report) -> None:
    fit = budget.items_that_fit(X.itemsize * X.shape[1], dev.fs_free_bytes())
    rows, repeats, timeout_s = bench_plan(dev, name, min(len(X), 16, fit), int(repeats),
                                          "rows", report)
    dev.put_data(BENCH_PATH, row_bytes(X[:rows]))
    try:
        with bar(None, f"timing '{name}' on the device ({rows} rows x {repeats} calls)"):
            med, best, n, worst = dev.eval(
                f"__import__('emlab_tools').bench(_emlab_models[{name!r}], {BENCH_PATH!r}, "
                f"{rows}, {repeats})", timeout_s=timeout_s, what=f"timing model '{name}'")
    finally:
        budget.remove_scratch(dev, (BENCH_PATH,))
    report.us_per_predict_median = float(med)
    report.us_per_predict_min = float(best)
    report.us_per_predict_max = float(worst)
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
        return features.predict_windows(dev, X, deployed)
    model = deployed.model
    index, scores = run_rows(dev, model, model.check_X(X), deployed.name)
    return model.decode(index, scores)
