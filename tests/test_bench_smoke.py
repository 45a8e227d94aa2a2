"""Benches stay runnable from a fresh clone: a smoke run with few rows, results to a temporary
directory (the committed bench/results stay as measured)."""
import json
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.device, pytest.mark.slow]

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_bench_trees_runs_on_the_virtual_device(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("bench_trees", None)
    import bench_trees
    assert bench_trees.main(["--rows", "6", "--repeats", "3", "--passes", "1", "--no-peers",
                             "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "trees_digits.json").read_text())
    names = [row["name"] for row in results["rows"]]
    assert names == ["emlearn_lab loadable", "emlearn_lab inline",
                     "emlearn_lab int16 compressed loadable",
                     "emlearn_lab int16 compressed inline"]
    for row in results["rows"]:
        agreement = row["agreement_with_sklearn"]
        if agreement is None:                       # compressed: its own host reference
            agreement = row["agreement_with_host_reference"]
        assert agreement == 1.0, row["name"]
        assert 0 < row["us_per_predict_min"] <= row["us_per_predict_median"] \
            <= row["us_per_predict_worst"]
    assert "| emlearn_lab loadable |" in (tmp_path / "trees_digits.md").read_text()


def test_bench_features_runs_on_the_virtual_device(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("bench_features", None)
    import bench_features
    out = tmp_path / "features"
    assert bench_features.main(["--repeats", "1", "--passes", "1", "--cases", "timestats",
                                "logmel", "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["case"] for r in rows] == ["timestats_2s_3axis_100hz", "logmel_1s_16khz"]
    assert all(r["exact_host_device"] for r in rows)
    assert rows[0]["speedup"] > 0 and rows[1]["naive_us"] is None     # logmel: no naive twin
    assert "| logmel_1s_16khz |" in out.with_suffix(".md").read_text()


def test_bench_gc_runs_on_the_virtual_device(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("bench_gc", None)
    import bench_gc
    out = tmp_path / "gc"
    assert bench_gc.main(["--calls", "50", "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["runs"][0]["rows"]
    growth = {r["model"].split(" (")[0]: r["heap_growth_bytes_per_predict"] for r in rows}
    assert growth["forest classifier"] == 0 and growth["MLP 64-32-10 int8"] == 0
    assert 0 < growth["forest regressor"] <= 32          # its result: one float, one GC block
    assert "| forest regressor" in out.with_suffix(".md").read_text()


def test_bench_compression_device_runs_on_the_virtual_device(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("bench_compression_device", None)
    import bench_compression_device
    assert bench_compression_device.main(["--device", "virtual", "--case", "digits_rf10",
                                          "--rows", "8", "--repeats", "3", "--no-explain",
                                          "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "compression_device_virtual.json").read_text())
    models = results["cases"][0]["models"]
    assert [m["model"] for m in models][:3] == ["uncompressed", "leaves 8/class, int16",
                                                "sweep best(0.01)"]
    assert all(f["agreement"] == 1.0 for m in models for f in m["forms"].values())
    assert "held out" in results["cases"][0]["sweep_report"]


@pytest.mark.browser
def test_bench_webserial_runs_from_a_fresh_clone(tmp_path, monkeypatch):
    import browser_harness
    browser_harness.require()
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("bench_webserial", None)
    import bench_webserial
    assert bench_webserial.main(["--one-way-ms", "5", "--modes", "page", "--trees", "2",
                                 "--rows", "5", "--out", str(tmp_path)]) == 0
    runs = json.loads((tmp_path / "webserial.json").read_text())["runs"]
    assert [(r["mode"], r["one_way_ms"]) for r in runs] == [("direct", 0), ("page", 5)]
    assert all(r["agreement"] == 1.0 for r in runs)
    assert runs[1]["requests"] > 0 and runs[1]["file_bytes"] == runs[0]["file_bytes"]
