"""RAM and latency of a network (NetModel) on a board, in the same terms as the tree estimates
(memory.py, latency.py): buffers the loaded network keeps, counted exactly and rounded to GC
blocks; fixed costs (runtime modules, objects, per-layer objects) and per-operation times
measured on the virtual device by ``python -m emlearn_lab.board_fit.calibrate``.

What a loaded network keeps (device_src/emlnet*.py):
- int8: the network file as one bytes object (the kernel reads it in place), the layout table
  (int32, 8 + 8 per layer) and the work array (int32 scores + two activation buffers);
- float32: an array('f') of weights and biases per layer (the file is dropped after loading,
  but it is the largest single allocation while loading) and the outputs array; where the
  layers run as machine code (emlnet_fpu on an FPU core, emlnet_soft on ARMv7-M without
  one) also each layer's parameters (array('i') of 3) and each hidden layer's
  outputs.
Latency terms: one call, the input features, the multiply-accumulates, those of a float32
network whose input is not zero (the integer soft-float layers skip a zero input in ~10
instructions, ~60 fewer than a multiply-add), the neurons, the sigmoid/tanh neurons.
"""
import numpy as np

from .latency import LatencyEstimate, board_latency
from .memory import HeapEstimate, assemble_heap, fixed_cost

__all__ = ["net_heap", "net_latency", "net_allocations", "net_work_counts", "nonzero_macs",
           "NET_TERMS", "net_key"]

NET_TERMS = ("call", "feature", "mac", "nonzero_mac", "neuron", "smooth_neuron")
# The network runtime's machine-code modules: the int8 kernel, the float32 layers on an FPU
# and in integer code.
NATIVE_NET_MODULES = ("emlnet_kernels.mpy", "emlnet_fpu.mpy", "emlnet_soft.mpy")


def _align4(n: int) -> int:
    return (n + 3) & ~3


def net_key(model, native: bool) -> str:
    """Calibration key: net_int8 (native kernel), net_int8_bytecode, net_float32 (bytecode; on a
    core with an FPU its kernel, which the emulated Cortex-M4F measures)."""
    if model.int8 is None:
        return "net_float32"
    return "net_int8" if native else "net_int8_bytecode"


def net_allocations(model, native: bool = False) -> list:
    """Byte sizes of the model-sized allocations a loaded network keeps (native: the int8
    kernel, or for float32 weights the machine-code layers: emlnet_fpu or emlnet_soft)."""
    if model.int8 is not None:
        width = max([model.n_features] + [la.n_out for la in model.layers])
        return [model.size_bytes, 4 * (8 + 8 * len(model.layers)),
                4 * (model.n_outputs + 2 * (_align4(width) // 4))]
    sizes = []
    for la in model.layers:
        sizes.append(4 * (la.n_in * la.n_out + la.n_out))
        if native:
            sizes.append(12)
    if native:
        sizes += [4 * la.n_out for la in model.layers[:-1]]
    return sizes + [4 * model.n_outputs]


def net_heap(model, files, word_bytes: int, native_code_in_heap: bool,
             core: str | None = None) -> HeapEstimate:
    native = any(a.path in NATIVE_NET_MODULES for a in files)
    key = net_key(model, native)
    skip = {"emlab_tools.mpy"} | ({"emlnet_pure.mpy"} if native else set())
    loaded = {a.path for a in files if a.path.endswith(".mpy")} - skip
    # The network file is read whole while loading.
    (fixed, word), (per_layer, word2) = fixed_cost(key, core), fixed_cost(key + "_per_layer",
                                                                            core)
    if word != word2:
        (fixed, word), (per_layer, _) = fixed_cost(key), fixed_cost(key + "_per_layer")
    return assemble_heap(fixed + per_layer * len(model.layers), files, loaded,
                         net_allocations(model, native), word_bytes, native_code_in_heap,
                         at_load=(model.size_bytes,), fixed_word_bytes=word)


def nonzero_macs(model, X=None) -> float:
    """Multiply-accumulates of a float32 network whose input is not zero, for the median row
    of X (the device reports the median), from the host's own float32 layers; every one
    without X (an upper bound). 0 for int8 weights (their kernel's cost does not depend on
    the values)."""
    if model.int8 is not None:
        return 0.0
    if X is None:
        return float(model.n_macs)
    from ..nets import float32 as f32
    a = model.check_X(X)
    count = np.zeros(len(a))
    with np.errstate(all="ignore"):
        for i, layer in enumerate(model.layers):
            count += np.count_nonzero(a, axis=1) * layer.n_out
            if i < len(model.layers) - 1:
                a = f32.activate(f32.dense(a, layer.weights, layer.bias), layer.activation)
    return float(np.median(count))


def net_work_counts(model, X=None) -> dict:
    """Work of one predict (NET_TERMS); X: rows the non-zero inputs are counted on."""
    # Hidden sigmoid/tanh neurons: an exp each in float32 (bytecode even where an FPU runs the
    # layers: ~60 000 instructions on the Cortex-M4F against ~10 for ReLU), a table in int8.
    smooth = sum(la.n_out for la in model.layers[:-1] if la.activation in ("sigmoid", "tanh"))
    return {"call": 1.0, "feature": float(model.n_features), "mac": float(model.n_macs),
            "nonzero_mac": nonzero_macs(model, X),
            "neuron": float(sum(la.n_out for la in model.layers)),
            "smooth_neuron": float(smooth)}


def net_latency(model, board, native: bool, X=None) -> LatencyEstimate | None:
    return board_latency(net_key(model, native), net_work_counts(model, X), board,
                         float(model.n_macs), True, unit="multiply-accumulates")
