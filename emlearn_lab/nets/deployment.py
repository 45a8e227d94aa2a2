"""NetModel on a device: the files for a target, and its estimate on a board."""
from ..exceptions import InputError

__all__ = ["device_plan", "device_remedy", "board_estimate"]


def device_plan(model, form: str, target, name: str, heap_free_bytes: int) -> tuple:
    """("loadable", bundle): networks have one form (the network file read by the runtime)."""
    if form == "inline":
        raise InputError("form='inline' is for trees; networks deploy as 'loadable' (the "
                         "int8 kernel is native code already)")
    from ..runtime.artifacts import net_bundle
    return "loadable", net_bundle(target, model, name)


def device_remedy(model, form: str) -> str:
    return ("Try fewer or narrower hidden layers, or weights='int8' (4x smaller)"
            if model.int8 is None else "Try fewer or narrower hidden layers")


def board_estimate(model, board, form: str, bundle, X=None):
    """The Estimate of the network on `board`: files exact, heap and latency from
    board_fit/net_estimate.py."""
    from ..board_fit.cores import core_for
    from ..board_fit.estimate import Estimate, c_flash, machine_code_note, word_bytes
    from ..board_fit.net_estimate import net_heap, net_latency
    files = [(a.path, len(a.data)) for a in bundle.files]
    notes = list(bundle.notes)
    heap = net_heap(model, bundle.files, word_bytes(board), board.native_code_in_heap,
                    core=core_for(board))
    latency = net_latency(model, board, bundle.native, X)
    notes += machine_code_note(board, heap)
    if model.int8 is None and not bundle.native:
        notes.append("float32 weights run as bytecode on this core (exact float32, slow): "
                     "weights='int8' runs in the native kernel, ~100x faster")
    weights = model.weights
    return Estimate(board=board, form=form, model=repr(model), files=files,
                    flash_bytes=sum(n for _, n in files),
                    fs_bytes=board.fs_used_bytes(n for _, n in files), heap=heap,
                    latency=latency, notes=notes, c_flash=c_flash(model, board, "table"),
                    kind="network", remedy_rule=lambda est: _remedy(est, weights))


def _remedy(est, weights: str) -> str:
    from ..board_fit.estimate import board_tips
    tips = []
    if weights == "float32":
        tips.append("weights='int8' (eml.convert(net, weights='int8', X_calib=X_train): a "
                    "quarter of the weight bytes)")
    tips.append("fewer or narrower hidden layers (RAM grows with the number of weights)")
    return "; ".join(tips + board_tips(est))
