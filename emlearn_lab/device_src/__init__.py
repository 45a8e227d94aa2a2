"""MicroPython sources that run on the device (never imported by CPython).

emltrees.py          loadable tree runtime: model file reader + validation + predict
emltrees_kernels.py  its hot loops under @micropython.viper (compiled per arch)
emltrees_pure.py     the same kernels as plain bytecode (no native code on the port)
emlab_tools.py       load with RAM accounting, row-by-row verification, timing
inline_prelude.py    shared head of generated "inline" model modules
"""
