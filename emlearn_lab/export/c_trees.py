"""A TreeModel as a C99 model header, in two forms.

- ``form="table"``: the model's arrays (see :mod:`._c_layout`) and one static const
  ``eml_lab_trees_model`` walked by the runtime in ``csrc/eml_lab_trees.h``.
- ``form="inline"``: the model is the code: each tree an ``if``/``else`` function returning
  the leaf it reaches. Its leaves add their constants to the sums in place, or, when
  ``EML_LAB_TREES_SMALL`` is 1 (the default under ``-Os``), one shared loop adds them from the
  leaf tables: a few bytes per leaf instead of a load, add and store per value. Trees larger
  than ``max_nodes_per_function`` decision nodes or nested deeper than ``max_nesting``
  continue in further functions, so huge forests still compile.

Both forms have the same API and compute what the host reference computes, bit for bit:
``<name>_predict`` (class index; regressors: the int32 sum), ``<name>_scores`` (the exact
integer sums of :meth:`TreeModel.scores`), and for regressors ``<name>_predict_value``.
"""
import numpy as np

from ..exceptions import UnsupportedModelError
from ..trees.model import TreeModel
from ._c_layout import FIELDS, Layout, features_kind, has_tie_path, leaf_tables, tables

__all__ = ["tree_header", "input_ctype", "Layout", "FORMS", "RUNTIME_HEADER"]

FORMS = ("table", "inline")
RUNTIME_HEADER = "eml_lab_trees.h"
MAX_NODES_PER_FUNCTION = 2000
MAX_NESTING = 48


def tree_header(model: TreeModel, name: str, form: str = "table", *,
                layout: Layout = Layout(), max_nodes_per_function: int = MAX_NODES_PER_FUNCTION,
                max_nesting: int = MAX_NESTING) -> str:
    """C source of the model header ``<name>.h`` (it includes ``eml_lab_trees.h``).

    ``layout`` forces encodings of the table form (default: the smallest, see
    :class:`Layout`); the inline form uses only its leaf tables (near-tie path).

    Raises
    ------
    UnsupportedModelError
        Unknown form or layout, or a model the layout cannot hold.
    """
    if form not in FORMS:
        raise UnsupportedModelError(f"form must be one of {FORMS}, got {form!r}")
    if form == "inline":     # compares float32 bits directly, never precomputed keys
        layout = Layout(layout.nodes, layout.thresholds, layout.leaves, layout.values, False)
    api = _Api(model, name, layout)
    if form == "table":
        body = _table_body(model, name, api, layout)
    else:
        body = _inline_body(model, name, api, max(1, max_nodes_per_function),
                            max(1, max_nesting))
    guard = f"EML_LAB_MODEL_{name.upper()}_H"
    parts = [_comment(model, name, form, api), f"#ifndef {guard}", f"#define {guard}", "",
             "#include <stdint.h>", f'#include "{RUNTIME_HEADER}"', "", _macros(model, api),
             _labels(model, name), body, api.functions(), f"#endif /* {guard} */", ""]
    return "\n".join(p for p in parts if p is not None)


def input_ctype(model: TreeModel) -> str:
    """C type of the features ``<name>_predict`` takes."""
    return "int16_t" if model.features == "int16" and model.quantiser is None else "float"


class _Api:
    """Names and signatures shared by both forms."""

    def __init__(self, model: TreeModel, name: str, layout: Layout):
        self.model, self.name, self.NAME = model, name, name.upper()
        self.features = features_kind(model, layout)
        self.xt = input_ctype(model)
        self.tie = has_tie_path(model)
        self.clf = model.kind == "classifier"

    def run_call(self, acc: str, leaf: str) -> str:
        return f"{self.name}__run(x, {acc}{', ' + leaf if self.tie else ''});"

    def run_signature(self) -> str:
        leaf = ", uint32_t *leaf" if self.tie else ""
        return f"static inline void {self.name}__run(const {self.xt} *x, int32_t *acc{leaf})"

    def functions(self) -> str:
        n, N, xt = self.name, self.NAME, self.xt
        leaf_decl = f"    uint32_t leaf[{N}_N_TREES];\n" if self.tie else ""
        out = [f"/* The exact integer sums (TreeModel.scores): out[{N}_N_OUTPUTS]. */",
               f"static inline void {n}_scores(const {xt} *x, int32_t *out)", "{",
               leaf_decl + "    " + self.run_call("out", "leaf"), "}", ""]
        if self.clf:
            decide = (f"eml_lab_trees_decide(&{n}_model, acc, leaf)" if self.tie
                      else f"eml_lab_trees_argmax(acc, {N}_N_OUTPUTS)")
            out += ["/* The class index (into the labels above): the first maximum of the "
                    "sums" + ("; near ties\n * settled with scikit-learn's float64 "
                              "arithmetic. */" if self.tie else ". */"),
                    f"static inline int32_t {n}_predict(const {xt} *x)", "{",
                    f"    int32_t acc[{N}_N_OUTPUTS];",
                    leaf_decl + "    " + self.run_call("acc", "leaf"),
                    f"    return {decide};", "}", ""]
        else:
            out += [f"/* The int32 sum over trees; divided by {N}_SCORE_DENOMINATOR it is "
                    "the prediction. */",
                    f"static inline int32_t {n}_predict(const {xt} *x)", "{",
                    "    int32_t acc[1];", "    " + self.run_call("acc", "leaf"),
                    "    return acc[0];", "}", "",
                    "/* The prediction, as the host computes it: sum / denominator in "
                    "double. */",
                    f"static inline double {n}_predict_value(const {xt} *x)", "{",
                    f"    return eml_lab_trees_value({n}_predict(x), {N}_SCORE_DENOMINATOR);", "}", ""]
        return "\n".join(out)


def _comment(model, name, form, api) -> str:
    feats = {"float32": "float32 features (const float *x)",
             "keys": "float32 features (const float *x)",
             "bits": "float32 features (const float *x)",
             "int16": "int16 features (const int16_t *x, whole numbers)",
             "quantised": "raw float32 features (const float *x), quantised to int16 inside "
                          "with\n * learned per-feature scales"}[api.features]
    what = ("the class index (into " + name + "_classes / the labels below)" if api.clf
            else "the int32 sum; " + name + "_predict_value() the value as double")
    return (f"/* {name}.h: generated by emlearn_lab from\n * {model!r}.\n"
            f" * Do not edit: regenerate with emlearn_lab.export.export_c(model, "
            f"\"{name}.h\", name=\"{name}\",\n * form=\"{form}\").\n *\n"
            f" * Takes {feats}.\n * {name}_predict(x) returns {what};\n"
            f" * {name}_scores(x, out) writes the exact integer sums (TreeModel.scores).\n"
            f" * Predictions equal emlearn_lab's host reference (TreeModel.predict) bit for "
            "bit.\n *\n"
            f" * Usage (C99 or C++; {RUNTIME_HEADER} must be next to this file):\n"
            f" *     #include \"{name}.h\"\n"
            f" *     {api.xt} x[{api.NAME}_N_FEATURES] = {{ ... }};\n"
            f" *     int32_t y = {name}_predict(x);\n"
            f" * Reentrant, no globals written, no allocation; {_scratch_bytes(model, form, api)}"
            " bytes of\n * scratch on the stack.\n */")


def _scratch_bytes(model, form, api) -> int:
    """Stack arrays of one predict: sums, leaves reached (tie path), float32 keys (table
    form) or quantised features (inline form)."""
    n = 4 * model.n_outputs + (4 * model.n_trees if api.tie else 0)
    if form == "table" and api.features == "keys":
        n += 4 * model.n_features
    if form == "inline" and api.features == "quantised":
        n += 2 * max(len(set(int(f) for f in model.feature)), 1)
    return n


def _macros(model, api) -> str:
    N = api.NAME
    lines = [f"#define {N}_N_FEATURES {model.n_features}",
             f"#define {N}_N_OUTPUTS {model.n_outputs}",
             f"#define {N}_N_TREES {model.n_trees}"]
    if api.clf:
        lines.append(f"#define {N}_N_CLASSES {model.n_outputs}")
    lines.append(f"/* scores / {N}_SCORE_DENOMINATOR = " + (
        "class probability */" if api.clf and model.leaf_bits is None else
        "the votes' scale (compressed leaves) */" if api.clf else "the predicted value */"))
    lines.append(f"#define {N}_SCORE_DENOMINATOR {float(model.score_denominator)!r}")
    return "\n".join(lines) + "\n"


def _labels(model, name) -> str | None:
    if model.classes_ is None:
        return None
    labels = list(model.classes_)
    if all(isinstance(v, (int, np.integer)) and -2**31 < int(v) < 2**31 for v in labels):
        return (f"/* Class labels: {name}_predict() returns an index into this. */\n"
                + _array(f"{name}_classes", "int32_t", np.array(labels, dtype=np.int64)))
    text = ", ".join(repr(str(v)).replace("*/", "* /") for v in labels)
    return f"/* Class labels, by index: {text} */\n"


# -- C literals and arrays --------------------------------------------------------------------

def _literal(ctype: str, v) -> str:
    if ctype == "double":
        return repr(float(v))     # shortest round-trip text: the compiler restores the bits
    v = int(v)
    if ctype == "uint32_t":
        return f"0x{v:08X}u"
    if ctype == "int32_t" and v == -2**31:
        return "(-2147483647 - 1)"
    return str(v)


def _array(cname: str, ctype: str, values) -> str:
    values = list(values) or [0]     # C has no empty arrays
    items = [_literal(ctype, v) for v in values]
    lines, line = [], "   "
    for it in items:
        if len(line) + len(it) + 2 > 98:
            lines.append(line)
            line = "   "
        line += " " + it + ","
    lines.append(line)
    return (f"static const {ctype} {cname}[{len(values)}] = {{\n" + "\n".join(lines)
            + "\n};\n")


def _descriptor(name: str, t) -> str:
    vals = []
    for f in FIELDS:
        v = t.fields.get(f, 0)
        vals.append(f"{name}_{v}" if isinstance(v, str) else str(int(v)))
    body = ",\n".join(f"    {v} /* {f} */" for f, v in zip(FIELDS, vals))
    return f"static const eml_lab_trees_model {name}_model = {{\n{body}\n}};\n"


# -- the table form ---------------------------------------------------------------------------

def _table_body(model, name, api, layout) -> str:
    t = tables(model, layout)
    if api.features == "quantised":
        q = model.quantiser
        t.arrays["q_offset"] = ("int32_t", q.offset)
        t.arrays["q_shift"] = ("int8_t", q.shift)
        t.fields.update(q_offset="q_offset", q_shift="q_shift")
    arrays = "\n".join(_array(f"{name}_{k}", ct, v) for k, (ct, v) in t.arrays.items())
    leaf = "leaf" if api.tie else "(uint32_t *)0"
    keys = (f"    uint32_t k[{api.NAME}_N_FEATURES];\n"
            f"    eml_lab_trees_keys(x, {api.NAME}_N_FEATURES, k);\n"
            if api.features == "keys" else "")
    return (f"/* Model tables: {t.nbytes()} bytes. */\n{arrays}\n{_descriptor(name, t)}\n"
            f"{api.run_signature()}\n{{\n{keys}"
            f"    eml_lab_trees_run(&{name}_model, {'k' if keys else 'x'}, acc, {leaf});\n}}\n")


# -- the inline form --------------------------------------------------------------------------

class _Inline:
    def __init__(self, model, name, api, limit, nesting):
        self.model, self.name, self.api = model, name, api
        self.limit, self.nesting = limit, nesting
        used = sorted(set(int(f) for f in model.feature))
        self.used = {f: i for i, f in enumerate(used)}    # quantised: feature -> q index
        self.functions = []                                # (name, root), creation order

    def cond(self, n: int) -> str:
        f, key = int(self.model.feature[n]), int(self.model.threshold[n])
        if self.api.features in ("float32", "keys", "bits"):
            # key(x) <= key(t) as one comparison of x's bits, chosen by t's sign.
            bits = key & 0x7FFFFFFF if key >= 0x80000000 else ~key & 0xFFFFFFFF
            t = np.array([bits], dtype=np.uint32).view(np.float32)[0]
            note = f"/* x[{f}] <= {str(t)} */"
            if key >= 0x80000000:
                return f"(int32_t)eml_lab_trees_bits(x[{f}]) <= {bits} {note}"
            return f"eml_lab_trees_bits(x[{f}]) >= 0x{bits:08X}u {note}"
        return f"x[{self.used[f] if self.api.features == 'quantised' else f}] <= {key - 32768}"

    def leaf(self, r: int, pad: str, out: list):
        row = self.model.leaves[r]
        adds = " ".join(f"acc[{c}] += {_literal('int32_t', v)};" for c, v in enumerate(row) if v)
        if adds:
            out.append(f"{pad}{self.api.NAME}__ADD({adds})")
        out.append(f"{pad}return {r}u;")

    def emit(self, n: int, depth: int, out: list, count: list):
        pad = "    " * depth
        nn = self.model.n_nodes
        if n >= nn:
            self.leaf(n - nn, pad, out)
            return
        if count[0] and (count[0] >= self.limit or depth > self.nesting):
            fname = f"{self.name}__part{len(self.functions)}"
            self.functions.append((fname, n))
            out.append(f"{pad}return {fname}(x, acc);")
            return
        count[0] += 1
        out.append(f"{pad}if ({self.cond(n)}) {{")
        self.emit(int(self.model.left[n]), depth + 1, out, count)
        out.append(f"{pad}}} else {{")
        self.emit(int(self.model.right[n]), depth + 1, out, count)
        out.append(f"{pad}}}")

    def source(self) -> str:
        xt = "float" if self.api.features in ("float32", "keys", "bits") else "int16_t"
        self.functions = [(f"{self.name}__tree{t}", int(r))
                          for t, r in enumerate(self.model.roots)]
        texts, i = [], 0
        while i < len(self.functions):       # emitting may append continuation functions
            fname, root = self.functions[i]
            body = []
            self.emit(root, 1, body, [0])
            texts.append(f"static inline uint32_t {fname}(const {xt} *x, int32_t *acc)\n{{\n"
                         "    (void)x;\n    (void)acc;\n" + "\n".join(body) + "\n}\n")
            i += 1
        # A continuation is created while its caller is emitted: callees first.
        return "\n".join(reversed(texts))


def _wrap(items, pad: str) -> list:
    """Lines of at most ~98 characters holding items separated by spaces."""
    lines, line = [], pad
    for it in items:
        if line != pad and len(line) + len(it) + 1 > 98:
            lines.append(line)
            line = pad
        line += ("" if line == pad else " ") + it
    return lines + [line]


def _inline_body(model, name, api, limit, nesting) -> str:
    gen = _Inline(model, name, api, limit, nesting)
    N = api.NAME
    t = leaf_tables(model, derive_values=True)
    tables = ("\n".join(_array(f"{name}_{k}", ct, v) for k, (ct, v) in t.arrays.items())
              + "\n" + _descriptor(name, t))
    parts = [f"/* Leaf tables: the near-tie path{' and' if api.tie else ' (none here);'} "
             "EML_LAB_TREES_SMALL's shared loop. */",
             tables if api.tie else f"#if EML_LAB_TREES_SMALL\n{tables}#endif",
             "/* Each tree is a function returning the leaf it reaches; with EML_LAB_TREES_SMALL "
             "0 its\n * leaves also add their fixed-point values to the sums. */",
             f"#if EML_LAB_TREES_SMALL\n#define {N}__ADD(adds)\n#else\n"
             f"#define {N}__ADD(adds) adds\n#endif\n", gen.source()]
    xt = "float" if api.features in ("float32", "keys", "bits") else "int16_t"
    lines = [api.run_signature(), "{", f"    eml_lab_trees_zero(acc, {N}_N_OUTPUTS);"]
    arg = "x"
    if api.features == "quantised":
        q = model.quantiser
        lines.append(f"    int16_t q[{max(len(gen.used), 1)}];")
        lines += [f"    q[{i}] = eml_lab_trees_quantise_one(x[{f}], {int(q.shift[f])}, "
                  f"{int(q.offset[f])});" for f, i in gen.used.items()]
        if not gen.used:
            lines.append("    q[0] = 0;")
        arg = "q"
    lines += ["#if EML_LAB_TREES_SMALL", "    {",
              f"        static uint32_t (*const trees[{N}_N_TREES])(const {xt} *, int32_t *) = {{",
              *_wrap([f"{name}__tree{t}," for t in range(model.n_trees)], "            "),
              "        };", "        uint32_t t;",
              f"        for (t = 0; t < {N}_N_TREES; t++) {{",
              f"            const uint32_t r = trees[t]({arg}, acc);",
              ("            leaf[t] = r;\n" if api.tie else "")
              + f"            eml_lab_trees_add(&{name}_model, r, acc);", "        }", "    }",
              "#else"]
    for t in range(model.n_trees):
        call = f"{name}__tree{t}({arg}, acc);"
        lines.append(f"    leaf[{t}] = {call}" if api.tie else f"    (void){call}")
    lines.append("#endif")
    if api.features != "quantised":
        lines.insert(2, "    (void)x;")   # a forest of lone leaves never reads x
    lines.append("}\n")
    parts.append("\n".join(lines))
    return "\n".join(parts)
