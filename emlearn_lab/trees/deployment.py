"""TreeModel on a device: the files for a target and form, and its estimate on a board."""
import numpy as np

from ..exceptions import BuildError, InputError, UnsupportedModelError

__all__ = ["device_plan", "device_remedy", "board_estimate", "INLINE_MAX_NODES"]

# "auto" considers the inline form up to this many decision nodes (code grows with them).
INLINE_MAX_NODES = 4000


def device_plan(model, form: str, target, name: str, heap_free_bytes: int) -> tuple:
    """(form, bundle). "auto" takes inline when the device runs native code, inline is the
    faster form there (_inline_faster), the model has at most INLINE_MAX_NODES decision
    nodes and the inline module is under a quarter of the free heap (on a microcontroller
    native code is loaded into the heap), else loadable."""
    if form == "inline" and target.arch is None:
        raise InputError(f"form='inline' needs native code, which device target {target} "
                         "lacks; use form='loadable'")
    if form != "auto":
        return form, _bundle(form, model, target, name)
    from ..runtime.build import mpy_cross_binary
    note = None
    if _inline_faster(model, target.arch) and model.n_nodes <= INLINE_MAX_NODES \
            and mpy_cross_binary(target):
        try:
            bundle = _bundle("inline", model, target, name)
        except (BuildError, UnsupportedModelError) as e:
            note = f"form 'inline' unavailable ({str(e).splitlines()[0]}); chose loadable"
        else:
            code = sum(len(a.data) for a in bundle.files if a.role == "model_code")
            if code <= heap_free_bytes // 4:
                return "inline", bundle
    bundle = _bundle("loadable", model, target, name)
    bundle.notes += [note] if note else []
    return "loadable", bundle


def _inline_faster(model, arch) -> bool:
    """Whether the inline form beats the loadable one on a core `arch` (emulated-board and
    virtual-device benches, bench/README.md): viper inline beats the viper walker (x64,
    Xtensa), the Thumb-2 machine-code inline form beats the machine-code walker (Cortex-M3/
    M4/M7), but viper inline does not beat the machine-code walkers of the Cortex-M0 and
    RV32 (4 500 vs 3 080 and 3 780 vs 3 420 instructions on digits) at 4x their heap."""
    from ..runtime.rv32_walker import RV32_ARCHS
    from ..runtime.thumb_walker import THUMB_ARCHS
    from .inline_thumb import thumb_inline_supported
    if arch is None:
        return False
    return thumb_inline_supported(model, arch) or arch not in THUMB_ARCHS | RV32_ARCHS


def _bundle(form, model, target, name):
    if form == "inline":
        from ..runtime.inline_form import inline_bundle
        return inline_bundle(model, target, name)
    from ..runtime.artifacts import runtime_bundle
    return runtime_bundle(target, model, name)


def device_remedy(model, form: str) -> str:
    other = " or form='loadable' (data is smaller than code)" if form == "inline" else ""
    return f"Try fewer trees, a smaller max_leaf_nodes or a larger min_samples_leaf{other}"


def pipeline_input_error(model) -> str | None:
    if model.features == "int16" and model.quantiser is None:
        return ("a feature pipeline needs a float32-input model (the extractors' integer "
                "features are below 2**24, exact as float32): convert or compress it with "
                "features='float32'")
    return None


def board_estimate(model, board, form: str, bundle, X=None):
    """The Estimate of `model` deployed as (form, bundle) on `board`: files exact, heap from
    board_fit/memory.py, latency (native code only) from counted node visits on X, or the mean
    leaf depth without X."""
    from ..board_fit.cores import core_for
    from ..board_fit.estimate import Estimate, board_target, c_flash, machine_code_note, word_bytes
    from ..board_fit.latency import latency_estimate, leaf_values
    from ..board_fit.memory import heap_estimate
    from .inline import inline_layout
    arch = board_target(board).arch
    files = [(a.path, len(a.data)) for a in bundle.files]
    inline_info = inline_layout(model, arch=arch) if form == "inline" else None
    heap = heap_estimate(form, model, bundle.files, word_bytes(board), board.native_code_in_heap,
                         inline_info, core=core_for(board), arch=arch)
    notes = list(bundle.notes)
    latency = None
    if bundle.native:
        visits = model.node_visits(X).mean() if X is not None else _mean_leaf_depth(model)
        values = None if X is None else float(leaf_values(model, X, form, arch).mean())
        latency = latency_estimate(form, model, board, float(visits), counted=X is not None,
                                   values=values)
    else:
        notes.append("no latency estimate for bytecode kernels (calibrated for native code)")
    notes += machine_code_note(board, heap)
    n_trees, features = model.n_trees, model.features
    return Estimate(board=board, form=form, model=repr(model), files=files,
                    flash_bytes=sum(n for _, n in files),
                    fs_bytes=board.fs_used_bytes(n for _, n in files),
                    heap=heap, latency=latency, notes=notes,
                    c_flash=c_flash(model, board, "inline" if form == "inline" else "table"),
                    remedy_rule=lambda est: _remedy(est, n_trees, features))


def _mean_leaf_depth(model) -> float:
    """Decision nodes on the way to a leaf, averaged over each tree's leaves, summed over
    trees (every leaf weighted alike: the data-free stand-in for counted visits). Depth is
    carried down each tree: leaves are shared between trees, so it is not a per-leaf fact."""
    total = 0.0
    for root in model.roots:
        stack, depths = [(int(root), 0)], []
        while stack:
            n, d = stack.pop()
            if n >= model.n_nodes:
                depths.append(d)
            else:
                stack += [(int(model.left[n]), d + 1), (int(model.right[n]), d + 1)]
        total += float(np.mean(depths))
    return total


def _remedy(est, n_trees: int, features: str) -> str:
    """Concrete changes that would make the model fit, largest effect first."""
    from ..board_fit.estimate import HEAP_FIT_FRACTION, LARGEST_BLOCK_FRACTION
    b, heap, tips = est.board, est.heap, []
    if not est._block_fits:
        tips.append(f"its largest allocation, {est.heap.largest_block_bytes} B in one piece, is "
                    f"over {LARGEST_BLOCK_FRACTION:.0%} of the free heap and may not find a "
                    "contiguous block once the heap is in use (load it early, right after boot); "
                    "to be safe: " + ("form='loadable' (code split over functions)"
                                            if est.form == "inline" else "fewer or smaller trees"))
    if est.ram_fraction > HEAP_FIT_FRACTION:
        if est.form == "inline":
            where = "loaded into the heap on this port" if b.native_code_in_heap else "in RAM"
            tips.append(f"use form='loadable' (the model as data, not machine code, {where})")
            if features == "float32":
                tips.append("or int16 features (eml.convert(clf, features='int16') on integer "
                            "inputs): no threshold table, thresholds become immediates")
        room = int(b.heap_bytes * HEAP_FIT_FRACTION) - heap.fixed_bytes
        model_bytes = heap.buffer_bytes + heap.native_code_bytes
        if room > 0 and model_bytes > 0 and n_trees > 1:
            keep = int(n_trees * room / model_bytes)
            tips.append(f"at most {max(keep, 1)} of the {n_trees} trees (each takes about "
                        f"{model_bytes // n_trees} B of heap)")
        tips.append("smaller trees: lower max_leaf_nodes or raise min_samples_leaf")
        need = int(est.ram_bytes / HEAP_FIT_FRACTION)
        tips.append(f"or a board with at least {need} B free heap (the model takes "
                    f"{est.ram_bytes} B; {1 - HEAP_FIT_FRACTION:.0%} is kept as headroom; see "
                    "eml.fit_table(model))")
    if est.flash_fraction > 1.0:
        biggest = max(est.files, key=lambda f: f[1])
        tips.append(f"the files take {est.fs_bytes} B of filesystem, the board has "
                    f"{b.fs_bytes} B (largest: {biggest[0]}, {biggest[1]} B): fewer or smaller "
                    "trees" + (", or form='loadable'" if est.form == "inline" else ""))
    return "; ".join(tips)
