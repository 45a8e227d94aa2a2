"""The C export run as firmware: bare-metal builds for qemu's Cortex-M3 and Cortex-M4F machines.

A firmware engineer compiles the exported headers with their project's flags (Arduino:
``-std=gnu++17 -Os``; Zephyr: ``-std=gnu11 -Os``; CMSIS / plain makefiles: ``-std=c99 -O2``;
sometimes ``-ffast-math``) for a core the host tests never execute. :func:`build_mcu` compiles
several model headers into one program with ``arm-none-eabi-gcc`` and those flags, linked with
a startup of ours (``mcu/startup.c``: vector table, FPU on, ``.bss`` zeroed, ARM semihosting
for file I/O; no C library start-up) for qemu's ``mps2-an385`` (Cortex-M3, soft float) or
``mps2-an386`` (Cortex-M4F, hard float). :func:`run_mcu` runs it under
``qemu-system-arm -semihosting -icount shift=0``: each model reads its rows from a host file,
predicts every row, writes predict / scores / values back, and times the predict loop with the
machine's 25 MHz CMSDK timer. Under ``-icount shift=0`` qemu advances its clock 1 ns per guest
instruction, so one timer tick is exactly 40 instructions (checked against a loop of known
length): instructions per predict are a count, not a host timing.
"""
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import BuildError, InputError
from .c_build import _run, _write, find_compiler

__all__ = ["MCUS", "McuCase", "McuResult", "mcu_case", "build_mcu", "run_mcu",
           "TICK_INSTRUCTIONS", "WARNINGS"]

HERE = Path(__file__).resolve().parent / "mcu"


@dataclass(frozen=True)
class _Core:
    machine: str
    qemu_cpu: str
    flags: tuple


MCUS = {
    "cortex-m3": _Core("mps2-an385", "cortex-m3",
                       ("-mthumb", "-mcpu=cortex-m3", "-mfloat-abi=soft")),
    "cortex-m4f": _Core("mps2-an386", "cortex-m4",
                        ("-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")),
}
TICK_INSTRUCTIONS = 40         # 25 MHz timer, 1 ns of virtual time per instruction
WARNINGS = ("-Wall", "-Wextra", "-Werror", "-pedantic")
ROW_BYTES = 1 << 20            # the program's buffers: rows in, results out
_LINK = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections")


@dataclass(frozen=True)
class McuCase:
    """One exported model inside a check program."""
    name: str
    header: str                # the model header's source
    runtime: str               # the runtime header it includes (csrc/)
    xt: str                    # feature type: "float" or "int16_t"
    st: str                    # score type: "int32_t" or "float"
    n_features: int
    n_outputs: int
    value: str                 # "double" (tree regressors), "float" (networks) or ""
    includes: tuple = ()       # runtime headers the runtime header includes in turn


@dataclass(frozen=True)
class McuResult:
    index: np.ndarray          # <name>_predict per row (int32)
    scores: np.ndarray         # <name>_scores per row
    values: np.ndarray         # predict_value (double) / values (float), or None
    instructions_per_predict: float   # the predict loop's instructions / rows (loop included)


def mcu_case(model, name: str, form: str = "table") -> McuCase:
    """A model (what :func:`export_c` takes) as a case of a check program."""
    from ..nets.model import NetModel
    from .c_export import dispatch, model_header
    exporter = dispatch(model)
    m = exporter.model
    header = model_header(m, name, form)
    if isinstance(m, NetModel):
        st = "float" if m.int8 is None else "int32_t"
        return McuCase(name, header, exporter.runtime, "float", st, m.n_features,
                       m.n_outputs, "float")
    from ..trees.model import TreeModel
    value = "double" if isinstance(m, TreeModel) and m.kind == "regressor" else ""
    st = "float" if np.dtype(m.score_dtype).kind == "f" else "int32_t"
    return McuCase(name, header, exporter.runtime, exporter.input_ctype, st,
                   m.n_features, m.n_outputs, value, exporter.includes)


_MAIN = r"""#include <stdint.h>
#include <string.h>
#include "mcu.h"
%(includes)s

static uint32_t eml_lab_in[%(words)d];
static uint32_t eml_lab_out[%(words)d];
static int32_t eml_lab_index[%(words)d / 4];

static uint32_t eml_lab_load(const char *path)
{
    int32_t fd = eml_lab_mcu_open(path, 0);
    int32_t n;
    if (fd < 0) {
        eml_lab_mcu_exit(3);
    }
    n = eml_lab_mcu_read(fd, eml_lab_in, (uint32_t)sizeof eml_lab_in);
    eml_lab_mcu_close(fd);
    return (uint32_t)n;
}

static void eml_lab_save(const char *path, uint32_t n)
{
    int32_t fd = eml_lab_mcu_open(path, 1);
    if (fd < 0 || eml_lab_mcu_write(fd, eml_lab_out, n) != (int32_t)n) {
        eml_lab_mcu_exit(4);
    }
    eml_lab_mcu_close(fd);
}
%(functions)s
int main(void)
{
    eml_lab_mcu_timer_start();
%(calls)s    return 0;
}
"""

_CASE = r"""
/* %(name)s: the predict loop timed, then per row predict, scores and values saved. */
static void eml_lab_run_%(name)s(void)
{
    const %(xt)s *rows = (const %(xt)s *)(const void *)eml_lab_in;
    uint8_t *out = (uint8_t *)(void *)eml_lab_out;
    uint32_t n = eml_lab_load("%(name)s.x") / (uint32_t)(sizeof rows[0] * %(N)s_N_FEATURES);
    uint32_t i, t;
    t = eml_lab_mcu_ticks();
    for (i = 0; i < n; i++) {
        eml_lab_index[i] = (int32_t)%(name)s_predict(rows + i * %(N)s_N_FEATURES);
    }
    t = eml_lab_mcu_ticks() - t;
    memcpy(out, &t, 4);
    memcpy(out + 4, &n, 4);
    out += 8;
    for (i = 0; i < n; i++) {
        const %(xt)s *x = rows + i * %(N)s_N_FEATURES;
        %(st)s s[%(N)s_N_OUTPUTS];
        %(value_decl)s
        %(name)s_scores(x, s);
        memcpy(out, &eml_lab_index[i], 4);
        memcpy(out + 4, s, sizeof s);
        out += 4 + sizeof s;
        %(value)s
    }
    eml_lab_save("%(name)s.y", (uint32_t)(out - (uint8_t *)(void *)eml_lab_out));
}
"""

_VALUE = {
    "": ("", ""),
    "double": ("double v;", "v = %(name)s_predict_value(x);\n        memcpy(out, &v, sizeof v);"
               "\n        out += sizeof v;"),
    "float": ("float v[%(N)s_N_OUTPUTS];", "%(name)s_values(x, v);\n        "
              "memcpy(out, v, sizeof v);\n        out += sizeof v;"),
}


def _main_source(cases) -> str:
    functions, calls = [], []
    for c in cases:
        keys = {"name": c.name, "N": c.name.upper(), "xt": c.xt, "st": c.st}
        decl, value = _VALUE[c.value]
        functions.append(_CASE % {**keys, "value_decl": decl % keys, "value": value % keys})
        calls.append(f"    eml_lab_run_{c.name}();\n")
    includes = "\n".join(f'#include "{c.name}.h"' for c in cases)
    return _MAIN % {"includes": includes, "words": ROW_BYTES // 4,
                    "functions": "".join(functions), "calls": "".join(calls)}


def build_mcu(cases, folder, cpu: str = "cortex-m4f",
              flags=("-std=c99", "-O2"), warnings=WARNINGS) -> Path:
    """Compile the cases into one bare-metal program ``folder/check.elf``.

    ``flags`` are the project's (``-std=...``, ``-O...``, ``-ffast-math``...); a ``-std``
    naming C++ compiles the program as C++. The startup is always C99 -O2.

    Raises InputError (unknown cpu, duplicate names), BuildError (compiler missing or a
    warning / error: the compiler's message).
    """
    if cpu not in MCUS:
        raise InputError(f"unknown cpu {cpu!r}: known are {', '.join(sorted(MCUS))}")
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise InputError(f"case names must differ, got {names}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cc = find_compiler("arm-none-eabi-gcc")
    from .c_export import runtime_header_path
    files = {f"{c.name}.h": c.header for c in cases}
    for c in cases:
        for runtime in (c.runtime,) + c.includes:
            files[runtime] = runtime_header_path(runtime).read_text()
    files["check.c"] = _main_source(cases)
    _write(files, folder)
    cxx = any(f.startswith("-std=") and "++" in f for f in flags)
    core = MCUS[cpu].flags
    inc = ("-I", str(folder), "-I", str(HERE))
    _run([cc, *core, *(("-x", "c++") if cxx else ()), *flags, *warnings, *inc,
          "-c", "-o", str(folder / "check.o"), str(folder / "check.c")],
         f"arm-none-eabi-gcc {' '.join(flags)}")
    _run([cc, *core, "-std=c99", "-O2", *WARNINGS, *inc, "-c", "-o",
          str(folder / "startup.o"), str(HERE / "startup.c")], "arm-none-eabi-gcc startup")
    elf = folder / "check.elf"
    _run([cc, *core, *_LINK, "-T", str(HERE / "mps2.ld"), "-o", str(elf),
          str(folder / "startup.o"), str(folder / "check.o"), "-lgcc"], "arm-none-eabi-ld")
    return elf


def _record(case: McuCase) -> np.dtype:
    st = "<f4" if case.st == "float" else "<i4"
    fields = [("p", "<i4"), ("s", st, (case.n_outputs,))]
    if case.value == "double":
        fields.append(("v", "<f8"))
    elif case.value == "float":
        fields.append(("v", "<f4", (case.n_outputs,)))
    return np.dtype(fields)


def run_mcu(elf, cases, rows: dict, cpu: str = "cortex-m4f", timeout_s: float = 600.0) -> dict:
    """Run a program from :func:`build_mcu` on qemu: {case name: :class:`McuResult`}.

    rows : {case name: 2-D array} of features, already in the case's input type (e.g.
        ``model.check_X(X)``), at most 1 MiB each. ``timeout_s`` bounds the host's wait
        (emulation on a loaded host is slower than on an idle one; the counts do not change).

    Raises BuildError (qemu missing, a fault or a non-zero exit: with its output).
    """
    elf = Path(elf)
    folder = elf.parent
    qemu = find_compiler("qemu-system-arm")
    for c in cases:
        dt = "<f4" if c.xt == "float" else "<i2"
        data = np.ascontiguousarray(rows[c.name], dtype=dt).tobytes()
        if len(data) > ROW_BYTES:
            raise InputError(f"rows for {c.name!r} take {len(data)} bytes, at most "
                             f"{ROW_BYTES} fit: pass fewer rows")
        (folder / f"{c.name}.x").write_bytes(data)
        (folder / f"{c.name}.y").unlink(missing_ok=True)
    core = MCUS[cpu]
    cmd = [qemu, "-M", core.machine, "-cpu", core.qemu_cpu, "-display", "none",
           "-monitor", "none", "-serial", "none", "-icount", "shift=0",
           "-semihosting-config", "enable=on,target=native", "-kernel", elf.name]
    try:
        proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True,
                              timeout=timeout_s, env={**os.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        raise BuildError(f"{elf.name} on {cpu} did not finish within {timeout_s:.0f} s "
                         "(host time); a hang or a very slow host: raise timeout_s") from None
    if proc.returncode != 0:
        raise BuildError(f"{elf.name} on {cpu} exited with status {proc.returncode} "
                         f"(99: a fault; 3/4: file I/O) instead of 0: "
                         f"{(proc.stderr or proc.stdout).strip()[:500]}")
    out = {}
    for c in cases:
        raw = (folder / f"{c.name}.y").read_bytes()
        ticks, n = np.frombuffer(raw[:8], "<u4")
        r = np.frombuffer(raw[8:], _record(c))
        out[c.name] = McuResult(r["p"], r["s"], r["v"] if c.value else None,
                                float(ticks) * TICK_INSTRUCTIONS / max(int(n), 1))
    return out
