"""deploy(): push a model to a device, load it there, verify it row by row, time it."""
import time

import numpy as np

from ..exceptions import (
    BuildError,
    DeviceError,
    DeviceMemoryError,
    DeviceStorageError,
    InputError,
    UnsupportedModelError,
)
from ..nets.model import NetModel
from ..trees.model import TreeModel
from ..progress import bar
from . import budget
from .artifacts import net_bundle, runtime_bundle
from .report import DeployReport

__all__ = ["deploy", "predict_on_device", "DeployedModel"]

_X_PATH = "_emlab_x.bin"
_OUT_PATH = "_emlab_out.bin"
_BENCH_PATH = "_emlab_bench.bin"
_FORMS = ("auto", "loadable", "inline")
# Device file and module names derive from a deploy name (name + "_inline.mpy", ...): within
# every board filesystem's and MicroPython's qstr limits (255 bytes), and readable.
MAX_NAME_CHARS = 64


class DeployedModel:
    """Host-side record of what is loaded on the device (`_emlab_models[name]` there) and the
    call that loads it, to load it again after the device restarted."""

    def __init__(self, model: TreeModel, name: str, form: str, load_call: str,
                 source=None):
        self.model, self.name, self.form, self.load_call = model, name, form, load_call
        self.source = model if source is None else source  # what the caller deployed
        self.features = None         # extractors, when deployed as a feature pipeline
        self.fx_load_call = None
        self.load_timeout_s = budget.FIRST_ROW_TIMEOUT_S
        # Measured on the device: microseconds per row (window, for a pipeline) of the
        # verification loop, and of predict() alone. None until rows have run.
        self.us_per_row = None
        self.us_per_predict = None

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
        from .features import deploy_pipeline
        report = deploy_pipeline(dev, model, X, form=form, name=name, verify=verify,
                                 repeats=repeats)
        dev.deployments[name].source = model
        return report
    if form not in _FORMS:
        raise InputError(f"form must be one of {_FORMS}, got {form!r}")
    if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
        raise InputError(f"name must be at most {MAX_NAME_CHARS} characters (it names device "
                         f"files), got {len(name)}: {name[:20]!r}...; use a shorter name")
    if not isinstance(name, str) or not name.isidentifier():
        raise InputError(f"name must be a Python identifier (it names device files), "
                         f"got {name!r}")
    source, model = model, _as_model(model)
    Xc = model.check_X(X) if X is not None else None
    if Xc is not None and len(Xc) == 0:
        raise InputError("X has no rows: pass the rows to verify on the device, or X=None to "
                         "deploy without verification")
    target = dev.target                  # cached per connection
    forget(dev, name)
    info = dev.info                      # one round trip: heap after a collection
    heap_free = info["heap_free_bytes"]
    chosen, bundle = _choose(form, model, target, name, heap_free)
    remedy = _remedy(model, chosen)
    notes = []
    heap_free = _check_heap(dev, bundle, name, info, remedy, notes)
    sent, skipped = send_bundle(dev, bundle.files, f"model '{name}'", remedy)

    load_call = f"_emlab_load({bundle.modules!r}, {bundle.loader!r}, {bundle.args!r}, {name!r})"
    load_timeout = _load_timeout_s(bundle)
    try:
        loaded = _load(dev, load_call, load_timeout, name)
    except DeviceMemoryError as e:
        # A heap fragmented by earlier loads can fail an allocation that a fresh one takes:
        # restart MicroPython and load once more before blaming the model.
        dev.reset()
        try:
            loaded = _load(dev, load_call, load_timeout, name)
        except DeviceMemoryError:
            size = sum(len(a.data) for a in bundle.files
                       if a.path.endswith((".eml", ".emn", "_inline.mpy")))
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
        heap_free_bytes=heap_free, native=bundle.native, notes=list(bundle.notes) + notes)
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


def _remedy(model, form) -> str:
    if isinstance(model, NetModel):
        return ("Try fewer or narrower hidden layers, or weights='int8' (4x smaller)"
                if model.int8 is None else "Try fewer or narrower hidden layers")
    other = " or form='loadable' (data is smaller than code)" if form == "inline" else ""
    return f"Try fewer trees, a smaller max_leaf_nodes or a larger min_samples_leaf{other}"


def _ram_bytes(bundle) -> int:
    """What loading the model must allocate at least: the model files it reads into RAM
    (a tree file's payload, a network file whole). A lower bound: the runtime, buffers and,
    on a microcontroller, native code come on top."""
    from ..trees.modelfile import HEADER_BYTES
    return sum(len(a.data) - HEADER_BYTES if a.path.endswith(".eml") else len(a.data)
               for a in bundle.files if a.path.endswith((".eml", ".emn")))


def forget(dev, name: str) -> None:
    """What a deploy under `name` replaces frees its heap (the loaded model, its extractor)
    and its scratch files their space. Calibration runs it too: the code it runs on the
    device interns the same strings before a load, so the qstr pools grow at the same points
    there and in a deploy (a pool's growth is a step of up to ~2 kB on x64)."""
    dev.exec(_HELPERS + f"_emlab_models.pop({name!r}, None)\n"
             f"globals().get('_emlab_fx', {{}}).pop({name!r}, None)")
    dev.remove_quietly(budget.DATA_PATHS)


def _check_heap(dev, bundle, name, info, remedy, notes) -> int:
    """Refuse before sending a model that cannot fit the heap; reset the device first when
    only what is loaded now stands in the way. Returns the free heap then."""
    need = _ram_bytes(bundle)
    free, used = info["heap_free_bytes"], info["heap_used_bytes"]
    if need <= free:
        return free
    if need <= free + used:
        dev.reset()
        dev.exec(_HELPERS)
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


def send_bundle(dev, files, what: str, remedy: str) -> tuple:
    """Send the files whose content differs on the device, after checking that they fit its
    filesystem (each is written beside the file it replaces, then renamed over it). Returns
    (sent, skipped)."""
    import hashlib
    have = dev.file_hashes([a.path for a in files])
    sent, skipped = [], []
    for a in files:
        old = have.get(a.path)
        same = old is not None and old[1] is not None and \
            old[1] == hashlib.sha256(a.data).digest()
        (skipped if same else sent).append(a)
    free = dev.fs_free_bytes() if sent else None
    if free is not None:
        left = free
        for a in sent:
            if len(a.data) > left:
                need = sum(len(a.data) for a in sent)
                raise DeviceStorageError(
                    f"{what} does not fit the device's filesystem: {need} bytes to send and "
                    f"{free} bytes free; nothing was sent. Remove files you no longer need "
                    f"({_largest_files(dev)}; dev.remove(path)). {remedy}.")
            left += (have[a.path][0] if a.path in have else 0) - len(a.data)
    with bar(sum(len(a.data) for a in sent), f"upload {what}", "B", unit_scale=True) as b:
        for a in sent:
            dev.write_file(a.path, a.data, False)
            b.update(len(a.data))
    return sent, skipped


def _largest_files(dev) -> str:
    try:
        files = sorted(dev.listdir(), key=lambda f: -f[1])[:3]
    except DeviceError:
        return "dev.listdir() lists them"
    return "largest: " + ", ".join(f"{n} {size} B" for n, size in files) if files else \
        "the device has none"


def _load_timeout_s(bundle) -> float:
    """Loading reads the model files and imports the runtime: generous, and longer for
    bigger files (nothing measured yet on this device)."""
    size = sum(len(a.data) for a in bundle.files)
    return budget.FIRST_ROW_TIMEOUT_S + size / 10_000


def _load(dev, load_call, timeout_s, name):
    dev.exec(_HELPERS)
    return dev.eval(load_call, timeout_s=timeout_s, what=f"loading model '{name}'")


def _choose(form, model, target, name, heap_free):
    """(form, bundle). "auto" takes inline when the device runs native code, inline is the
    faster form there (_inline_faster), the model has at most 4000 decision nodes and the
    inline module is under a quarter of the free heap (on a microcontroller native code is
    loaded into the heap), else loadable."""
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
        if _inline_faster(model, target.arch) and model.n_nodes <= 4000 \
                and mpy_cross_binary(target):
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


def _inline_faster(model, arch) -> bool:
    """Whether the inline form beats the loadable one on a core `arch` (emulated-board and
    virtual-device benches, bench/README.md): viper inline beats the viper walker (x64,
    Xtensa), the Thumb-2 machine-code inline form beats the machine-code walker (Cortex-M3/
    M4/M7), but viper inline does not beat the machine-code walkers of the Cortex-M0 and
    RV32 (4 500 vs 3 080 and 3 780 vs 3 420 instructions on digits) at 4x their heap."""
    from ..trees.inline_thumb import thumb_inline_supported
    from .rv32_walker import RV32_ARCHS
    from .thumb_walker import THUMB_ARCHS
    if arch is None:
        return False
    return thumb_inline_supported(model, arch) or arch not in THUMB_ARCHS | RV32_ARCHS


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


def row_bytes(X: np.ndarray) -> bytes:
    return np.ascontiguousarray(X).astype(X.dtype.newbyteorder("<")).tobytes()


def _run_rows(dev, model, X: np.ndarray, name: str) -> tuple:
    """Device predict() index and scores() for every row of X (already validated), in
    batches sized from the device's measured time per row and its free filesystem; the
    scratch files are removed afterwards."""
    deployed = dev.deployments.get(name)
    if deployed is not None:
        # After a reset or reconnect the device has the files but not the loaded model.
        dev.exec(_HELPERS + f"if {name!r} not in _emlab_models:\n {deployed.load_call}\n",
                 timeout_s=deployed.load_timeout_s, what=f"loading model '{name}'")
    score_dtype = getattr(model, "score_dtype", np.dtype("<i4"))
    row = np.dtype([("index", "<i4"), ("scores", score_dtype, (model.n_outputs,))])
    data, size = row_bytes(X), X.itemsize * X.shape[1]
    outs, predict_us = [], [0]

    def run(start, stop, timeout_s):
        dev.put_data(_X_PATH, data[start * size:stop * size])
        (rows, us_predict), us = dev.eval(
            f"(lambda t: t.timed(t.verify, _emlab_models[{name!r}], {_X_PATH!r}, "
            f"{_OUT_PATH!r}))(__import__('emlab_tools'))", timeout_s=timeout_s,
            what=f"verifying rows {start}-{stop - 1} of {len(X)}")
        if rows != stop - start:
            raise DeviceError(f"device processed {rows} of {stop - start} rows")
        outs.append(dev.read_file(_OUT_PATH))
        predict_us[0] += us_predict
        return us

    try:
        us_row = budget.run_batches(len(X), size + row.itemsize,
                                    deployed.us_per_row if deployed else None, run,
                                    dev.fs_free_bytes(), f"rows through '{name}'")
    finally:
        budget.remove_scratch(dev, (_X_PATH, _OUT_PATH))
    if deployed is not None:
        deployed.us_per_row, deployed.us_per_predict = us_row, predict_us[0] / len(X)
    out = np.frombuffer(b"".join(outs), dtype=row, count=len(X))
    scores = out["scores"] if score_dtype.kind == "f" else out["scores"].astype(np.int64)
    return out["index"].astype(np.int64), scores


def _same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise bit-for-bit equality (float32 scores compare as bits: -0.0 != 0.0), except
    that a NaN equals any NaN: IEEE 754 leaves a NaN result's sign and payload to the
    hardware (inf - inf is 0xffc00000 on x86, 0x7fc00000 on Arm and RISC-V)."""
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        a, b = a.astype("<f4"), b.astype("<f4")
        return np.all((a.view("<u4") == b.view("<u4")) | (np.isnan(a) & np.isnan(b)), axis=1)
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
    dev.put_data(_BENCH_PATH, row_bytes(X[:rows]))
    try:
        with bar(None, f"timing '{name}' on the device ({rows} rows x {repeats} calls)"):
            med, best, n, worst = dev.eval(
                f"__import__('emlab_tools').bench(_emlab_models[{name!r}], {_BENCH_PATH!r}, "
                f"{rows}, {repeats})", timeout_s=timeout_s, what=f"timing model '{name}'")
    finally:
        budget.remove_scratch(dev, (_BENCH_PATH,))
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
