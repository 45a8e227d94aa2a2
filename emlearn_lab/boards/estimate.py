"""eml.estimate: flash, RAM and latency of a model on a board, and whether it fits.

- flash: the exact bytes deploy would write: runtime .mpy files compiled with mpy-cross for
  the board's architecture, plus the model file (loadable) or the compiled model (inline),
  plus the tie file; and the filesystem space they take in whole blocks.
- RAM: see memory.py (checked against gc.mem_alloc() on the virtual device).
- latency: an estimate, counted work x cost per operation (see latency.py).
"""
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._kv_report import kv_html, kv_text
from ..build import Target
from ..exceptions import InputError
from ..nets.model import NetModel
from ..trees.inline import inline_layout
from .cores import core_for
from .latency import LatencyEstimate, latency_estimate, leaf_values
from .memory import HeapEstimate, heap_estimate
from .table import Board, get_board

__all__ = ["Estimate", "estimate", "deploy_plan", "MPY_TARGET", "HEAP_FIT_FRACTION",
           "LARGEST_BLOCK_FRACTION", "TIGHT_BLOCK_FRACTION"]

# Boards are assumed to run MicroPython 1.23 or later (.mpy v6.3); older firmware loads the
# same files once rebuilt for it, with sizes within a few bytes.
MPY_TARGET = (6, 3)
# A model fits when it takes at most this share of the board's typical free heap. The rest is
# headroom: the model file's blob (or the inline code) needs one contiguous block, loading
# makes short-lived allocations, and the application needs memory too. In
# bench/bench_estimates.py a model estimated (and measured) at 87% of the free heap failed to
# load for want of a contiguous block.
HEAP_FIT_FRACTION = 0.8
# ... and its largest single allocation (the blob, the threshold table, or on ARM ports the
# machine code of one function) at most this share: a heap that has been in use is
# fragmented. In the bench, an 18 kB blob failed to allocate with 46 kB free (39%) after
# deploy's file transfers, and loaded with 54 kB free (33%) on a fresh device.
LARGEST_BLOCK_FRACTION = 0.25
# Up to this share the verdict is "tight" (loads on a fresh heap: every model up to 51% loaded
# right after boot in the bench) rather than "does not fit".
TIGHT_BLOCK_FRACTION = 0.5
_FORMS = ("auto", "loadable", "inline")


@dataclass
class Estimate:
    board: Board
    form: str
    model: str
    files: list                    # (device path, bytes) that deploy writes
    flash_bytes: int               # sum of file sizes: exact
    fs_bytes: int                  # filesystem space (whole blocks)
    heap: HeapEstimate
    latency: LatencyEstimate | None
    n_trees: int = 1
    features: str = "float32"
    notes: list = field(default_factory=list)
    c_flash: object = None         # CFlashEstimate of the C export (Cortex-M boards) or None
    kind: str = "trees"            # or "network"
    weights: str = ""              # networks: "float32" or "int8"

    @property
    def ram_bytes(self) -> int:
        return self.heap.total_bytes

    @property
    def latency_us(self) -> float | None:
        return None if self.latency is None else self.latency.us

    @property
    def ram_fraction(self) -> float:
        """Share of the board's typical free heap the model takes."""
        return self.ram_bytes / self.board.heap_bytes

    @property
    def flash_fraction(self) -> float:
        """Share of the board's MicroPython filesystem the files take."""
        return self.fs_bytes / self.board.fs_bytes

    @property
    def fits(self) -> bool:
        """RAM within HEAP_FIT_FRACTION of the free heap, its largest allocation within
        LARGEST_BLOCK_FRACTION, and the files within the filesystem."""
        return (self.ram_fraction <= HEAP_FIT_FRACTION and self._block_fits
                and self.flash_fraction <= 1.0)

    @property
    def tight(self) -> bool:
        """Does not fit by the margins above, but would load on an unfragmented heap."""
        return (not self.fits and self.ram_fraction <= HEAP_FIT_FRACTION
                and self.flash_fraction <= 1.0
                and self.heap.largest_block_bytes <= TIGHT_BLOCK_FRACTION * self.board.heap_bytes)

    @property
    def verdict(self) -> str:
        return "fits" if self.fits else "tight" if self.tight else "does not fit"

    @property
    def _block_fits(self) -> bool:
        return self.heap.largest_block_bytes <= LARGEST_BLOCK_FRACTION * self.board.heap_bytes

    @property
    def remedy(self) -> str:
        """What to change when the model does not fit ("" when it fits)."""
        return _remedy(self) if not self.fits else ""

    def rows(self) -> list:
        b = self.board
        out = [("board", f"{b.name} ({b.id}: {b.mcu}, {b.core} {b.clock_mhz:g} MHz, "
                         f"{b.arch})"),
               ("model", self.model), ("form", self.form),
               ("flash", f"{self.flash_bytes} B in {len(self.files)} files, {self.fs_bytes} B "
                         f"of filesystem ({self.flash_fraction:.1%} of {b.fs_bytes} B)"),
               ("RAM", f"{self.ram_bytes} B ({self.ram_fraction:.1%} of a typical "
                       f"{b.heap_bytes} B free heap): runtime+objects {self.heap.fixed_bytes}"
                       f" B ({_fixed_basis(b)}), buffers {self.heap.buffer_bytes} B, machine "
                       f"code {self.heap.native_code_bytes} B")]
        if self.latency is not None:
            out.append(("latency (estimate)", str(self.latency)))
        if self.c_flash is not None:
            c = self.c_flash
            out.append(("C firmware flash", f"~{c.flash_bytes} B ({c.form} form, {c.cpu} "
                                            f"build, estimated: {c.data_bytes} B tables + "
                                            f"~{c.code_bytes} B code; eml.c_size for the "
                                            "real figure)"))
        verdict = "fits" if self.fits else \
            f"{'TIGHT' if self.tight else 'DOES NOT FIT'}: {self.remedy}"
        if self.fits and self.ram_fraction > HEAP_FIT_FRACTION / 2:
            verdict += " (over half the headroom-adjusted heap: little left for the application)"
        out.append(("verdict", verdict))
        return out

    def __str__(self) -> str:
        return kv_text(self.rows(), notes=self.notes)

    def _repr_html_(self) -> str:
        return kv_html(self.rows(), notes=self.notes)


def _fixed_basis(board: Board) -> str:
    from .cores import instructions
    core = core_for(board)
    if core and core in instructions().get("heap", {}):
        return f"measured on the emulated {core}"
    return "measured on the virtual device" + ("" if word_bytes(board) == 8
                                                else ", scaled to 32-bit words")


def board_target(board: Board) -> Target:
    return Target(MPY_TARGET[0], MPY_TARGET[1], None if board.arch == "none" else board.arch)


def word_bytes(board: Board) -> int:
    """Machine word of the board's MicroPython: 8 on 64-bit ports (the virtual device)."""
    return 8 if board.arch in ("x64", "rv64imc") or board.virtual else 4


def estimate(model, board="rp2040-pico", form="auto", X=None, *, name="model") -> Estimate:
    """Flash, RAM and latency of `model` on `board`, and whether it fits.

    Parameters
    ----------
    model : TreeModel, NetModel, a fitted estimator eml.convert accepts, or a Pipeline
        A fitted ``Pipeline(eml.features extractor(s), model)``: the model plus the
        extractors' files and window buffers; X are then windows.
    board : str or Board
        A board id from ``eml.boards()``; unknown ids raise with close matches.
    form : {"auto", "loadable", "inline"}
        As in ``dev.deploy``; "auto" picks what deploy would pick on this board.
    X : array-like, optional
        Rows the latency estimate counts node visits on. Without it, the latency counts the
        average depth of the trees' leaves.
    name : str
        Device file names, as in deploy.

    Returns
    -------
    Estimate
        ``flash_bytes``, ``ram_bytes``, ``latency_us``, ``fits``, ``remedy``.
    """
    if form not in _FORMS:
        raise InputError(f"form must be one of {_FORMS}, got {form!r}")
    board = get_board(board)
    from sklearn.pipeline import Pipeline
    if isinstance(model, Pipeline):
        return _pipeline_estimate(model, board, form, X, name)
    from ..device.deploy import _as_model
    model = _as_model(model)
    chosen, bundle = deploy_plan(model, board, form, name)
    if isinstance(model, NetModel):
        return _net_estimate(model, board, chosen, bundle, X)
    files = [(a.path, len(a.data)) for a in bundle.files]
    inline_info = (inline_layout(model, arch=board_target(board).arch) if chosen == "inline"
                   else None)
    heap = heap_estimate(chosen, model, bundle.files, word_bytes(board),
                         board.native_code_in_heap, inline_info, core=core_for(board),
                         arch=board_target(board).arch)
    notes = list(bundle.notes)
    latency = None
    if bundle.native:
        visits = model.node_visits(X).mean() if X is not None else _mean_leaf_depth(model)
        values = None if X is None else float(
                leaf_values(model, X, chosen, board_target(board).arch).mean())
        latency = latency_estimate(chosen, model, board, float(visits), counted=X is not None,
                                   values=values)
    else:
        notes.append("no latency estimate for bytecode kernels (calibrated for native code)")
    if not board.native_code_in_heap and heap.machine_code_bytes and not board.virtual:
        notes.append(f"this port keeps {heap.machine_code_bytes} B of machine code outside the "
                     "GC heap (executable RAM, not counted in RAM)")
    return Estimate(board=board, form=chosen, model=repr(model), files=files,
                    flash_bytes=sum(n for _, n in files),
                    fs_bytes=board.fs_used_bytes(n for _, n in files),
                    heap=heap, latency=latency, n_trees=model.n_trees,
                    features=model.features, notes=notes,
                    c_flash=_c_flash(model, board, "inline" if chosen == "inline" else "table"))


_FX_RUNTIME_BYTES_X64 = 3600
_FX_EXTRACTOR_BYTES_X64 = 11000


def _pipeline_estimate(pipe, board: Board, form: str, X, name: str) -> Estimate:
    """A Pipeline(extractor(s), model): the model's estimate (latency on the extractors'
    features of X) plus the extractors' files (exact, compiled for the board) and buffers
    (the arrays their device objects allocate, built here from the same source)."""
    import dataclasses

    from ..device.features import feature_bundle, split_pipeline
    extractors, estimator = split_pipeline(pipe)
    features = None if X is None else np.hstack([e.transform(X) for e in extractors])
    est = estimate(estimator, board, form, features, name=name)
    have = {path for path, _ in est.files}
    extra = [(a.path, len(a.data)) for a in feature_bundle(board_target(board), extractors,
                                                           name).files if a.path not in have]
    buffers = [b for e in extractors for b in _buffer_sizes(e._build())]
    native = sum(n for path, n in extra if path.startswith("emlfx_") and path.endswith(".mpy"))
    # The feature runtime's import and each extractor's module and objects: allowances from
    # gc.mem_alloc() on the virtual device (64-bit words: 3.6 KB; 5.7-11 KB per extractor),
    # scaled to the board's word size.
    fixed = (_FX_RUNTIME_BYTES_X64 + _FX_EXTRACTOR_BYTES_X64 * len(extractors)) \
        * word_bytes(board) // 8
    heap = dataclasses.replace(
        est.heap, fixed_bytes=est.heap.fixed_bytes + fixed,
        buffer_bytes=est.heap.buffer_bytes + sum(buffers),
        native_code_bytes=est.heap.native_code_bytes + (native if board.native_code_in_heap
                                                        else 0),
        largest_block_bytes=max([est.heap.largest_block_bytes] + buffers),
        machine_code_bytes=est.heap.machine_code_bytes + native)
    files = est.files + extra
    notes = est.notes + [f"feature extractors: {sum(n for _, n in extra)} B of files, "
                         f"{sum(buffers)} B of window buffers + an allowance of {fixed} B for "
                         "their modules and objects; the latency is the model's alone (time "
                         "the features on a device with dev.check_features)"]
    return dataclasses.replace(est, model=f"{' + '.join(map(repr, extractors))} -> {est.model}",
                               files=files, flash_bytes=sum(n for _, n in files),
                               fs_bytes=board.fs_used_bytes(n for _, n in files), heap=heap,
                               notes=notes)


def _buffer_sizes(obj, depth: int = 0) -> list:
    """Byte sizes of the arrays a device-side extractor object holds (and its input stage)."""
    import array
    sizes = []
    for value in vars(obj).values():
        if isinstance(value, array.array):
            sizes.append(value.itemsize * len(value))
        elif hasattr(value, "__dict__") and depth < 2 and type(value).__module__.startswith(
                "emlearn_lab.device_src"):
            sizes += _buffer_sizes(value, depth + 1)
    return sizes


def _net_estimate(model, board: Board, form: str, bundle, X=None) -> Estimate:
    from .net_estimate import net_heap, net_latency
    files = [(a.path, len(a.data)) for a in bundle.files]
    notes = list(bundle.notes)
    heap = net_heap(model, bundle.files, word_bytes(board), board.native_code_in_heap,
                    core=core_for(board))
    latency = net_latency(model, board, bundle.native, X)
    if not board.native_code_in_heap and heap.machine_code_bytes and not board.virtual:
        notes.append(f"this port keeps {heap.machine_code_bytes} B of machine code outside the "
                     "GC heap (executable RAM, not counted in RAM)")
    if model.int8 is None and not bundle.native:
        notes.append("float32 weights run as bytecode on this core (exact float32, slow): "
                     "weights='int8' runs in the native kernel, ~100x faster")
    return Estimate(board=board, form=form, model=repr(model), files=files,
                    flash_bytes=sum(n for _, n in files),
                    fs_bytes=board.fs_used_bytes(n for _, n in files), heap=heap,
                    latency=latency, n_trees=0, features="float32", notes=notes,
                    c_flash=_c_flash(model, board, "table"), kind="network",
                    weights=model.weights)


def _net_remedy(est: "Estimate") -> str:
    tips = []
    if est.weights == "float32":
        tips.append("weights='int8' (eml.convert(net, weights='int8', X_calib=X_train): a "
                    "quarter of the weight bytes)")
    tips.append("fewer or narrower hidden layers (RAM grows with the number of weights)")
    if est.ram_fraction > HEAP_FIT_FRACTION or not est._block_fits:
        need = int(est.ram_bytes / HEAP_FIT_FRACTION)
        tips.append(f"or a board with at least {need} B free heap (see eml.fit_table(model))")
    if est.flash_fraction > 1.0:
        tips.append(f"the files take {est.fs_bytes} B of filesystem, the board has "
                    f"{est.board.fs_bytes} B")
    return "; ".join(tips)


def c_cpu(board: Board) -> str | None:
    """The C build c_size / c_flash_estimate model for a board's core: Cortex-M0+ as
    cortex-m0plus; Cortex-M4F, M33 and M7 as cortex-m4f (same Thumb-2 code, near enough for
    flash); None for other cores."""
    core = board.core.replace(" ", "").lower()
    if core.startswith("cortex-m0"):
        return "cortex-m0plus"
    if core.startswith(("cortex-m4", "cortex-m33", "cortex-m7")):
        return "cortex-m4f"
    return None


def _c_flash(model, board: Board, form: str):
    from ..export.c_estimate import c_flash_estimate
    cpu = c_cpu(board)
    return None if cpu is None else c_flash_estimate(model, cpu=cpu, form=form)


def deploy_plan(model, board: Board, form: str = "auto", name: str = "model"):
    """(form, Bundle): what deploy would choose and write on this board (its heap decides
    "auto"), with the runtime compiled for the board's architecture."""
    from ..device.deploy import _choose
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # the fallbacks are in bundle.notes
        return _choose(form, model, board_target(board), name, board.heap_bytes)


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


def _remedy(est: "Estimate") -> str:
    """Concrete changes that would make the model fit, largest effect first."""
    if est.kind == "network":
        return _net_remedy(est)
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
            if est.features == "float32":
                tips.append("or int16 features (eml.convert(clf, features='int16') on integer "
                            "inputs): no threshold table, thresholds become immediates")
        room = int(b.heap_bytes * HEAP_FIT_FRACTION) - heap.fixed_bytes
        model_bytes = heap.buffer_bytes + heap.native_code_bytes
        if room > 0 and model_bytes > 0 and est.n_trees > 1:
            keep = int(est.n_trees * room / model_bytes)
            tips.append(f"at most {max(keep, 1)} of the {est.n_trees} trees (each takes about "
                        f"{model_bytes // est.n_trees} B of heap)")
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
