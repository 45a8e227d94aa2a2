"""The native kernels module for a model: emltrees_kernels.py plus the walker(s) it needs.

Viper pointer types are static, so every model file layout (child width, feature width,
threshold width, leaf encoding) needs its own walker. They are all generated from one template,
device_src/emltrees_forest.tmpl, and a deploy sends only the one its model file uses: each
walker is machine code that a microcontroller keeps in its heap.
"""
import re
from string import Template

from .artifacts import device_source

__all__ = ["kernels_source", "walker_source", "KERNEL_NAME"]

KERNEL_NAME = re.compile(r"^forest_(small|large|tiny)(16|32)([sd])$")
_CHILD = {"small": "ptr16", "large": "ptr32", "tiny": "ptr8"}


def _template() -> tuple:
    text = device_source("emltrees_forest.tmpl")
    body = text[text.index("@micropython.viper"):text.index("# -- sparse leaves --")]
    blocks = dict(re.findall(r"# -- (\w+ \w+) --\n(.*?)(?=# -- |\Z)", text, flags=re.S))
    return body.rstrip() + "\n", blocks


def walker_source(name: str) -> str:
    """Source of one walker, e.g. ``forest_tiny16d`` (tiny layout, uint16 thresholds, dense
    uint8 leaves); see trees.modelfile.kernel_name."""
    m = KERNEL_NAME.match(name)
    if not m:
        raise ValueError(f"unknown kernel name {name!r}")
    layout, bits, leaves = m.groups()
    body, blocks = _template()
    mode = "dense" if leaves == "d" else "sparse"
    return Template(body).substitute(
        NAME=name[len("forest_"):], FEAT="ptr16" if layout == "large" else "ptr8",
        ROOT="ptr32" if layout == "large" else "ptr16", CHILD=_CHILD[layout],
        THR="ptr16" if bits == "16" else "ptr32",
        LEAF_POINTERS=blocks[f"{mode} leaves"].rstrip("\n"),
        LEAF_ADD=blocks[f"{mode} add"].rstrip("\n"))


def kernels_source(names) -> str:
    """emltrees_kernels.py with the given walkers appended."""
    parts = [device_source("emltrees_kernels.py").rstrip() + "\n"]
    parts += ["\n\n" + walker_source(n) for n in sorted(set(names))]
    return "".join(parts)
