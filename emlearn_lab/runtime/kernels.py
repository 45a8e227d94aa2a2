"""The native kernels module for a model: emltrees_kernels.py plus the walker(s) it needs.

Viper pointer types are static, so every model file layout (child width, feature width,
threshold width, leaf encoding) needs its own walker. They are all generated from one template,
device_src/emltrees_forest.tmpl, and a deploy sends only the one its model file uses: each
walker is machine code that a microcontroller keeps in its heap.
"""
import re
from string import Template

from ..device_src import device_source
from .rv32_walker import RV32_ARCHS, rv32_walker_source
from ..trees.ties_thumb import THUMB2_ARCHS, settle_f64_source
from .thumb_net import thumb_net_source
from .thumb_walker import THUMB_ARCHS, thumb_walker_source

__all__ = ["kernels_source", "walker_source", "net_kernels_source", "KERNEL_NAME"]

KERNEL_NAME = re.compile(r"^forest_(small|large|tiny|packed(16|24|32)([tr]))(16|32)([sd])$")
_CHILD = {"small": "ptr16", "large": "ptr32", "tiny": "ptr8"}
_WIDTHS = {"small": (1, 2, 2), "large": (2, 4, 4), "tiny": (1, 2, 1)}   # feature, root, child
# Packed node words (trees/packing.py) by word bytes: the low part's pointer, the full word.
_WORD = {2: ("ptr16", "int(feat[n])"), 3: ("ptr16", "int(feat[n]) | (int(hi[n]) << 16)"),
         4: ("ptr32", "int(feat[n])")}
_KEY = {True: "uint(thr[int(off[c]) + ((w >> ts) & tm)])", False: "t0 + uint((w >> ts) & tm)"}


def _template() -> tuple:
    text = device_source("emltrees_forest.tmpl")
    body = text[text.index("@micropython.viper"):text.index("# -- sparse leaves --")]
    blocks = dict(re.findall(r"# -- (\w+ \w+) --\n(.*?)(?=# -- |\Z)", text, flags=re.S))
    return body.rstrip() + "\n", blocks


def walker_source(name: str, arch: str | None = None) -> str:
    """Source of one walker, e.g. ``forest_tiny16d`` (tiny layout, uint16 thresholds, dense
    uint8 leaves) or ``forest_packed24t16s`` (packed 3-byte node words, thresholds from the
    per-feature table, uint16 keys, sparse leaves); see trees.modelfile.kernel_name. On ARM
    cores (``arch`` one of THUMB_ARCHS) the walker is Thumb machine code (thumb_walker.py),
    on RV32IMC RISC-V code (rv32_walker.py), elsewhere viper."""
    m = KERNEL_NAME.match(name)
    if not m:
        raise ValueError(f"unknown kernel name {name!r}")
    layout, word_bits, thresholds, bits, leaves = m.groups()
    packed = None if word_bits is None else (int(word_bits) // 8, thresholds == "t")
    if arch in THUMB_ARCHS or arch in RV32_ARCHS:
        source = thumb_walker_source if arch in THUMB_ARCHS else rv32_walker_source
        widths = _WIDTHS["tiny" if packed else layout]
        extra = {"packed": packed} if packed else {}
        return source(name[len("forest_"):], *widths, int(bits) // 8, leaves == "d", **extra)
    body, blocks = _template()
    mode = "dense" if leaves == "d" else "sparse"
    nodes = "packed" if packed else "split"
    return Template(Template(body).safe_substitute(
        NODE_POINTERS=blocks[f"{nodes} pointers"].rstrip("\n"),
        WALK=blocks[f"{nodes} walk"].rstrip("\n"))).substitute(
        NAME=name[len("forest_"):],
        FEAT=_WORD[packed[0]][0] if packed else "ptr16" if layout == "large" else "ptr8",
        ROOT="ptr32" if layout == "large" else "ptr16", CHILD=_CHILD.get(layout, "ptr8"),
        THR="ptr16" if bits == "16" else "ptr32",
        WORD=_WORD[packed[0]][1] if packed else "", KEY=_KEY[packed[1]] if packed else "",
        LEAF_POINTERS=blocks[f"{mode} leaves"].rstrip("\n"),
        LEAF_ADD=blocks[f"{mode} add"].rstrip("\n"))


def kernels_source(names, arch: str | None = None) -> str:
    """emltrees_kernels.py with the given walkers for the core ``arch`` (an mpy-cross
    -march value; None: viper) appended."""
    parts = [device_source("emltrees_kernels.py").rstrip() + "\n"]
    if arch in THUMB_ARCHS:
        # The walkers take float32 rows of learned-scale int16 models (emltrees.py).
        parts.append("\n# Thumb walkers: they quantise float32 rows themselves.\nTHUMB = True\n")
    parts += ["\n\n" + walker_source(n, arch) for n in sorted(set(names))]
    if arch in THUMB2_ARCHS:
        parts.append("\n\n# Near ties settled in machine code (emlab_common.tie_resolver).\n"
                     + settle_f64_source())
    return "".join(parts)


def net_kernels_source(arch: str | None = None) -> str:
    """The int8 network kernel module (``net8``) for the core ``arch``: Thumb machine code on
    ARM cores (thumb_net.py), else device_src/emlnet_kernels.py (viper)."""
    if arch in THUMB_ARCHS:
        return thumb_net_source()
    return device_source("emlnet_kernels.py")
