"""The "inline" form in Thumb-2 machine code, for Cortex-M3/M4/M7 (ARMv7-M).

Each decision node becomes five instructions: load the feature's float32 bits from the
row, load the threshold as an immediate (``movw``/``movt``), compare, branch to the right
subtree (the left one follows). No key conversion: for a threshold t >= +0.0 (its bits as a
signed int32 are >= 0), x > t exactly when bits(x) > bits(t) as signed int32s; for t <= -0.0,
exactly when bits(x) < bits(t) as unsigned. That is the order of the uint32 keys the other
walkers compare (trees/keys.py: negative floats inverted, the others offset by 2**31), NaNs
and both zeros included, so the two agree on every input. Each leaf adds its values to the
class sums as immediates. The viper inline form (trees/inline.py) takes about 31 instructions
per node visit on these cores; this one 5. (The module is written by trees/inline.py.)

``predict`` is a viper function (the row check by identity, as in the viper form) calling one
machine-code function per group of trees with (row, work): r0 = the row's float32 buffer,
r1 = the work array (class sums, then the leaf reached per tree, then the near-tie margin).
The last one returns the first maximum's index, or -1 - best on a near tie.
"""
import numpy as np

from .model import TreeModel
from .ties_thumb import THUMB2_ARCHS, native_ties, settle_f64_body

__all__ = ["THUMB2_ARCHS", "thumb_inline_supported", "thumb_inline_functions",
           "threshold_keys", "work_cells"]

# Wide loads and stores reach byte offsets below 4096 (imm12).
_MAX_OFFSET = 4095


def thumb_inline_supported(model: TreeModel, arch: str | None) -> bool:
    """Whether `model` gets this form on `arch`: float32 rows (float32 features, or int16
    features with learned scales, whose thresholds become float32 ones: see threshold_keys) on
    a Thumb-2 core, and every row offset and work cell (work_cells) within a wide load's
    reach."""
    rows_f32 = model.features == "float32" or model.quantiser is not None
    if arch not in THUMB2_ARCHS or not rows_f32:
        return False
    cells = work_cells(model, native_ties(model, arch))["n"]
    return 4 * max(model.n_features, cells) <= _MAX_OFFSET + 1


def _key_bits(keys: np.ndarray) -> np.ndarray:
    """The float32 bits (uint32) of uint32 keys: the inverse of trees/keys.float32_keys."""
    keys = keys.astype(np.uint32)
    return np.where(keys & 0x80000000, keys ^ np.uint32(0x80000000), ~keys).astype(np.uint32)


def threshold_keys(model: TreeModel) -> np.ndarray:
    """Each node's threshold as a uint32 float32 key K: a row goes left exactly when
    key(x) <= K. float32 models have them already. For learned-scale int16 features the node
    tests q(x) <= t, with q the device's quantiser (trees/quantise.py: monotone in x; NaNs
    and infinities saturate by their sign), so K = the largest key whose float has
    q <= t, found by bisection over the 2**32 keys. The row is then never quantised."""
    if model.quantiser is None:
        return model.threshold.astype(np.int64)
    quant = model.quantiser
    feature = model.feature.astype(np.int64)
    t = model.threshold.astype(np.int64) - 32768            # int16 keys -> q values

    def q(keys):
        x = _key_bits(keys).view(np.float32).astype(np.float64)
        x = np.where(np.isnan(x), np.copysign(np.inf, x), x)   # the device's saturation
        with np.errstate(over="ignore"):
            scaled = np.floor(np.ldexp(x, quant.shift[feature]))
        return np.clip(scaled - quant.offset[feature], -32768, 32767)

    lo = np.zeros(len(t), np.int64)              # q(key 0) = -32768 <= t always
    hi = np.full(len(t), 1 << 32, np.int64)      # exclusive
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        left = q(mid) <= t
        lo = np.where(left, mid, lo)
        hi = np.where(left, hi, mid)
    return lo


def _ldr(rt: int, rn: int, offset: int) -> str:
    """rt = [rn, #offset]: the assembler's 16-bit form below 128 bytes, else LDR.W (T3)."""
    return _word(rt, rn, offset, "ldr", 0xF8D0)


def _str(rt: int, rn: int, offset: int) -> str:
    """[rn, #offset] = rt, as _ldr (STR.W, T3)."""
    return _word(rt, rn, offset, "str", 0xF8C0)


def _word(rt: int, rn: int, offset: int, op: str, wide: int) -> str:
    if offset < 128:
        return f"{op}(r{rt}, [r{rn}, {offset}])"
    if offset > _MAX_OFFSET:            # imm12: beyond, the encoding would name other registers
        raise ValueError(f"offset {offset} beyond a wide {op}'s reach ({_MAX_OFFSET})")
    return f"data(2, {wide | rn:#06x}, {(rt << 12) | offset:#06x})"


def _mov(rd: int, value: int) -> list:
    """rd = value (any 32-bit pattern)."""
    value &= 0xFFFFFFFF
    return [f"mov(r{rd}, {value})"] if value < 256 else [f"movwt(r{rd}, {value:#x})"]


def _tree(model: TreeModel, t: int, bits: np.ndarray, tie_cells: bool, lines: list) -> None:
    """Code for tree t: decision nodes then leaves, depth first (left subtree falls through);
    every leaf but the last jumps to the tree's end with ``bl`` (a 4-byte branch reaching
    +-4 MB: lr is free here, the prologue saved it)."""
    no = model.n_outputs
    end = f"T{t}_END"
    stack = [(int(model.roots[t]), None)]
    while stack:
        node, label = stack.pop()
        if label:
            lines.append(f"label({label})")
        if node >= model.n_nodes:
            leaf = node - model.n_nodes
            for c, v in enumerate(int(x) for x in model.leaves[leaf]):
                if v == 0:
                    continue
                lines.append(_ldr(2, 1, 4 * c))
                if 0 < v < 256:
                    lines.append(f"add(r2, {v})")
                else:
                    lines += _mov(3, v) + ["add(r2, r2, r3)"]
                lines.append(_str(2, 1, 4 * c))
            if tie_cells:
                lines += _mov(2, leaf) + [_str(2, 1, 4 * (no + t))]
            lines.append(f"bl({end})" if stack else f"label({end})")
            continue
        t_bits = int(bits[node])                # the threshold's float32 bits
        right = f"N{node}_R"
        lines += [_ldr(2, 0, 4 * int(model.feature[node])), *_mov(3, t_bits), "cmp(r2, r3)",
                  # t >= +0: signed greater; t <= -0: unsigned lower (see the module doc)
                  f"bgt_w({right})" if t_bits < 0x80000000 else f"bcc_w({right})"]
        stack.append((int(model.right[node]), right))
        stack.append((int(model.left[node]), None))


def work_cells(model: TreeModel, native: bool) -> dict:
    """The work array's cells: class sums from 0, the leaf reached per tree, the near-tie
    margin; with native ties also the probabilities' address, settle_f64's six parameters
    and its twelve scratch cells."""
    no, nt = model.n_outputs, model.n_trees
    cells = {"margin": no + nt, "n": no + nt + 1}
    if native:
        cells.update(ties=no + nt + 1, params=no + nt + 2, scratch=no + nt + 8,
                     n=no + nt + 20)
    return cells


def _argmax(model: TreeModel, cells: dict | None, lines: list) -> None:
    """r0 = the first maximum's index (r4 its sum); with the margin cells, a near tie (another
    class's sum within the margin) is settled by settle_f64's code inlined here when the
    probabilities are in RAM (their address in its cell), else r0 = -1 - best for the
    bytecode path (also when settle_f64 cannot be exact)."""
    no = model.n_outputs
    lines += [_ldr(4, 1, 0), "mov(r0, 0)"]
    for c in range(1, no):
        lines += [_ldr(2, 1, 4 * c), "cmp(r2, r4)", f"ble(MAX{c})", "mov(r4, r2)",
                  *_mov(0, c), f"label(MAX{c})"]
    if cells is None:
        return
    # Wide or long branches: the check grows with the classes (narrow ones reach 256 bytes).
    lines += [_ldr(3, 1, 4 * cells["margin"]), "cmp(r3, 0)", "beq_w(DONE)"]
    for c in range(no):
        lines += [*(["cmp(r0, %d)" % c] if c < 256 else [*_mov(2, c), "cmp(r0, r2)"]),
                  f"beq(TIE{c})", _ldr(2, 1, 4 * c), "sub(r2, r4, r2)", "cmp(r2, r3)",
                  "ble_w(NEAR)", f"label(TIE{c})"]
    lines += ["bl(DONE)", "label(NEAR)"]
    if "ties" in cells:
        params, scratch = 4 * cells["params"], 4 * cells["scratch"]
        lines += [_ldr(2, 1, 4 * cells["ties"]), "cmp(r2, 0)", "beq(NEAR_BYTECODE)",
                  _str(0, 1, params),                       # p[0] = best
                  "mov(r0, r1)", "mov(r1, r2)", *_mov(2, params), "add(r2, r2, r0)",
                  *_mov(3, scratch), "add(r3, r3, r0)", "bl(S_ENTRY)", "label(NEAR_BYTECODE)"]
    lines += ["mvn(r0, r0)", "label(DONE)"]
    if "ties" in cells:
        # settle_f64's code: -2 (not exact in its arithmetic) becomes -1 - best.
        lines += ["bl(ALL_DONE)", "label(S_ENTRY)", *settle_f64_body("S_"),
                  "cmp(r0, 0)", "bge(ALL_DONE)", "ldr(r2, [r3, 8])", "ldr(r0, [r2, 0])",
                  "mvn(r0, r0)", "label(ALL_DONE)"]


def thumb_inline_functions(model: TreeModel, groups: list, cells: dict) -> list:
    """Source of ``_t0 .. _tN`` (one per group of trees, see trees/inline._chunks): the
    first zeroes the sums, the last returns the class (classifiers) or 0. cells: work_cells."""
    no = model.n_outputs
    classifier = model.kind == "classifier"
    tie_cells = bool(model.tie_margin)
    bits = _key_bits(threshold_keys(model))
    out = []
    for g, trees in enumerate(groups):
        lines = []
        if g == 0:
            lines += ["mov(r2, 0)"] + [_str(2, 1, 4 * c) for c in range(no)]
        for t in trees:
            _tree(model, t, bits, tie_cells, lines)
        if g < len(groups) - 1 or not classifier:
            lines.append("mov(r0, 0)")
        else:
            _argmax(model, cells if tie_cells else None, lines)
        body = "\n".join("    " + line for line in lines)
        out += ["", "", "@micropython.asm_thumb", f"def _t{g}(r0, r1) -> int:", body]
    return out
