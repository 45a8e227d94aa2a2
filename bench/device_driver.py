# Runs on the (virtual) device: the same measurements for every contender of bench_trees.py.
import array
import gc
import sys
import time


_BEFORE = {}


def load(module, factory_code):
    """Import `module` fresh and run factory_code (which defines P, the predict callable).
    Returns (P, ram_bytes, load_us)."""
    if module in sys.modules:
        del sys.modules[module]
    _BEFORE[module] = set(sys.modules)
    gc.collect()
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    env = {}
    exec(factory_code, env)
    t1 = time.ticks_us()
    gc.collect()
    return env["P"], gc.mem_alloc() - a0, time.ticks_diff(t1, t0)


def unload(module):
    """Forget `module` and every module its load imported, so that the next contender has
    the heap (emulated boards: one contender at a time)."""
    before = _BEFORE.pop(module, set())
    for name in list(sys.modules):
        if name not in before:
            del sys.modules[name]
    gc.collect()


def _rows(x_path, n_features, as_list):
    x = array.array("f", [0.0] * n_features)
    with open(x_path, "rb") as f:
        while f.readinto(x) == 4 * n_features:
            yield list(x) if as_list else x


def predict_all(P, x_path, n_features, as_list):
    return bytes(int(P(x)) for x in _rows(x_path, n_features, as_list))


def bench(P, x_path, n_features, as_list, rows, repeats, rounds=1):
    """Median, min and max (worst row) microseconds per call over `rows` rows
    (emlab_tools.time_calls: each
    row's best of `rounds` rounds of `repeats` calls)."""
    import emlab_tools
    picked = []
    for x in _rows(x_path, n_features, as_list):
        picked.append(list(x) if as_list else array.array("f", x))  # own buffer per row
        if len(picked) == rows:
            break
    med, best, _, worst = emlab_tools.time_calls(P, picked, repeats, rounds)
    return med, best, worst
