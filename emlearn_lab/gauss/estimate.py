"""RAM and latency of a Gaussian detector (GaussModel) on a board.

RAM (``gauss_heap``): what deploy measures as gc.mem_alloc() growth (emlab_tools.load) on a
freshly started device. The runtime (emlab_common + emlgauss imported: bytecode, functions and,
the first time, their qstrs) and the loaded detector's objects (Gauss, its closure, six array
objects) are fixed costs measured per machine word: on the virtual device (x64) and on the
emulated Cortex-M3 (32-bit; the bytecode is the same on every 32-bit port).
``bench/bench_gauss.py`` prints both per model; tests/test_anomaly_gauss.py checks the
estimate is an upper bound within RAM_MARGIN of a first load. A reload (the qstrs interned
already) takes ~3.7 kB (x64) / ~2.6 kB (32-bit) less. The buffers follow from the model
exactly: means float32[K*n], consts[K], the precision factor, the difference row[n],
log-probabilities[K] and the output[1], each rounded to whole GC blocks (4 words). While
loading, the file is read whole (the largest single allocation).

Latency (``gauss_latency``): instructions per predict from per-operation counts measured on
the board's emulated core (cores.core_for: Cortex-M0, M3, M4F, RV32), a least-squares fit over
12 GaussianMixture models: ``python3 bench/bench_gauss.py --device emulated:cortex-m3`` (writes
bench/results/gauss_cortex-m3.json), times the board's cycles per instruction. Boards without
an emulated core (Xtensa, the virtual device): None, with a note.
"""
from ..board_fit.memory import HeapEstimate, block_round

__all__ = ["gauss_heap", "gauss_latency", "work_counts", "gauss_allocations", "TERMS",
           "INSTRUCTIONS", "FIXED_BYTES", "RAM_MARGIN"]

# Machine word (bytes) -> gc.mem_alloc() growth of (importing emlab_common + emlgauss on a
# fresh device, the loaded detector's objects beyond its buffers): x64 on the virtual device
# (objects 928..960 B over 25 models), 32-bit on the emulated Cortex-M3 (464 B over 12); the
# runtime figures re-measured after emlgauss gained its machine-code path (16 544, 12 240).
FIXED_BYTES = {8: (16544, 960), 4: (12240, 464)}
# Besides, with the machine-code products (ARMv7-M, full and tied covariances): the layer
# module's objects beyond its code and the products' own objects (the factor list, layer
# shapes, closure); measured on the emulated Cortex-M3 (8 features, 4 components, full:
# 16 704 B in all, this estimate 16 826 B).
NATIVE_OBJECT_BYTES = 600
# The estimate is at least the measurement and at most this share above it (tested).
RAM_MARGIN = 0.10

TERMS = ("call", "log", "component", "exp", "feature", "mac", "column", "native_mac",
         "native_component")
# Instructions per term on each emulated core (bench/bench_gauss.py --device emulated:CORE,
# MicroPython v1.28, bytecode; single-precision floats, in software except on the M4F, whose
# FPU hardly shows under the interpreter). Least squares over 12 GaussianMixture models; the
# fit is within 12% of every model (e.g. Cortex-M3, 8 features, 4 components: diag 258 000,
# full 463 000 instructions per predict, measured). Deploy was exact on all of them.
# native_mac: per weight of the machine-code products of full and tied covariances
# (emlgauss._native: n x n + n per component), the other terms kept: on the Cortex-M3
# (emlnet_soft) fitted to the residual of the 6 full/tied models of bench_gauss.py (within
# 5% of each; 8 features, 4 components, full: 225 000 instructions, 463 000 in bytecode); on
# the M4F's FPU (emlnet_fpu) from a 2-component full model at 32 and 48 features (the growth
# beyond the bytecode terms over the growth in weights; too small to fit on the bench's
# models).
INSTRUCTIONS = {
    "cortex-m0": {"call": 11203.2, "log": 39853.4, "component": 4208.2, "exp": 32858.4,
                  "feature": 2358.5, "mac": 2116.8, "column": 1455.6},
    "cortex-m3": {"call": 7380.5, "log": 28182.3, "component": 3590.9, "exp": 24392.6,
                  "feature": 1912.0, "mac": 1477.2, "column": 1403.9, "native_mac": 49.5},
    "cortex-m4f": {"call": 7382.0, "log": 27591.0, "component": 3404.9, "exp": 23613.9,
                   "feature": 1859.0, "mac": 1412.7, "column": 1395.5, "native_mac": 4.4},
    "rv32imc": {"call": 8962.8, "log": 34777.3, "component": 4323.9, "exp": 30138.4,
                "feature": 2316.6, "mac": 1843.5, "column": 1588.1},
}


def _native_products(model, native: bool) -> bool:
    return native and model.covariance_type in ("full", "tied")


def gauss_allocations(model, native: bool = False) -> list:
    """Byte sizes of the buffers a loaded detector keeps; with the machine-code products
    (``native``, full and tied covariances) also the expanded factors (n x n weights and n
    biases per factor), y with m's bias, m and the two layer shapes."""
    n, k = model.n_features, model.n_components
    sizes = [4 * k * n, 4 * k, 4 * model.factor.size, 4 * n, 4 * k, 4]
    if _native_products(model, native):
        factors = k if model.covariance_type == "full" else 1
        sizes += [4 * (n * n + n)] * factors + [4 * (n + 1), 4, 12, 12]
    return sizes


def gauss_heap(model, word_bytes: int, native: bool = False,
               native_code_bytes: int = 0) -> HeapEstimate:
    """The heap a loaded detector takes on a port with this machine word; ``native``: the
    bundle carries the machine-code layer (``native_code_bytes`` of it in the heap on
    microcontrollers)."""
    runtime, objects = FIXED_BYTES[8 if word_bytes == 8 else 4]
    if _native_products(model, native):
        objects += NATIVE_OBJECT_BYTES * word_bytes // 4
    block = 4 * word_bytes
    sizes = gauss_allocations(model, native)
    return HeapEstimate(fixed_bytes=runtime + objects,
                        buffer_bytes=sum(block_round(n, block) for n in sizes),
                        native_code_bytes=native_code_bytes, word_bytes=word_bytes,
                        largest_block_bytes=block_round(max(sizes + [model.size_bytes]),
                                                        block))


def work_counts(model, native: bool = False) -> dict:
    """The work of one predict, per TERMS; ``native``: full and tied products in machine
    code (every n x n weight and the n squares, per component), not in bytecode."""
    n, k = model.n_features, model.n_components
    tri = model.covariance_type in ("full", "tied")
    mixture = model.estimator == "mixture" and k > 1
    fast = _native_products(model, native)
    return {"call": 1.0, "log": float(mixture), "component": float(k),
            "exp": float(k if mixture else 0), "feature": float(k * n),
            "mac": 0.0 if fast else float(k * model.n_factor),
            "column": float(k * n if tri and not fast else 0),
            "native_mac": float(k * (n * n + n)) if fast else 0.0,
            "native_component": float(k) if fast else 0.0}


def gauss_latency(model, board, native: bool = False) -> tuple:
    """(LatencyEstimate or None, note or None)."""
    from ..board_fit.cores import board_cpi, core_for
    from ..board_fit.latency import LatencyEstimate
    core = core_for(board)
    if core not in INSTRUCTIONS or board.clock_mhz <= 0:
        return None, ("latency: instruction counts for Gaussian detectors are measured on the "
                      f"emulated {', '.join(INSTRUCTIONS)} only; no estimate for this board")
    counts = work_counts(model, native)
    n = sum(INSTRUCTIONS[core].get(t, 0.0) * counts[t] for t in TERMS)
    cpi, _ = board_cpi(board)
    basis = f"{n:.0f} instructions from per-operation counts measured on the emulated {core}"
    if board.port != "qemu":
        basis += f", x {cpi:g} cycles per instruction at {board.clock_mhz:g} MHz"
    return LatencyEstimate(n * cpi / board.clock_mhz, counts["mac"] + counts["native_mac"],
                           True, basis, "multiply-adds", instructions=n, core=core), None
