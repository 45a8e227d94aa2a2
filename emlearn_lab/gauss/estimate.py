"""RAM and latency of a Gaussian detector (GaussModel) on a board.

RAM (``gauss_heap``): what emlab_tools.load measures as gc.mem_alloc() growth. The runtime
(emlab_common + emlgauss imported: bytecode, functions, qstrs) and the loaded detector's
objects (Gauss, its closure, six array objects) are fixed costs measured on the virtual
device (x64; ``bench/bench_gauss.py --device virtual`` prints both per model, and
tests/test_anomaly_gauss.py checks the estimate is an upper bound within RAM_MARGIN); on
32-bit boards they scale with the machine word except the bytecode (memory.assemble_heap).
The buffers follow from the model exactly: means float32[K*n], consts[K], the precision
factor, the difference row[n], log-probabilities[K] and the output[1], each rounded to whole
GC blocks. While loading, the file is read whole (the largest single allocation).

Latency (``gauss_latency``): instructions per predict from per-operation counts measured on
the emulated Cortex-M3 (single-precision soft float, bytecode), a least-squares fit over 12
GaussianMixture models: ``python3 bench/bench_gauss.py`` (writes
bench/results/gauss_cortex-m3.json). Other cores: None, with a note.
"""
from ..board_fit.memory import HeapEstimate, assemble_heap

__all__ = ["gauss_heap", "gauss_latency", "work_counts", "gauss_allocations", "TERMS",
           "M3_INSTRUCTIONS", "RUNTIME_X64_BYTES", "OBJECTS_X64_BYTES", "RAM_MARGIN"]

# gc.mem_alloc() growth on the virtual device (x64): importing emlab_common + emlgauss, and
# the loaded detector's objects beyond its buffers (928..960 B over 25 models).
RUNTIME_X64_BYTES = 12192
OBJECTS_X64_BYTES = 960
# The estimate is at least the measurement and at most this share above it (tested).
RAM_MARGIN = 0.10

TERMS = ("call", "log", "component", "exp", "feature", "mac", "column")
# Instructions per term on the emulated Cortex-M3 (bench/bench_gauss.py, MicroPython v1.28,
# bytecode with single-precision soft float; the fit is within 11% of each of its 12 models;
# e.g. 8 features, 4 components: diag 258 000, full 463 000 instructions per predict).
M3_INSTRUCTIONS = {"call": 7380.5, "log": 28182.3, "component": 3590.9, "exp": 24392.6,
                   "feature": 1912.0, "mac": 1477.2, "column": 1403.9}


def gauss_allocations(model) -> list:
    """Byte sizes of the buffers a loaded detector keeps."""
    n, k = model.n_features, model.n_components
    return [4 * k * n, 4 * k, 4 * model.factor.size, 4 * n, 4 * k, 4]


def gauss_heap(model, files, word_bytes: int) -> HeapEstimate:
    loaded = {a.path for a in files if a.path in ("emlab_common.mpy", "emlgauss.mpy")}
    return assemble_heap(RUNTIME_X64_BYTES + OBJECTS_X64_BYTES, files, loaded,
                         gauss_allocations(model), word_bytes, False,
                         at_load=(model.size_bytes,))


def work_counts(model) -> dict:
    """The work of one predict, per TERMS."""
    n, k = model.n_features, model.n_components
    tri = model.covariance_type in ("full", "tied")
    mixture = model.estimator == "mixture" and k > 1
    return {"call": 1.0, "log": float(mixture), "component": float(k),
            "exp": float(k if mixture else 0), "feature": float(k * n),
            "mac": float(k * model.n_factor), "column": float(k * n if tri else 0)}


def gauss_latency(model, board) -> tuple:
    """(LatencyEstimate or None, note or None)."""
    from ..board_fit.cores import board_cpi, core_for
    from ..board_fit.latency import LatencyEstimate
    core = core_for(board)
    if M3_INSTRUCTIONS is None or core != "cortex-m3" or board.clock_mhz <= 0:
        return None, ("latency: instruction counts for Gaussian detectors are measured on the "
                      "emulated Cortex-M3 only; no estimate for this core")
    counts = work_counts(model)
    n = sum(M3_INSTRUCTIONS[t] * counts[t] for t in TERMS)
    cpi, _ = board_cpi(board)
    basis = f"{n:.0f} instructions from per-operation counts measured on the emulated {core}"
    if board.port != "qemu":
        basis += f", x {cpi:g} cycles per instruction at {board.clock_mhz:g} MHz"
    return LatencyEstimate(n * cpi / board.clock_mhz, counts["mac"], True, basis,
                           "multiply-adds", instructions=n, core=core), None
