"""How much work to give a device at once, and how long to wait for it.

Sized from what the device itself measured (microseconds per row, with ``time.ticks_us``
around its own loop) and from its limits (free filesystem), never from the host's speed or a
guess about the board's: a board at 125 MIPS and the virtual device on a fast PC get the
same device time per call. Until a model has run a row on this device, its rows go one at a
time first (a probe with a generous timeout), then in batches sized from that figure.
"""
from __future__ import annotations

from contextlib import nullcontext

__all__ = ["timeout_s", "bench_plan", "run_batches", "items_that_fit", "remove_scratch", "DATA_PATHS", "FIRST_ROW_TIMEOUT_S"]

BASE_TIMEOUT_S = 20.0        # a round trip, opening files, a collection on a slow board
SLACK = 4.0                  # x the device time the job should take
FIRST_ROW_TIMEOUT_S = 60.0   # one row of a model never run on this device
BATCH_DEVICE_S = 5.0         # device time per batch of rows, once measured
BATCH_MAX_BYTES = 32 * 1024  # rows + results per batch: a small file any board's fs takes
BENCH_BUDGET_S = 2.0         # device time that timing one model may take

# Scratch files on the device (rows to run and their results): removed after use, and before
# a deploy measures the free filesystem.
DATA_PATHS = ("_emlab_x.bin", "_emlab_out.bin", "_emlab_w.bin", "_emlab_fout.bin",
              "_emlab_bench.bin", "_emlab_live_x.bin", "_emlab_live_out.bin")


def timeout_s(device_s: float) -> float:
    """A generous constant plus a multiple of the device time the job should take."""
    return BASE_TIMEOUT_S + SLACK * max(0.0, float(device_s))


def bench_plan(us_per_call: float | None, rows: int, repeats: int,
               rounds: int = 3) -> tuple:
    """(rows, repeats) to time: as asked, unless ``rows x repeats x rounds`` calls of
    ``us_per_call`` would take more than BENCH_BUDGET_S of device time; then fewer repeats
    (down to 1), then fewer rows (down to 1)."""
    rows, repeats = max(1, int(rows)), max(1, int(repeats))
    if not us_per_call or us_per_call <= 0:
        return rows, repeats
    budget_us = BENCH_BUDGET_S * 1e6
    repeats = min(repeats, max(1, int(budget_us // (rows * rounds * us_per_call))))
    if repeats == 1:
        rows = min(rows, max(1, int(budget_us // (rounds * us_per_call))))
    return rows, repeats


def items_that_fit(item_bytes: int, fs_free_bytes: int | None) -> int:
    """Items of ``item_bytes`` (at least one) for one scratch file: under BATCH_MAX_BYTES
    and a quarter of the free filesystem."""
    cap = BATCH_MAX_BYTES if fs_free_bytes is None else \
        min(BATCH_MAX_BYTES, fs_free_bytes // 4)
    return max(1, cap // max(1, item_bytes))


def run_batches(n: int, item_bytes: int, us_per_item: float | None, run,
                fs_free_bytes: int | None = None, progress: str | None = None) -> float:
    """Run items [0, n) in batches; ``run(start, stop, timeout_s)`` runs one batch and
    returns the device microseconds it took. The first batch is a single item when
    ``us_per_item`` is unknown; each batch holds at most BATCH_DEVICE_S of device time and
    ``item_bytes`` (item + its result) times its length stays under BATCH_MAX_BYTES and a
    quarter of the free filesystem. With ``progress`` (its label), a progress bar counts the
    items done (progress.py: on a terminal only). Returns the device microseconds per item
    measured."""
    from ..progress import bar
    with bar(n, progress, "item") if progress else nullcontext() as b:
        return _batches(n, items_that_fit(item_bytes, fs_free_bytes), us_per_item, run, b)


def _batches(n: int, max_items: int, us_per_item: float | None, run, progress) -> float:
    done, total_us = 0, 0.0
    start = 0
    while start < n:
        if us_per_item is None:
            stop, limit_s = start + 1, FIRST_ROW_TIMEOUT_S
        else:
            k = min(max_items, max(1, int(BATCH_DEVICE_S * 1e6 // max(us_per_item, 1.0))))
            stop = min(n, start + k)
            limit_s = timeout_s((stop - start) * us_per_item / 1e6)
        total_us += float(run(start, stop, limit_s))
        done += stop - start
        us_per_item = total_us / done
        if progress is not None:
            progress.update(stop - start)
        start = stop
    return us_per_item


def remove_scratch(dev, paths=DATA_PATHS) -> None:
    """Remove scratch files from the device, after use or after a failure: a device that is
    gone or hung keeps them (the next deploy removes them) and the error that stopped the
    job is the one the user sees."""
    from ..exceptions import DeviceError
    try:
        dev.remove_quietly(paths)
    except DeviceError:
        pass
