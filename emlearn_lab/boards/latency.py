"""Latency estimate: counted work times a cost per operation (an estimate, labelled as one).

Work per predict: one call (Python-level closure + viper kernel, argmax), features converted
to keys (all of them for the loadable form, the ones the model uses for inline),
decision-node visits (counted on the user's rows, or the mean leaf depth), one root and leaf
step per tree (leaf values summed).

Costs per operation are measured on the virtual device by ``python -m
emlearn_lab.boards.calibrate`` (a non-negative least-squares fit over models of varied size)
and stored in calibration.toml as host nanoseconds. On a microcontroller the host cycles are
scaled by CoreMark per MHz, host against board:

    cycles_board = ns_host * host_MHz / 1000 * (host CoreMark/MHz) / (board CoreMark/MHz)
    us = cycles_board / board clock MHz

The host's CoreMark/MHz is an assumption recorded in calibration.toml (its source there).
CoreMark captures integer pipelines and memory well and the interpreter's call overhead
less well; on real boards expect the figure to be off by up to about 2x, in either direction.
"""
from dataclasses import dataclass

from .memory import calibration

__all__ = ["LatencyEstimate", "latency_estimate", "scale_to_board", "work_counts", "TERMS"]

TERMS = ("call", "feature", "visit", "tree")


@dataclass
class LatencyEstimate:
    us: float
    visits: float             # decision nodes per predict (networks: multiply-accumulates)
    counted: bool             # counted on given rows (else mean leaf depth)
    basis: str
    unit: str = "node visits"

    def __str__(self) -> str:
        if self.unit != "node visits":
            how = f"{self.visits:.0f} {self.unit}"
        else:
            how = (f"{self.visits:.0f} node visits, "
                   + ("counted on the given rows" if self.counted
                      else "mean leaf depth, no rows given"))
        return f"{self.us:.3g} us per predict ({how}; {self.basis})"


def work_counts(form: str, model, visits: float) -> dict:
    features = model.n_features if form == "loadable" else len(set(int(f) for f in model.feature))
    return {"call": 1.0, "feature": float(features), "visit": float(visits),
            "tree": float(model.n_trees)}


def latency_estimate(form: str, model, board, visits: float, counted: bool):
    cal = calibration()["latency_x64"]
    counts = work_counts(form, model, visits)
    ns = sum(cal[form][term] * counts[term] for term in TERMS)
    return scale_to_board(ns, board, visits, counted)


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
    return LatencyEstimate(cycles / board.clock_mhz, visits, counted,
                           f"host costs scaled by CoreMark/MHz {cal['host_coremark_per_mhz']:g}"
                           f" (host) vs {board_per_mhz:.2f} ({board.core})", unit)
