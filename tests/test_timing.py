"""The device's timing loop (device_src/emlab_tools.time_steps) cannot report a negative
time or a part above its whole, whatever the clock does: run here in CPython on a clock
that jumps (an interrupt, a busy host), and on the device through deploy reports
(tests/test_device_features.py, tests/test_mcu.py)."""
import importlib.util
import random

import pytest

from emlearn_lab.device_src import __file__ as _device_src


def _tools():
    """A fresh emlab_tools module (the device's source, unchanged) running in CPython."""
    path = _device_src.replace("__init__.py", "emlab_tools.py")
    spec = importlib.util.spec_from_file_location("emlab_tools_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class JumpyClock:
    """time.ticks_us/ticks_diff of a loaded machine: each reading advances the clock by 0
    or 1 µs, and now and then by thousands (the process was preempted)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.now = 0

    def ticks_us(self) -> int:
        self.now += self.rng.choice((0, 1, 1, 2)) + (
            self.rng.randrange(1000, 50000) if self.rng.random() < 0.3 else 0)
        return self.now

    @staticmethod
    def ticks_diff(a: int, b: int) -> int:
        return a - b


@pytest.mark.parametrize("seed", range(40))
def test_no_negative_time_and_no_part_above_the_whole(seed):
    tools = _tools()
    tools.time = JumpyClock(seed)
    rows = [[float(i)] * 3 for i in range(7)]
    n, (features, predict), whole = tools.time_steps(
        (lambda x: sum(x), lambda s: s > 3), rows, repeats=5, rounds=3)
    assert n == len(rows)
    for part in (features, predict):
        assert all(0 <= p <= w for p, w in zip(part, whole)), (part, whole)
        assert part[1] <= part[0] <= part[2]
    med, low, count, worst = tools.time_calls(lambda x: None, rows, 5)
    assert 0 <= low <= med <= worst and count == len(rows)


def test_the_chain_feeds_each_step_the_previous_result():
    tools = _tools()
    tools.time = JumpyClock(0)
    seen = []
    tools.time_steps((lambda x: x * 10, seen.append), [1, 2], repeats=2, rounds=1)
    assert seen == [10, 10, 20, 20]


def test_no_rows_gives_zeros():
    tools = _tools()
    tools.time = JumpyClock(0)
    assert tools.time_steps((len, len), [], 3) == (0, [(0.0, 0.0, 0.0)] * 2, (0.0, 0.0, 0.0))
