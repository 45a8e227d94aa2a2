"""MicroPython sources that run on the device (never imported by CPython).

emltrees.py          loadable tree runtime: model file reader + validation + predict
emltrees_kernels.py  its hot loops under @micropython.viper (compiled per arch)
emltrees_pure.py     the same kernels as plain bytecode (no native code on the port)
emlab_common.py      input check, predict/scores closures, near-tie settling (both forms)
emlab_f64.py         integer IEEE-754 double arithmetic for the near-tie path
emlab_tools.py       load with RAM accounting, row-by-row verification, timing
(the "inline" form's module is generated per model by emlearn_lab/trees/inline.py)
"""
