"""The device fuzzer (bench/fuzz_device.py) in CI: a fixed-seed subset of a few hundred
mutated files of every kind, on the native and the bytecode runtime of the virtual device.
Every case must load with bounded results or raise ValueError: no other exception, no hang,
no crash. The full run (>= 10 000 cases) is `python3 bench/fuzz_device.py`."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import fuzz_device  # noqa: E402

pytestmark = [pytest.mark.device, pytest.mark.slow]

SEED = 17


@pytest.fixture(scope="module")
def bases():
    return fuzz_device.base_files(SEED)


def test_base_files_cover_every_kind(bases):
    labels = {b.label for b in bases}
    for layout in ("tiny", "small", "large", "packed"):
        for form in ("float32 sparse", "int16 sparse", "learned int16 sparse", "float32 dense",
                     "learned int16 dense"):
            assert f"tree {layout} {form}" in labels
    kinds = {b.kind for b in bases}
    assert kinds == {"tree", "ties", "net", "fx", "gauss", "knn", "knns"}
    assert any(b.kind == "net" and "float32" in b.label for b in bases)
    assert any(b.kind == "net" and "int8" in b.label for b in bases)


def test_cases_are_deterministic_and_reproducible(bases):
    base = bases[0]
    a, b = fuzz_device.cases(base, 50, SEED), fuzz_device.cases(base, 50, SEED)
    assert [c.encode() for c in a] == [c.encode() for c in b]
    assert a[0].what == "unchanged" and fuzz_device.mutated(base, a[0]) == base.data
    assert {c.what.split(" ")[0] for c in a} >= {"truncate", "flip", "set"}
    other = fuzz_device.cases(base, 50, SEED + 1)
    assert [c.encode() for c in other] != [c.encode() for c in a]


def test_hang_and_crash_are_detected_and_the_run_resumes():
    """The harness's probe kind: 'hang' loops forever, 'segv' writes to address 0. Each is
    reported as such, the device is restarted and the next case runs."""
    probe = fuzz_device.Base("probe", "probe", "p.bin", b"ok", [], [])
    cases = [fuzz_device.Case(i, w, [(0, 2, w.encode())])
             for i, w in enumerate(["ok", "hang", "ok", "segv", "ok"])]
    runner = fuzz_device.Runner("virtual", idle_s=15.0, chunk=10, walkers=[],
                                log=lambda *a: None)
    seen = []
    try:
        runner.run_job(probe, "bytecode", cases, lambda c, o, d: seen.append((c.number, o)))
    finally:
        runner.close()
    assert seen == [(0, "loaded"), (1, "hang"), (2, "loaded"), (3, "crash"), (4, "loaded")]
    assert runner.resets >= 2      # and a retry of the crash alone (see Runner.run_job)


def test_fuzz_subset_no_hang_no_crash_no_other_exception():
    """~400 cases over every file kind and both runtimes (about 7 per kind and runtime)."""
    result = fuzz_device.fuzz("virtual", n_cases=400, seed=SEED, idle_s=45.0, chunk=200,
                              log=lambda *a: None)
    assert result["cases"] >= 400
    loaded = sum(r["loaded"] for r in result["rows"].values())
    assert loaded >= len(result["rows"])            # every unchanged base file loads
    bad = [f"{f['outcome']}: {f['kind']} [{f['runtime']}] case {f['case']} (seed {SEED}): "
           f"{f['mutation']} {f['detail']}" for f in result["findings"]]
    assert not bad, "\n".join(bad)
