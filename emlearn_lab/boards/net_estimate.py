"""RAM and latency of a network (NetModel) on a board, in the same terms as the tree estimates
(memory.py, latency.py): buffers the loaded network keeps, counted exactly and rounded to GC
blocks; fixed costs (runtime modules, objects, per-layer objects) and per-operation times
measured on the virtual device by ``python -m emlearn_lab.boards.calibrate``.

What a loaded network keeps (device_src/emlnet*.py):
- int8: the network file as one bytes object (the kernel reads it in place), the layout table
  (int32, 8 + 8 per layer) and the work array (int32 scores + two activation buffers);
- float32: an array('f') of weights and biases per layer (the file is dropped after loading,
  but it is the largest single allocation while loading) and the outputs array; where the
  layers run as machine code (emlnet_fpu on an FPU core, emlnet_soft on ARMv7-M without
  one) also each layer's parameters (array('i') of 3) and each hidden layer's
  outputs.
Latency terms: one call, the input features, the multiply-accumulates, the neurons.
"""
from .latency import LatencyEstimate, board_latency
from .memory import HeapEstimate, assemble_heap, fixed_cost

__all__ = ["net_heap", "net_latency", "net_allocations", "net_work_counts", "NET_TERMS",
           "net_key"]

NET_TERMS = ("call", "feature", "mac", "neuron", "smooth_neuron")
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


def net_work_counts(model) -> dict:
    # Hidden sigmoid/tanh neurons: an exp each in float32 (bytecode even where an FPU runs the
    # layers: ~60 000 instructions on the Cortex-M4F against ~10 for ReLU), a table in int8.
    smooth = sum(la.n_out for la in model.layers[:-1] if la.activation in ("sigmoid", "tanh"))
    return {"call": 1.0, "feature": float(model.n_features), "mac": float(model.n_macs),
            "neuron": float(sum(la.n_out for la in model.layers)),
            "smooth_neuron": float(smooth)}


def net_latency(model, board, native: bool) -> LatencyEstimate | None:
    return board_latency(net_key(model, native), net_work_counts(model), board,
                         float(model.n_macs), True, unit="multiply-accumulates")
