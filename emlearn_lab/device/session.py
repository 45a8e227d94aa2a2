"""What a device holds in one session, and running rows through it.

The host keeps a record per deployed name (``dev.deployments[name]``, a :class:`DeployedModel`):
the model, the call that loads it (and its extractors), and the speed measured on the
device. Deploy, pipeline deploy, the live comparison and calibration share these parts: the
device-side helpers, loading what a reset lost, sending files, the row layout the device
writes back, and comparing device results with the host reference.
"""
import hashlib

import numpy as np

from ..exceptions import DeviceError, DeviceStorageError, InputError
from ..progress import bar
from . import budget

__all__ = ["DeployedModel", "HELPERS", "FX_HELPERS", "ensure_loaded", "forget", "send_bundle",
           "row_bytes", "result_dtype", "scores_of", "same_rows", "agreement", "disagreements",
           "check_name", "load_timeout_s", "run_items", "run_rows", "MAX_NAME_CHARS",
           "BENCH_PATH"]

X_PATH = "_emlab_x.bin"
OUT_PATH = "_emlab_out.bin"
BENCH_PATH = "_emlab_bench.bin"
# Device file and module names derive from a deploy name (name + "_inline.mpy", ...): within
# every board filesystem's and MicroPython's qstr limits (255 bytes), and readable.
MAX_NAME_CHARS = 64

# Run on the device before a load: the registries of loaded models (_emlab_models) and
# feature extractors (_emlab_fx) by deploy name, and the functions that fill them. Kept
# apart and unchanged: the strings they intern before a load are part of what the heap
# calibration measured (see forget).
HELPERS = """
_emlab_models = globals().get('_emlab_models', {})
def _emlab_load(modules, loader, args, name):
    import emlab_tools
    _emlab_models.pop(name, None)
    m, rr, mr, us = emlab_tools.load(modules, loader, *args)
    _emlab_models[name] = m
    return (rr, mr, us)
"""
FX_HELPERS = """
_emlab_fx = globals().get('_emlab_fx', {})
def _emlab_fx_load(modules, path, name):
    import emlab_tools
    _emlab_fx.pop(name, None)
    fx, rr, fr, us = emlab_tools.load(modules, 'load', path)
    _emlab_fx[name] = fx
    return (rr, fr, us, fx.n_features)
"""


class DeployedModel:
    """Host-side record of what is loaded on the device (`_emlab_models[name]` there) and the
    call that loads it, to load it again after the device restarted."""

    def __init__(self, model, name: str, form: str, load_call: str, source=None):
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

    def load_code(self) -> str:
        """Device code that loads the model (and its extractors) unless they are loaded:
        after a reset or a reconnect the device has the files but nothing in memory."""
        code = HELPERS + f"if {self.name!r} not in _emlab_models:\n {self.load_call}\n"
        if self.fx_load_call is not None:
            code += FX_HELPERS + f"if {self.name!r} not in _emlab_fx:\n {self.fx_load_call}\n"
        return code


def ensure_loaded(dev, deployed: DeployedModel, what: str | None = None) -> None:
    """Load ``deployed`` on the device unless it is loaded (one round trip either way)."""
    timeout = deployed.load_timeout_s * (2 if deployed.fx_load_call is not None else 1)
    dev.exec(deployed.load_code(), timeout_s=timeout,
             what=what or f"loading model '{deployed.name}'")


def forget(dev, name: str) -> None:
    """What a deploy under `name` replaces frees its heap (the loaded model, its extractor)
    and its scratch files their space. Calibration runs it too: the code it runs on the
    device interns the same strings before a load, so the qstr pools grow at the same points
    there and in a deploy (a pool's growth is a step of up to ~2 kB on x64)."""
    dev.exec(HELPERS + f"_emlab_models.pop({name!r}, None)\n"
             f"globals().get('_emlab_fx', {{}}).pop({name!r}, None)")
    dev.remove_quietly(budget.DATA_PATHS)


def check_name(name) -> str:
    """``name`` if it can name device files and modules, else InputError."""
    if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
        raise InputError(f"name must be at most {MAX_NAME_CHARS} characters (it names device "
                         f"files), got {len(name)}: {name[:20]!r}...; use a shorter name")
    if not isinstance(name, str) or not name.isidentifier():
        raise InputError(f"name must be a Python identifier (it names device files), "
                         f"got {name!r}")
    return name


def load_timeout_s(bundle) -> float:
    """Loading reads the model files and imports the runtime: generous, and longer for
    bigger files (nothing measured yet on this device)."""
    size = sum(len(a.data) for a in bundle.files)
    return budget.FIRST_ROW_TIMEOUT_S + size / 10_000


def send_bundle(dev, files, what: str, remedy: str) -> tuple:
    """Send the files whose content differs on the device, after checking that they fit its
    filesystem (each is written beside the file it replaces, then renamed over it). Returns
    (sent, skipped)."""
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


def row_bytes(X: np.ndarray) -> bytes:
    """Rows (or windows) as the device reads them: little-endian, C order."""
    return np.ascontiguousarray(X).astype(X.dtype.newbyteorder("<")).tobytes()


def result_dtype(model, n_features: int = 0, timed: bool = False) -> np.dtype:
    """One item's result as emlab_tools.run writes it: [the features (windows),] [the predict
    index and the model's scores (a model)] [, the microseconds predict took (timed)]."""
    fields = [("features", "<i4", (n_features,))] if n_features else []
    if model is not None:
        fields += [("index", "<i4"), ("scores", model.score_dtype, (model.n_outputs,))]
    if timed:
        fields.append(("us", "<u4"))
    return np.dtype(fields)


def scores_of(out: np.ndarray) -> np.ndarray:
    """The scores of device results: float32 as written, integers widened to int64 (the
    host reference's type)."""
    s = out["scores"]
    return s if s.dtype.kind == "f" else s.astype(np.int64)


def same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise bit-for-bit equality (float32 scores compare as bits: -0.0 != 0.0), except
    that a NaN equals any NaN: IEEE 754 leaves a NaN result's sign and payload to the
    hardware (inf - inf is 0xffc00000 on x86, 0x7fc00000 on Arm and RISC-V)."""
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        a, b = a.astype("<f4"), b.astype("<f4")
        return np.all((a.view("<u4") == b.view("<u4")) | (np.isnan(a) & np.isnan(b)), axis=1)
    return np.all(a == b, axis=1)


def agreement(model, host: tuple, device: tuple) -> np.ndarray:
    """Row by row: device (scores, index) equal to the host's, scores bit for bit and, for a
    classifier, the same class index."""
    same = same_rows(device[0], host[0])
    if model.kind == "classifier":
        same &= device[1] == host[1]
    return same


def disagreements(host_scores, device_scores, same: np.ndarray, limit: int = 20) -> list:
    """The first ``limit`` rows that differ, host and device scores side by side."""
    return [{"row": int(r), "host": host_scores[r].tolist(), "device": device_scores[r].tolist()}
            for r in np.flatnonzero(~same)[:limit]]


def run_items(dev, X: np.ndarray, name: str, model=None, n_features: int = 0,
              us_per_item: float | None = None) -> tuple:
    """Items X (rows, or windows when ``n_features``: the extractors deployed as ``name``
    make that many features) through emlab_tools.run on the device, with the model deployed
    as ``name`` (or none: the features alone), in batches sized from ``us_per_item`` (a
    first item alone when unknown) and the free filesystem; the scratch files are removed
    afterwards. Returns (results as result_dtype, microseconds per item of the batches,
    microseconds spent in predict() in all)."""
    row = result_dtype(model, n_features)
    data, size = row_bytes(X), X[0].nbytes
    args = f"{X_PATH!r}, {OUT_PATH!r}"
    if n_features:
        args += f", _emlab_fx[{name!r}], 0, -1, True"
    model_arg = f"_emlab_models[{name!r}]" if model is not None else "None"
    what = "windows" if n_features else "rows"
    outs, predict_us = [], [0]

    def step(start, stop):           # what a timeout message says the device was doing
        if n_features:
            return f"windows {start}-{stop - 1} of {len(X)} ('{name}')"
        return f"verifying rows {start}-{stop - 1} of {len(X)}"

    def run(start, stop, timeout_s):
        dev.put_data(X_PATH, data[start * size:stop * size])
        (n, us_predict), us = dev.eval(
            f"(lambda t: t.timed(t.run, {model_arg}, {args}))(__import__('emlab_tools'))",
            timeout_s=timeout_s, what=step(start, stop))
        if n != stop - start:
            raise DeviceError(f"device processed {n} of {stop - start} {what}")
        outs.append(dev.read_file(OUT_PATH))
        predict_us[0] += us_predict
        return us

    try:
        us_item = budget.run_batches(len(X), size + row.itemsize, us_per_item, run,
                                     dev.fs_free_bytes(), f"{what} through '{name}'")
    finally:
        budget.remove_scratch(dev, (X_PATH, OUT_PATH))
    return np.frombuffer(b"".join(outs), dtype=row, count=len(X)), us_item, predict_us[0]


def run_rows(dev, model, X: np.ndarray, name: str) -> tuple:
    """Device predict() index and scores() for every row of X (already validated) with the
    model deployed as ``name`` (loaded again first if a reset lost it)."""
    deployed = dev.deployments.get(name)
    if deployed is not None:
        ensure_loaded(dev, deployed)
    out, us_row, predict_us = run_items(dev, X, name, model,
                                        us_per_item=deployed.us_per_row if deployed else None)
    if deployed is not None:
        deployed.us_per_row, deployed.us_per_predict = us_row, predict_us / len(X)
    return out["index"].astype(np.int64), scores_of(out)
