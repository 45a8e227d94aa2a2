"""The standalone app on an emulated Cortex-M3 (real MicroPython v1.28 firmware under qemu,
single-precision floats, Thumb code): post-processing bit for bit on adversarial score
streams, and the installed app's events == DeviceApp.simulate over the motions sample."""
import pytest
from test_device_app import check_post_on_device, keys, motion_app, motions  # noqa: F401
from test_emulated import _need

import emlearn_lab as eml

pytestmark = [pytest.mark.mcu, pytest.mark.device, pytest.mark.slow]


@pytest.fixture(scope="module")
def m3():
    _need("cortex-m3")
    dev = eml.connect("emulated:cortex-m3")
    yield dev
    dev.close()


def test_post_processing_is_bit_exact_on_the_cortex_m3(m3):
    # float32 scores become fixed point in the board's single-precision floats here
    check_post_on_device(m3, seed=5, n_cases=12)


def test_installed_app_on_the_cortex_m3_produces_the_simulated_events(m3, motions):  # noqa: F811
    rec, _, pipe = motions
    app = motion_app(pipe)
    run = app.simulate(rec)
    m3.playback(rec)
    result = m3.install(app)
    out = m3.app_output(windows=run.n_windows, realtime=False)
    assert keys(out.events) == keys(run.events) and len(run.events) >= 20
    # the running app's RAM is measured on the board, and within the heap
    assert 0 < out.app_ram_bytes < m3.info["heap_free_bytes"] + out.app_ram_bytes
    assert result["app_ram_bytes"] > 0
    assert m3.uninstall()
