# Device-side helpers used by emlearn_lab: load with RAM/time accounting, run a batch of rows
# or windows (deploy's verification, feature checks and the live comparison all use run), and
# time predict(). Works with any model object that has n_features, features (0 float32,
# 1 int16, 2 learned int16: float32 rows), n_outputs, predict(x) and scores(x).
import array
import gc
import struct
import sys
import time


def load(module_names, loader, *args):
    """Import the runtime fresh and call loader(*args): returns (model, runtime_ram_bytes,
    model_ram_bytes, load_us). RAM is the gc.mem_alloc() growth after a collection."""
    for name in module_names:
        if name in sys.modules:
            del sys.modules[name]
    gc.collect()
    a0 = gc.mem_alloc()
    mod = __import__(module_names[-1])
    gc.collect()
    a1 = gc.mem_alloc()
    t0 = time.ticks_us()
    model = getattr(mod, loader)(*args)
    t1 = time.ticks_us()
    gc.collect()
    a2 = gc.mem_alloc()
    return model, a1 - a0, a2 - a1, time.ticks_diff(t1, t0)


def _row_buffer(model):
    return array.array("h" if model.features == 1 else "f", [0] * model.n_features)


def run(model, x_path, out_path, features=None, start=0, count=-1, with_features=False,
        timed=False):
    """The one runner of batches: the items of x_path (rows of the model, or windows of the
    emlfx ``features`` when given; ``model`` None: the features alone) from item ``start``,
    ``count`` of them (-1: all). Per item it writes, little-endian: the int32 features (if
    ``with_features``), predict() as int32 (0 for regressors: the exact result is in the
    scores) and the scores() as they are (with a model), the uint32 microseconds predict()
    took (if ``timed``). Returns (items, microseconds spent in predict()): the host sizes its
    timing work and timeouts from it."""
    if features is None:
        x = _row_buffer(model)
        nbytes = len(bytes(memoryview(x)))
        predict = model.predict
        last = x
    else:
        import emlfx
        x = features.window()
        nbytes = features.nbytes
        if model is None:
            predict = features.transform
        else:
            pipe = emlfx.Pipeline(features, model)
            predict = pipe.predict
            last = pipe.row
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
    pack = struct.pack
    n = 0
    predict_us = 0
    # A collection now rather than inside a timed call: each item's figure is then the
    # model's own cost, unless the batch itself fills the heap.
    gc.collect()
    with open(x_path, "rb") as f, open(out_path, "wb") as out:
        f.seek(start * nbytes)
        while count != n and f.readinto(x) == nbytes:
            t0 = ticks_us()
            p = predict(x)
            us = ticks_diff(ticks_us(), t0)
            predict_us += us
            if with_features:
                out.write(features.out)      # the int32 features of this window
            if model is not None:
                out.write(pack("<i", p if isinstance(p, int) else 0))
                out.write(model.scores(last))
            if timed:
                out.write(pack("<I", us))
            n += 1
    return n, predict_us


def timed(fn, *args):
    """(fn(*args), microseconds it took on this device). Past ~8 minutes ticks_us could wrap
    (its period is 2**30 us on most ports): the figure is then ticks_ms'."""
    t_ms = time.ticks_ms()
    t_us = time.ticks_us()
    result = fn(*args)
    us = time.ticks_diff(time.ticks_us(), t_us)
    ms = time.ticks_diff(time.ticks_ms(), t_ms)
    return result, (us if ms < 500000 and us >= 0 else ms * 1000.0)


def _spread(values):
    """(median, min, max) of a list of figures (sorted in place)."""
    values.sort()
    return values[len(values) // 2], values[0], values[-1]


def time_steps(steps, rows, repeats, rounds=3):
    """Microseconds per call of each step of a chain, and of the whole chain, over the same
    rows in one loop: ``steps[0]`` is called on the row, each later step on the result of the
    step before it (a feature pipeline: [pipe.row_of, model.predict]).

    For every row and step, `rounds` loops of `repeats` calls are timed and the quickest
    kept: an interrupt or a busy host only ever adds time. A step's figure is its loop's
    ticks_diff divided by `repeats`, the loop's own turn (`while n` / `n -= 1`) included:
    nothing is estimated apart and subtracted (an empty loop timed apart and subtracted read
    -40 us under load). Hence, by construction:
    - every figure is >= 0 (ticks_diff of a monotonic clock);
    - a row's chain figure is the sum of its steps' figures, so no step exceeds the chain
      on any row, and none exceeds it in median, min or max over the rows either (each is
      an order statistic, and order statistics keep a row-by-row order).

    Returns (n_rows, [(median, min, max) per step], (median, min, max) of the chain)."""
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
    per_step = [[] for _ in steps]
    chain = []
    for x in rows:
        total = 0.0
        for i in range(len(steps)):
            call = steps[i]
            best = None
            for _ in range(rounds):
                n = repeats
                t0 = ticks_us()
                while n:
                    r = call(x)
                    n -= 1
                us = ticks_diff(ticks_us(), t0) / repeats
                best = us if best is None or us < best else best
            per_step[i].append(best)
            total += best
            x = r
        chain.append(total)
    if not chain:
        return 0, [(0.0, 0.0, 0.0) for _ in steps], (0.0, 0.0, 0.0)
    return len(chain), [_spread(s) for s in per_step], _spread(chain)


def time_calls(predict, rows, repeats, rounds=3):
    """Median and min microseconds per predict(x) over the rows (time_steps of one step:
    the best of `rounds` loops of `repeats` calls per row, the loop's turn included).
    Returns (median, min, n_rows, max): max is the worst row's figure."""
    n, _, (med, low, high) = time_steps((predict,), rows, repeats, rounds)
    return med, low, n, high


def bench(model, x_path, max_rows, repeats):
    """time_calls(model.predict) over up to max_rows rows of x_path, one buffer per row."""
    x = _row_buffer(model)
    row_bytes = len(bytes(memoryview(x)))
    rows = []
    with open(x_path, "rb") as f:
        while len(rows) < max_rows and f.readinto(x) == row_bytes:
            rows.append(array.array("h" if model.features == 1 else "f", x))
    return time_calls(model.predict, rows, repeats)
