"""KNNModel on a device: the files for a target (runtime, examples file, store), and its
estimate on a board."""
import warnings

import numpy as np

from ..exceptions import BuildError, InputError

__all__ = ["knn_bundle", "device_plan", "paths", "check_capacity", "board_estimate",
           "MAX_CAPACITY"]

MAX_CAPACITY = 65535      # the device runtime's limit (emlknn.MAX_CAPACITY)


def paths(name: str) -> tuple:
    """(examples file, store file) of a model deployed as ``name``."""
    return name + ".knn", name + ".knns"


def check_capacity(model) -> int:
    c = model.capacity
    if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= MAX_CAPACITY:
        raise InputError(f"model.capacity must be a whole number of examples in "
                         f"0..{MAX_CAPACITY}, got {c!r}")
    if len(model.learned_X) > c:
        raise InputError(f"model.capacity is {c} but the model has learned "
                         f"{len(model.learned_X)} examples: set it to at least that")
    return c


def knn_bundle(target, model, name: str):
    """The neighbours runtime (emlknn; the int16 search in the viper kernel emlknn_kernels
    where the port runs native code), the examples file, and the store of learned examples
    (the host's mirror: deploying makes the device's store equal to it). The load call
    reads both; RAM for ``model.capacity`` learned examples is allocated at load."""
    from ..runtime.artifacts import Artifact, Bundle, module_artifact
    from .knnfile import HEADER_BYTES, file_bytes, store_bytes, to_bytes
    capacity = check_capacity(model)
    notes: list = []
    model_path, store_path = paths(name)
    files = [module_artifact(module, target, False, notes)
             for module in ("emlab_common", "emlknn", "emlab_tools")]
    native = False
    if model.features == "int16" and target.arch is not None:
        try:
            files.append(module_artifact("emlknn_kernels", target, True, notes))
            native = True
        except BuildError as e:
            notes.append(f"native kernel unavailable ({str(e).splitlines()[0]})")
    if model.features == "int16" and not native:
        msg = (f"device target {target}: no native (viper) code, the int16 search runs as "
               "bytecode, roughly 20x slower per predict")
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        notes.append(msg)
    if model.features == "float32":
        notes.append("float32 distances run as bytecode (exact float32, slow): whole-number "
                     "features convert with features='int16', which runs in the native kernel")
    data = to_bytes(model)
    # In RAM: the examples and targets of the file and of a full store.
    ram = file_bytes(model, len(model.X) + capacity) - HEADER_BYTES
    files += [Artifact(model_path, data, "model", ram),
              Artifact(store_path, store_bytes(model), "data")]
    return Bundle(files, ("emlab_common", "emlknn_kernels", "emlknn"), "load",
                  (model_path, store_path, capacity), native, notes)


def device_plan(model, form: str, target, name: str, heap_free_bytes: int) -> tuple:
    """("loadable", bundle): neighbours have one form."""
    if form == "inline":
        raise InputError("form='inline' is for trees; nearest neighbours deploy as "
                         "'loadable' (the examples file read by the runtime)")
    return "loadable", knn_bundle(target, model, name)


# Instructions per predict on the emulated Cortex-M3 (qemu -icount: 1 us = 1000 instructions),
# fitted as call + example * n + term * t (+ per neighbour with distance weights) over random
# models of 30-90 examples and 4-12 features, k = 3; t: the distance terms added (a sum stops
# once it reaches the k-th best: exact.summed_terms counts them on the host). Reproduce with
# ``python3 bench/bench_knn.py`` (writes bench/results/knn_cortex-m3.json).
CORTEX_M3_COSTS = {
    "int16": {"call": 17537, "example": 87, "term": 56, "distance_neighbour": 6717},
    "float32": {"call": 28891, "example": 2071, "term": 2338, "distance_neighbour": 10783},
}
# gc.mem_alloc() growth of importing the runtime (emlab_common + emlknn) and of the model
# object beyond its arrays, with some headroom, by word size: on the virtual device (8: 17 824
# B on a fresh device, 14 368 B after other loads; 996-1 480 B for k = 3-9) and on the
# emulated Cortex-M3 (4: 13 568 B fresh, 11 952 B after; 540 B for k = 3).
FIXED_BYTES = {8: (18000, 1300), 4: (13800, 800)}


def knn_allocations(model, word_bytes: int) -> list:
    """Byte sizes of what a loaded model keeps: the examples and targets (converted + a full
    store), the kernel's parameters and k best, the scores, three lists of k."""
    n = len(model.X) + model.capacity
    item = 4 if model.features == "float32" else 2
    return [n * model.n_features * item, n * (2 if model.kind == "classifier" else 4),
            4 * (5 + 2 * model.n_neighbors), 4 * model.n_outputs] \
        + [word_bytes * model.n_neighbors] * 3


def knn_latency(model, board, native: bool, X=None):
    """LatencyEstimate from the Cortex-M3 instruction counts, for a board whose emulated
    core is the Cortex-M3 (or, int16 in native code, a Thumb-2 core with an FPU: the same
    integer code); None elsewhere. With rows X the distance terms are counted on them (the
    median row, with the examples the model holds now), else every term of a full store."""
    from ..board_fit.cores import board_cpi, core_for
    from ..board_fit.latency import LatencyEstimate
    from .exact import summed_terms
    core = core_for(board)
    if model.features == "int16" and not native:
        return None
    if core != "cortex-m3" and not (core == "cortex-m4f" and model.features == "int16"):
        return None
    c = CORTEX_M3_COSTS[model.features]
    if X is not None:
        E, _ = model.examples()
        n = len(E)
        terms = float(np.median(summed_terms(model.check_X(X), E, model.metric,
                                             model.n_neighbors)))
        how = f"{n} examples, distance terms counted on the given rows"
    else:
        n = len(model.X) + model.capacity
        terms = float(n * model.n_features)
        how = f"{n} examples (a full store), every distance term (the slow case)"
    instr = c["call"] + c["example"] * n + c["term"] * terms
    if model.weights == "distance":
        instr += c["distance_neighbour"] * model.n_neighbors
    cpi, _ = board_cpi(board)
    basis = (f"{how}; instructions per term, example and call measured on the emulated "
             "Cortex-M3 (bench/bench_knn.py)")
    if board.port != "qemu":
        basis += f", x {cpi:g} cycles per instruction at {board.clock_mhz:g} MHz"
    return LatencyEstimate(instr * cpi / board.clock_mhz, terms, X is not None, basis,
                           "distance terms", instructions=float(instr), core="cortex-m3")


def board_estimate(model, board, form: str, bundle, X=None):
    """The Estimate of the model on ``board``: the files exact (the store at its capacity, and
    the temporary copy learn() writes beside it), the heap from the arrays the runtime
    allocates (examples for a full store) plus measured fixed costs, and the latency from
    Cortex-M3 instruction counts (None on other cores)."""
    from ..board_fit.estimate import Estimate, machine_code_note, word_bytes
    from ..board_fit.memory import assemble_heap
    from .knnfile import HEADER_BYTES, file_bytes
    store_path = bundle.args[1]
    full = file_bytes(model, model.capacity)
    files = [(a.path, len(a.data)) for a in bundle.files if a.path != store_path]
    files += [(store_path, full), (store_path + ".tmp", full)]
    word = word_bytes(board)
    loaded = {a.path for a in bundle.files if a.path.endswith(".mpy")} - {"emlab_tools.mpy"}
    sizes = knn_allocations(model, word)
    fixed_word = 4 if word == 4 else 8
    heap = assemble_heap(sum(FIXED_BYTES[fixed_word]), bundle.files, loaded, sizes, word,
                         board.native_code_in_heap,
                         at_load=(file_bytes(model, len(model.X) + model.capacity)
                                  - HEADER_BYTES,), fixed_word_bytes=fixed_word)
    notes = list(bundle.notes)
    notes.append(f"the store at its capacity of {model.capacity} examples ({full} B) and the "
                 "temporary copy learn() writes beside it are counted in flash; RAM holds "
                 "the examples of a full store from the start")
    latency = knn_latency(model, board, bundle.native, X)
    if latency is None:
        notes.append("no latency estimate: instruction counts were measured on the emulated "
                     "Cortex-M3 only (and int16 in native code on Thumb-2 cores)")
    notes += machine_code_note(board, heap)
    return Estimate(board=board, form=form, model=repr(model), files=files,
                    flash_bytes=sum(n for _, n in files),
                    fs_bytes=board.fs_used_bytes(n for _, n in files), heap=heap,
                    latency=latency, notes=notes, kind="neighbours",
                    remedy_rule=lambda est: _remedy(est, model))


def _remedy(est, model) -> str:
    from ..board_fit.estimate import board_tips
    tips = ["fewer examples (a subset, or a few prototypes per class)"]
    if model.capacity:
        tips.append(f"a smaller model.capacity (now {model.capacity})")
    if model.features == "float32":
        tips.append("features='int16' (half the bytes per example)")
    return "; ".join(tips + board_tips(est))
