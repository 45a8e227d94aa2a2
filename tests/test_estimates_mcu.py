"""Latency and RAM estimates from instructions and heap costs measured on the emulated cores.

The fast tests check how an estimate is made and labelled (instructions per operation of the
board's core x its cycles per instruction / its clock; Xtensa keeps the CoreMark scaling and
says so) and that instructions.toml was measured on the current runtime. The device tests
deploy a few models on a freshly started emulated board and hold the estimate to what the
board measures: instructions per predict within 10%, gc.mem_alloc() growth within 5% (the
bench, bench/bench_estimates.py --mcu, does this on 20+ models). Without qemu or the
firmware they skip, and fail under CI.
"""
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.neural_network import MLPClassifier
from test_emulated import _need

import emlearn_lab as eml
from emlearn_lab.board_fit.cores import CORE_ARCH, core_for, instructions
from emlearn_lab.board_fit.latency import latency_estimate, leaf_values
from emlearn_lab.board_fit.memory import runtime_hash


@pytest.fixture(scope="module")
def forest():
    X, y = load_breast_cancer(return_X_y=True)
    clf = RandomForestClassifier(8, max_leaf_nodes=24, random_state=3).fit(X, y)
    return eml.convert(clf), X[::9][:8]


@pytest.fixture(scope="module")
def int8_net():
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((24,), max_iter=15, random_state=0).fit(X, y)
    return eml.convert(mlp, weights="int8", X_calib=X), X[::7][:8]


def test_instructions_were_measured_on_the_current_runtime():
    data = instructions()
    assert data["runtime_hash"] == runtime_hash(), (
        "device_src/ or trees/inline.py changed since instructions.toml was measured: run "
        "`python -m emlearn_lab.board_fit.calibrate_mcu` and commit instructions.toml")
    assert data["net_runtime_hash"] == runtime_hash(networks=True), (
        "the network runtime changed since instructions.toml was measured: run "
        "`python -m emlearn_lab.board_fit.calibrate_mcu` and commit instructions.toml")
    for core in data["latency"]:
        assert core in CORE_ARCH
        assert set(data["latency"][core]) >= {"loadable", "inline", "net_int8"}
        assert data["source"][core]["measured"].startswith(f"emulated:{core}")
        assert data["measured"][core]["loadable"], "the counts the fit was made from"


def test_board_latency_is_core_instructions_times_cpi_over_clock(forest):
    model, X = forest
    pico = eml.get_board("rp2040-pico")
    assert core_for(pico) == "cortex-m0" and pico.cpi > 0 and pico.sources["cpi"]
    est = eml.estimate(model, pico, "loadable", X)
    lat = est.latency
    assert lat.core == "cortex-m0" and lat.instructions > 0
    assert lat.us == pytest.approx(lat.instructions * pico.cpi / pico.clock_mhz)
    text = str(est)
    assert "estimate" in text and "emulated cortex-m0" in text and "instructions" in text
    # The emulated core itself: 1 us = 1000 instructions, as its ticks_us.
    emu = eml.estimate(model, "emulated:cortex-m0", "loadable", X).latency
    assert emu.us == pytest.approx(emu.instructions / 1000) == pytest.approx(lat.instructions
                                                                            / 1000)


def test_every_board_with_an_emulated_core_gives_a_sourced_cpi():
    for board in eml.boards():
        if core_for(board) in instructions().get("latency", {}):
            assert 0.5 <= board.cpi <= 3, board.id
            # Where its code runs from: flash wait states, a cache, tightly coupled memory.
            assert any(w in board.sources["cpi"] for w in ("wait state", "cache", "ITCM")), \
                board.id


def test_xtensa_keeps_coremark_scaling_and_says_so(forest, int8_net):
    for model, X in (forest, int8_net):
        lat = eml.estimate(model, "esp32-devkitc", "auto", X).latency
        assert lat.core is None and lat.instructions is None
        assert "no emulated core for xtensawin" in str(lat) and "CoreMark" in str(lat)


def test_cpi_from_a_user_board(monkeypatch, forest):
    from emlearn_lab.board_fit import table
    monkeypatch.setattr(table, "_ADDED", {})      # the boards added here stay in this test
    model, X = forest
    base = eml.get_board("rp2040-pico")
    fields = {k: v for k, v in vars(base).items() if k not in ("id", "sources", "cpi")}
    sources = {k: v for k, v in base.sources.items() if k != "cpi"}
    with pytest.raises(eml.InputError, match="no source given for cpi"):
        eml.add_board("my-pico-test-a", **fields, cpi=3.0, sources=sources)
    board = eml.add_board("my-pico-test-b", **fields, cpi=3.0,
                          sources=dict(sources, cpi="measured: my board"))
    slow = eml.estimate(model, board, "loadable", X).latency
    fast = eml.estimate(model, base, "loadable", X).latency
    assert slow.us == pytest.approx(fast.us * 3.0 / base.cpi)


# -- against the emulated boards ---------------------------------------------------------------
def _check(core, model, X, form):
    """Estimate vs a fresh board: (instructions est., measured, RAM est., measured)."""
    _need(core)
    est = eml.estimate(model, f"emulated:{core}", form, X)
    if est.kind == "network":
        want = est.latency.instructions
    else:
        want = float(np.median([latency_estimate(est.form, model, est.board, float(v), True,
                                                 float(n)).instructions
                                for v, n in zip(model.node_visits(X),
                                                leaf_values(model, X, est.form, est.board.arch))]))
    with eml.connect(f"emulated:{core}") as dev:
        report = dev.deploy(model, X, form=est.form, repeats=50)
    got = report.instructions_per_predict_median
    ram = report.runtime_ram_bytes + report.model_ram_bytes
    assert report.agreement == 1.0
    assert abs(want / got - 1) <= 0.10, (
        f"{core} {est.form}: estimated {want:.0f} instructions per predict, measured "
        f"{got:.0f}: recalibrate with `python -m emlearn_lab.board_fit.calibrate_mcu {core}`")
    assert abs(est.ram_bytes / ram - 1) <= 0.05, (
        f"{core} {est.form}: estimated {est.ram_bytes} B of heap, measured {ram} B: "
        f"recalibrate with `python -m emlearn_lab.board_fit.calibrate_mcu {core}`")


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.parametrize("form", ["loadable", "inline"])
def test_tree_estimate_matches_the_emulated_cortex_m0(forest, form):
    model, X = forest
    _check("cortex-m0", model, X, form)


@pytest.mark.device
@pytest.mark.slow
def test_int8_network_estimate_matches_the_emulated_cortex_m3(int8_net):
    model, X = int8_net
    _check("cortex-m3", model, X, "auto")
