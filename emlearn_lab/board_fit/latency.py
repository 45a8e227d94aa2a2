"""Latency estimate: counted work times a cost per operation (an estimate, labelled as one).

Work per predict: one call (Python-level closure + viper kernel, argmax), features converted
to keys (all of them for the loadable form, the ones the model uses for inline),
decision-node visits (counted on the user's rows, or the mean leaf depth), one root and leaf
step per tree (leaf values summed). Networks: call, features, multiply-accumulates, neurons.

Microcontroller boards with an emulated core of their family (cores.py: Cortex-M0, M3, M4F,
RV32IMC) use instructions per operation measured on that core (``python -m
emlearn_lab.board_fit.calibrate_mcu``, stored in instructions.toml), times the board's cycles
per instruction (its ``cpi`` figure: core timings plus flash wait states at its clock, with a
source), divided by its clock:

    us = instructions x cpi / clock MHz

The instruction count is what the emulated board measures (exact); the cycles per instruction
is the uncertain part (caches, wait states, the mix of loads and branches): expect real boards
within about 30%.

Other boards (Xtensa, which has no emulated core; the virtual device) use host nanoseconds per
operation measured on the virtual device (``python -m emlearn_lab.board_fit.calibrate``,
calibration.toml), scaled by CoreMark per MHz, host against board, and say so:

    cycles_board = ns_host * host_MHz / 1000 * (host CoreMark/MHz) / (board CoreMark/MHz)

The host's CoreMark/MHz is an assumption recorded in calibration.toml (its source there); on
real boards expect that figure to be off by up to about 2x, in either direction.
"""
from dataclasses import dataclass

import numpy as np

from .memory import calibration

__all__ = ["LatencyEstimate", "latency_estimate", "scale_to_board", "board_latency",
           "work_counts", "leaf_values", "TERMS", "MCU_TERMS"]

TERMS = ("call", "feature", "visit", "visit_packed", "visit_table", "tree")
MCU_TERMS = ("call", "input", "visit_float32", "visit_int16", "visit_packed", "visit_table",
             "tree", "output", "leaf_value", "quantised_feature", "regressor", "ties")


@dataclass
class LatencyEstimate:
    us: float
    visits: float             # decision nodes per predict (networks: multiply-accumulates)
    counted: bool             # counted on given rows (else mean leaf depth)
    basis: str
    unit: str = "node visits"
    instructions: float | None = None   # per predict, where measured on an emulated core
    core: str | None = None             # that emulated core

    def __str__(self) -> str:
        if self.unit != "node visits":
            how = f"{self.visits:.0f} {self.unit}"
        else:
            how = (f"{self.visits:.0f} node visits, "
                   + ("counted on the given rows" if self.counted
                      else "mean leaf depth, no rows given"))
        return f"~{self.us:.3g} µs per predict (estimate; {how}; {self.basis})"


def leaf_values(model, X=None, form: str | None = None, arch: str | None = None):
    """Leaf values added per predict: per row of X (an array), or without X the average over
    the model's leaves (a float). Compressed models store leaves densely (every output of the
    leaf is added), the others sparsely (its non-zero values); the loadable Thumb walkers
    (form "loadable" on an ``arch`` of thumb_walker.THUMB_ARCHS) add only the non-zero values
    of dense leaves too."""
    from ..runtime.thumb_walker import THUMB_ARCHS
    from ..trees.modelfile import dense_leaves
    dense = dense_leaves(model) and not (form == "loadable" and arch in THUMB_ARCHS)
    if X is None:
        per_leaf = model.n_outputs if dense else float(np.mean(
            np.count_nonzero(model.leaves, axis=1)))
        return float(model.n_trees * per_leaf)
    leaf = model.apply(X)
    if dense:
        return np.full(len(leaf), model.n_trees * model.n_outputs, dtype=float)
    return np.count_nonzero(model.leaves[leaf], axis=2).sum(axis=1).astype(float)


def work_counts(form: str, model, visits: float, values: float | None = None,
                arch: str | None = None) -> dict:
    """Work of one predict. TERMS are what the host calibration fits (calibrate.py); the
    emulated cores' fit (calibrate_mcu.py) uses MCU_TERMS: every input feature (both forms
    convert all of them to keys), decision-node visits of float32 and of int16 models (int16
    thresholds are cheaper to compare inline), the extra work of a visit to a packed node
    (the loadable form of a model whose file has packed nodes: its fields are unpacked at
    each visit, see trees/packing.py) and of reading its threshold from the per-feature
    table, trees, outputs (zeroed, compared), leaf values
    added, features quantised by a learned int16 scale, and the extra work of a regressor's
    result and of a forest that keeps its float64 tie-breaking probabilities. arch: the
    core's mpy-cross -march; on Thumb-2 cores the inline form of a learned-scale int16 model
    compares float32 bits and quantises nothing (trees/inline_thumb.py), nor does the
    loadable form on every Thumb core (float32 keys per node, runtime/thumb_walker.py)."""
    from ..runtime.thumb_walker import THUMB_ARCHS
    from ..trees.inline_thumb import thumb_inline_supported
    from ..trees.modelfile import file_packing
    packing = file_packing(model) if form == "loadable" else None
    features = model.n_features if form == "loadable" else len(set(int(f) for f in model.feature))
    as_float = (form == "inline" and thumb_inline_supported(model, arch)) or (
        form == "loadable" and model.quantiser is not None and arch in THUMB_ARCHS)
    int16 = model.features == "int16" and not as_float
    quantised = model.quantiser is not None and not as_float
    return {"call": 1.0, "feature": float(features), "visit": float(visits),
            "visit_packed": float(visits) if packing else 0.0,
            "visit_table": float(visits) if packing and packing.table else 0.0,
            "tree": float(model.n_trees),
            "input": float(model.n_features),
            "visit_float32": 0.0 if int16 else float(visits),
            "visit_int16": float(visits) if int16 else 0.0,
            "output": float(model.n_outputs),
            "leaf_value": float(leaf_values(model, form=form, arch=arch) if values is None
                                else values),
            "quantised_feature": float(model.n_features if quantised else 0),
            "regressor": 1.0 if model.kind == "regressor" else 0.0,
            "ties": 1.0 if model.leaf_proba is not None else 0.0}


def latency_estimate(form: str, model, board, visits: float, counted: bool,
                     values: float | None = None):
    """values: leaf values added per predict (leaf_values), the model's average if None."""
    arch = None if board.arch == "none" else board.arch
    return board_latency(form, work_counts(form, model, visits, values, arch), board, visits,
                         counted)


def board_latency(key: str, counts: dict, board, visits: float, counted: bool,
                  unit: str = "node visits") -> LatencyEstimate | None:
    """The estimate for work ``counts`` of runtime ``key`` (loadable, inline, net_int8, ...):
    from instructions measured on the board's emulated core where there is one, else from
    host costs scaled by CoreMark/MHz."""
    from .cores import board_cpi, core_for, instructions
    core = core_for(board)
    per_op = instructions().get("latency", {}).get(core or "", {}).get(key)
    if per_op is not None and board.clock_mhz > 0:
        n = sum(per_op.get(t, 0.0) * counts[t] for t in counts)
        cpi, source = board_cpi(board)
        basis = (f"{n:.0f} instructions from per-operation counts measured on the emulated "
                 f"{core}")
        if board.port != "qemu":
            basis += f", x {cpi:g} cycles per instruction at {board.clock_mhz:g} MHz"
        return LatencyEstimate(n * cpi / board.clock_mhz, visits, counted, basis, unit,
                               instructions=n, core=core)
    cal = calibration()["latency_x64"]
    ns = sum(cal[key].get(t, 0.0) * counts[t] for t in counts)
    return scale_to_board(ns, board, visits, counted, unit)


def scale_to_board(ns: float, board, visits: float, counted: bool,
                   unit: str = "node visits") -> LatencyEstimate | None:
    """Host nanoseconds on the virtual device -> microseconds on the board (CoreMark/MHz)."""
    cal = calibration()["latency_x64"]
    if board.virtual or board.clock_mhz <= 0:
        return LatencyEstimate(ns / 1000.0, visits, counted,
                               "host costs measured on the virtual device", unit)
    if board.coremark <= 0:
        return None
    host_cycles = ns * cal["host_mhz"] / 1000.0
    board_per_mhz = board.coremark / board.clock_mhz
    cycles = host_cycles * cal["host_coremark_per_mhz"] / board_per_mhz
    why = "no emulated core for " + board.arch if board.arch in ("xtensa", "xtensawin") \
        else "no instruction counts for this core"
    return LatencyEstimate(cycles / board.clock_mhz, visits, counted,
                           f"{why}: host costs scaled by CoreMark/MHz "
                           f"{cal['host_coremark_per_mhz']:g} (host) vs {board_per_mhz:.2f} "
                           f"({board.core})", unit)
