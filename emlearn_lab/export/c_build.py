"""Compilers for the C export: host builds (tests, benchmark) and Cortex-M flash sizes.

:func:`firmware_size` is the generic core: headers + a C snippet that calls the model, linked
like firmware for a Cortex-M and measured with ``arm-none-eabi-size``. :func:`c_size` applies
it to a model export. What is counted: the model's code and tables, the runtime, and the
libgcc/newlib helpers they pull in (e.g. soft-float double division for a regressor's value
or the near-tie path on a Cortex-M0+). Not counted: a vector table, startup code, C library
initialisation (linked with ``-nostartfiles``; the snippet's function is the entry point, so
``--gc-sections`` keeps exactly what a call to predict needs).
"""
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import BuildError, InputError

__all__ = ["CSize", "CPUS", "c_size", "firmware_size", "find_compiler", "compile_host",
           "compiler_version", "HOST_WARNINGS"]

CPUS = {
    "cortex-m0plus": ("-mthumb", "-mcpu=cortex-m0plus", "-mfloat-abi=soft"),
    "cortex-m4f": ("-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
}
CROSS_FLAGS = ("-Os", "-std=c99", "-ffunction-sections", "-fdata-sections", "-Wall",
               "-Wextra", "-Werror")
LINK_FLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
              "-Wl,-e,eml_lab_size_entry")
HOST_WARNINGS = ("-Wall", "-Wextra", "-Werror")
_INSTALL = {
    "arm-none-eabi-gcc": "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-size": "sudo apt-get install binutils-arm-none-eabi",
    "gcc": "sudo apt-get install gcc", "g++": "sudo apt-get install g++",
}


@dataclass(frozen=True)
class CSize:
    """Bytes of a firmware-like build (``arm-none-eabi-size``, Berkeley format): ``text``
    (code and const data: flash), ``data`` (initialised RAM, also stored in flash) and ``bss``
    (zeroed RAM)."""

    text_bytes: int
    data_bytes: int
    bss_bytes: int
    cpu: str
    form: str
    compiler: str
    flags: tuple

    @property
    def flash_bytes(self) -> int:
        return self.text_bytes + self.data_bytes

    @property
    def ram_bytes(self) -> int:
        """Static RAM; predict's scratch is on the stack, not counted here."""
        return self.data_bytes + self.bss_bytes

    def __repr__(self) -> str:
        words = self.compiler.split()
        version = next((w for w in reversed(words) if w[:1].isdigit() and "." in w), "")
        return (f"CSize({self.cpu}, form={self.form!r}: text {self.text_bytes} B, data "
                f"{self.data_bytes} B, bss {self.bss_bytes} B; {words[0] if words else ''} "
                f"{version} -Os)")


def find_compiler(name: str) -> str:
    """Absolute path of a compiler or tool on PATH, else BuildError with the install line."""
    path = shutil.which(name)
    if path is None:
        remedy = _INSTALL.get(name, f"install {name}")
        raise BuildError(f"{name} was not found on PATH; it is needed to build C exports. "
                         f"Install it: {remedy}")
    return path


def compiler_version(compiler: str) -> str:
    out = subprocess.run([find_compiler(compiler), "--version"], capture_output=True,
                         text=True, check=False).stdout
    return (out.splitlines() or [compiler])[0].strip()


def _run(cmd, what: str):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"{what} failed ({' '.join(map(str, cmd))}):\n"
                         f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _write(files: dict, folder: Path):
    """Write each file through a temporary name and a rename: builds running in parallel in
    one folder (the tests' gcc and g++) never read a file another is truncating."""
    for fname, text in files.items():
        path = folder / fname
        if path.is_file() and path.read_text() == text:
            continue
        tmp = path.with_name(f".{fname}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def compile_host(files: dict, main: str, out, *, compiler: str = "gcc",
                 flags=("-O2", "-std=c99", *HOST_WARNINGS)) -> Path:
    """Compile an executable for this machine.

    files : {file name: source}, written next to ``out`` (headers the main file includes);
    main : file name in ``files`` to compile (for g++ use ``flags`` with ``-x c++``).

    Raises BuildError with the compiler's message.
    """
    out = Path(out)
    _write(files, out.parent)
    cc = find_compiler(compiler)
    _run([cc, *flags, "-I", str(out.parent), "-o", str(out), str(out.parent / main)],
         f"{compiler} build")
    return out


def firmware_size(headers: dict, include: str, snippet: str, cpu: str = "cortex-m4f",
                  form: str = "", *, werror: bool = True, libs=("-lgcc",)) -> CSize:
    """Flash and RAM bytes of a firmware-like build that runs ``snippet``.

    Parameters
    ----------
    headers : {file name: source} written next to the translation unit.
    include : the header the unit includes (e.g. "model.h").
    snippet : C statements of ``void eml_lab_size_entry(const void *input, void *output)``,
        e.g. ``*(int32_t *)output = model_predict((const float *)input);``.
    cpu : one of :data:`CPUS`.
    form : a label for the result.
    werror : compile with -Werror (False for third-party code, e.g. in benchmarks).
    libs : libraries to link (their code counts in ``text``), e.g. ("-lm", "-lgcc") for code
        that calls libm; ours needs none but libgcc.

    Raises
    ------
    InputError
        Unknown cpu.
    BuildError
        arm-none-eabi-gcc missing, or the build failed.
    """
    if cpu not in CPUS:
        raise InputError(f"unknown cpu {cpu!r}: known are {', '.join(sorted(CPUS))}")
    cc = find_compiler("arm-none-eabi-gcc")
    size = find_compiler("arm-none-eabi-size")
    unit = (f'#include <stdint.h>\n#include "{include}"\n\n'
            "void eml_lab_size_entry(const void *input, void *output);\n"
            "void eml_lab_size_entry(const void *input, void *output)\n"
            f"{{\n    {snippet}\n}}\n")
    flags = (*CPUS[cpu], *(f for f in CROSS_FLAGS if werror or f != "-Werror"))
    with tempfile.TemporaryDirectory(prefix="eml_lab_size_") as tmp:
        folder = Path(tmp)
        _write({**headers, "eml_lab_size_unit.c": unit}, folder)
        elf = folder / "firmware.elf"
        _run([cc, *flags, *LINK_FLAGS, "-I", str(folder), "-o", str(elf),
              str(folder / "eml_lab_size_unit.c"), *libs], "arm-none-eabi-gcc build")
        out = _run([size, "-B", str(elf)], "arm-none-eabi-size").stdout.splitlines()
    text, data, bss = (int(v) for v in out[1].split()[:3])
    return CSize(text, data, bss, cpu, form, compiler_version("arm-none-eabi-gcc"),
                 flags + LINK_FLAGS)


def c_size(model, cpu: str = "cortex-m4f", form: str = "table") -> CSize:
    """Bytes a model's C export takes on a Cortex-M: ``text`` is its flash (code + tables +
    the runtime + libgcc helpers; no vector table or startup code) for one call of
    ``model_predict`` (tree regressors: the int32 sum; their ``predict_value`` adds a double
    division, soft-float on both CPUs), or for networks ``model_scores`` (every output).

    Parameters
    ----------
    model : what :func:`export_c` takes (trees or networks).
    cpu : {"cortex-m0plus", "cortex-m4f"}
        arm-none-eabi-gcc -Os -mthumb, -mcpu=cortex-m0plus (soft float) or
        -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard.
    form : {"table", "inline"}
        "inline" is for trees.

    Returns
    -------
    CSize

    Raises
    ------
    InputError
        Unknown cpu or form.
    BuildError
        arm-none-eabi-gcc is not installed (the message says how to install it).

    Examples
    --------
    >>> eml.c_size(model, cpu="cortex-m0plus")        # doctest: +SKIP
    CSize(cortex-m0plus, form='table': text 5012 B, data 0 B, bss 0 B; ...)
    """
    from .c_export import dispatch, model_header, runtime_header_path
    if cpu not in CPUS:
        raise InputError(f"unknown cpu {cpu!r}: known are {', '.join(sorted(CPUS))}")
    exporter = dispatch(model)
    header = model_header(exporter.model, "model", form)
    from ..nets.model import NetModel
    if isinstance(exporter.model, NetModel):
        # Scores: every output computed (a regressor's predict() would be a constant 0).
        st = "float" if exporter.model.int8 is None else "int32_t"
        snippet = f"model_scores((const float *)input, ({st} *)output);"
    else:
        snippet = (f"*(int32_t *)output = model_predict((const {exporter.input_ctype} *)"
                   "input);")
    headers = {"model.h": header}
    for runtime in (exporter.runtime,) + exporter.includes:
        headers[runtime] = runtime_header_path(runtime).read_text()
    return firmware_size(headers, "model.h", snippet, cpu, form)
