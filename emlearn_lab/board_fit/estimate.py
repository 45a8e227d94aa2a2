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

from typing import Callable

from .._kv_report import kv_html, kv_text
from ..runtime.build import Target
from ..runtime.plan import check_form, plan
from .cores import core_for
from .latency import LatencyEstimate
from .memory import HeapEstimate
from .table import Board, get_board

__all__ = ["Estimate", "estimate", "deploy_plan", "MPY_TARGET", "HEAP_FIT_FRACTION",
           "board_tips",
           "LARGEST_BLOCK_FRACTION", "TIGHT_BLOCK_FRACTION", "board_target", "word_bytes",
           "c_flash", "machine_code_note"]

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
    notes: list = field(default_factory=list)
    c_flash: object = None         # CFlashEstimate of the C export (Cortex-M boards) or None
    kind: str = "trees"            # or "network"
    # The model kind's advice for an estimate that does not fit (Model.board_estimate sets it).
    remedy_rule: Callable | None = field(default=None, repr=False, compare=False)

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
        if self.fits or self.remedy_rule is None:
            return ""
        return self.remedy_rule(self)

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
    check_form(form, "eml.estimate")
    board = get_board(board)
    from sklearn.pipeline import Pipeline
    if isinstance(model, Pipeline):
        return _pipeline_estimate(model, board, form, X, name)
    from ..conversion import convert
    model = convert(model)
    chosen, bundle = deploy_plan(model, board, form, name)
    return model.board_estimate(board, chosen, bundle, X)


def board_tips(est) -> list:
    """The last tips of every kind's remedy: a board with more free heap (when the RAM or its
    largest block is what does not fit) and the filesystem's figures (when the files do
    not fit)."""
    tips = []
    if est.ram_fraction > HEAP_FIT_FRACTION or not est._block_fits:
        need = int(est.ram_bytes / HEAP_FIT_FRACTION)
        tips.append(f"or a board with at least {need} B free heap (see eml.fit_table(model))")
    if est.flash_fraction > 1.0:
        tips.append(f"the files take {est.fs_bytes} B of filesystem, the board has "
                    f"{est.board.fs_bytes} B")
    return tips


def machine_code_note(board: Board, heap: HeapEstimate) -> list:
    """[a note] when the board's port keeps machine code outside the GC heap, else []."""
    if not board.native_code_in_heap and heap.machine_code_bytes and not board.virtual:
        return [f"this port keeps {heap.machine_code_bytes} B of machine code outside the "
                "GC heap (executable RAM, not counted in RAM)"]
    return []


_FX_RUNTIME_BYTES_X64 = 3600
_FX_EXTRACTOR_BYTES_X64 = 11000


def _pipeline_estimate(pipe, board: Board, form: str, X, name: str) -> Estimate:
    """A Pipeline(extractor(s), model): the model's estimate (latency on the extractors'
    features of X) plus the extractors' files (exact, compiled for the board) and buffers
    (the arrays their device objects allocate, built here from the same source)."""
    import dataclasses

    from ..features.pipeline import split_pipeline
    from ..runtime.feature_bundle import feature_bundle
    extractors, estimator = split_pipeline(pipe)
    features = None if X is None else np.hstack([e.transform(X) for e in extractors])
    est = estimate(estimator, board, form, features, name=name)
    have = {path for path, _ in est.files}
    fx_files = [a for a in feature_bundle(board_target(board), extractors, name).files
                if a.path not in have]
    extra = [(a.path, len(a.data)) for a in fx_files]
    natives = {a.path for a in fx_files if a.is_native}
    buffers = [b for e in extractors for b in _buffer_sizes(e._build())]
    native = sum(n for path, n in extra if path in natives)
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


def c_flash(model, board: Board, form: str):
    """The C export's flash estimate on the board's core (Cortex-M), or None."""
    from ..export.c_estimate import c_flash_estimate
    cpu = c_cpu(board)
    return None if cpu is None else c_flash_estimate(model, cpu=cpu, form=form)


def deploy_plan(model, board: Board, form: str = "auto", name: str = "model"):
    """(form, Bundle): what deploy would choose and write on this board (its heap decides
    "auto"), with the runtime compiled for the board's architecture."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # the fallbacks are in bundle.notes
        return plan(model, form, board_target(board), name, board.heap_bytes)
