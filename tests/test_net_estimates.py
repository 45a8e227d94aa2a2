"""Board estimates for networks, checked against the virtual device: RAM within 5% of the
measured gc.mem_alloc() growth, flash exact, and the verdicts' remedies."""
import dataclasses
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import emlearn_lab as eml

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def nets(classification_data):
    X_train, _, y_train, _ = classification_data["digits"]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for hidden, act in (((40,), "relu"), ((24, 12), "tanh")):
            mlp = MLPClassifier(hidden_layer_sizes=hidden, activation=act, max_iter=20,
                                random_state=0).fit(X_train, y_train)
            out += [eml.convert(mlp), eml.convert(mlp, weights="int8", X_calib=X_train)]
    return out, X_train[:8]


def test_ram_and_flash_estimates_match_the_device(nets):
    models, rows = nets
    for net in models:
        with eml.connect("virtual") as dev:
            board = dataclasses.replace(eml.get_board("virtual"),
                                        heap_bytes=dev.info["heap_free_bytes"])
            est = eml.estimate(net, board)
            report = dev.deploy(net, rows, repeats=2)
        measured = report.runtime_ram_bytes + report.model_ram_bytes
        assert abs(est.ram_bytes / measured - 1) <= 0.05, (net, est.ram_bytes, measured)
        assert est.flash_bytes == sum(n for _, n, _ in report.files)
        assert est.latency_us > 0 and "multiply-accumulates" in str(est)


def test_network_verdicts_and_tables(nets):
    models, _ = nets
    full, small = models[0], models[1]
    tiny_heap = dataclasses.replace(eml.get_board("rp2040-pico"), heap_bytes=20_000)
    est = eml.estimate(full, tiny_heap)
    assert not est.fits and "weights='int8'" in est.remedy
    assert eml.estimate(small, "rp2040-pico").fits
    assert eml.estimate(small, "rp2040-pico").c_flash.cpu == "cortex-m0plus"
    table = eml.fit_table({"float32": full, "int8": small})
    assert "int8" in str(table)
    # A 32-bit port without the heap-resident machine code: smaller fixed costs than x64.
    esp = eml.estimate(small, "esp32s3-devkitc")
    assert 0 < esp.heap.fixed_bytes < eml.estimate(small, "virtual").heap.fixed_bytes


def test_nonzero_macs_count_each_layers_nonzero_inputs(nets):
    """The soft-float layers skip a zero input cheaply: the estimate counts the
    multiply-accumulates whose input is not zero, layer by layer, on the median row."""
    import numpy as np

    from emlearn_lab.board_fit.net_estimate import net_work_counts, nonzero_macs
    from emlearn_lab.nets import float32 as f32
    models, rows = nets
    net = models[0]                                   # float32, 64-40(relu)-10
    X = rows.astype(np.float32).copy()
    X[:, ::2] = 0.0                                   # half the pixels off
    hidden = f32.activate(f32.dense(X, net.layers[0].weights, net.layers[0].bias), "relu")
    want = (np.count_nonzero(X, axis=1) * 40 + np.count_nonzero(hidden, axis=1) * 10)
    assert nonzero_macs(net, X) == float(np.median(want))
    assert net_work_counts(net)["nonzero_mac"] == net.n_macs       # no rows: every one
    assert nonzero_macs(models[1], X) == 0.0                       # int8: value-independent
