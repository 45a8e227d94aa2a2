"""MicroPython sources that run on the device.

emltrees.py          loadable tree runtime: model file reader + validation + predict
emltrees_kernels.py  its hot loops under @micropython.viper (compiled per arch)
emltrees_pure.py     the same kernels as plain bytecode (no native code on the port)
emlab_common.py      input check, predict/scores closures, near-tie settling (both forms)
emlab_f64.py         integer IEEE-754 double arithmetic for the near-tie path
emlab_tools.py       load with RAM accounting, row-by-row verification, timing
emlknn.py            nearest neighbours: examples file + store of learned examples, learn()
emlknn_kernels.py    its int16 search under @micropython.viper
emlab_sensor.py      the device's sensors (playback of a recording file)
emlab_drivers.py     sensor drivers for apps: MPU6050, LIS3DH (I2C), ADC + timer, I2S microphone
emlfx.py             feature pipeline runtime: feature file (JSON) -> extractors [-> model]
emlfx_core.py        extractors' shared parts: spec checks, float32 -> int16 input, isqrt
emlfx_time.py        TimeStats
(the "inline" form's module is generated per model by emlearn_lab/trees/inline.py)

The emlfx_* extractor modules are also imported by CPython on the host (emlearn_lab.features
runs them through features/_viper.py): one source computes the features on both sides.
emlab_sensor and emlab_drivers are too, for the playback file format and the drivers' rate
tables (and their unit tests). The others are never imported by CPython.
"""
from importlib import resources

__all__ = ["device_source"]


def device_source(name: str) -> str:
    """The text of one of these files, e.g. ``device_source("emltrees.py")``."""
    return resources.files(__name__).joinpath(name).read_text()
