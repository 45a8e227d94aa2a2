"""The words emlearn_lab's outputs use that a student may not know, explained in one place.

``eml.glossary()`` shows them as a table (a notebook cell); :func:`terms_html` puts each
explanation in a tooltip (an HTML ``<abbr title=...>``) where a term appears in an HTML output,
so that the reports explain themselves where they are read.
"""
import re
from html import escape

__all__ = ["GLOSSARY", "Glossary", "glossary", "terms_html"]

GLOSSARY = {
    "inline": "Deploy form: the model compiled into machine code (viper or Thumb-2), the "
              "thresholds and leaves written into the instructions. Fastest, but the code "
              "takes RAM on most boards.",
    "loadable": "Deploy form: a generic tree walker (compiled once) plus the model as a data "
                "file; smaller in RAM, a little slower, and a new model is only a new file.",
    "viper": "A MicroPython code emitter (@micropython.viper) that compiles a Python function "
             "to machine code with machine-word integers: 10-50x faster than bytecode.",
    "mpy v6.3": "The version of MicroPython's compiled-module format (.mpy files) that "
                "MicroPython 1.23 and later load; mpy-cross writes it for each processor.",
    "GC heap": "The memory MicroPython's garbage collector hands out to objects, arrays and "
               "(on most ports) loaded machine code; a model must fit in what is free after "
               "boot.",
    "ties file": "name.ties: the model's exact float64 class probabilities, read only when "
                 "two classes nearly tie, so that the device picks the class scikit-learn "
                 "picks.",
    "centi-dB": "Hundredths of a decibel: -301 centi-dB is -3.01 dB. Integer features keep "
                "0.01 dB of resolution without floating point.",
    "roc_auc_ovo_weighted": "Area under the ROC curve, one class against one other for every "
                            "pair, averaged weighted by class size: 1.0 ranks every sample "
                            "right, 0.5 is chance.",
    "ccp_alpha": "Cost-complexity pruning: a split is kept only if it lowers the impurity "
                 "(counted on the training rows) by more than ccp_alpha per extra leaf; "
                 "larger values leave smaller trees (scikit-learn's meaning).",
    "leaf refinement": "Re-fitting every leaf value of a pruned forest so that the smaller "
                       "forest, averaged, fits the training rows best (refine=True).",
    "Pareto front": "The settings no other setting beats on both size and score: smaller "
                    "ones score lower. Pick along it.",
    "µs": "Microseconds: millionths of a second.",
}


class Glossary:
    """The glossary as a table: HTML in a notebook, aligned text elsewhere."""

    def __init__(self, terms: dict):
        self.terms = dict(terms)

    def __str__(self) -> str:
        width = max(len(t) for t in self.terms)
        return "\n".join(f"{t:<{width}}  {text}" for t, text in self.terms.items())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{escape(t)}</th>"
                       f"<td style='text-align:left'>{escape(text)}</td></tr>"
                       for t, text in self.terms.items())
        return f"<table class='emlab-glossary'>{rows}</table>"


def glossary() -> Glossary:
    """The words of emlearn_lab's outputs explained (display it in a notebook cell)."""
    return Glossary(GLOSSARY)


# Longest first, so that "ties file" wins over a shorter term inside it; whole words only,
# so that "inline" is not found in "inlined" nor "us" anywhere.
_PATTERN = re.compile("|".join(r"(?<![\w-])" + re.escape(escape(t)) + r"(?![\w-])"
                               for t in sorted(GLOSSARY, key=len, reverse=True)
                               if t != "µs"))
_BY_ESCAPED = {escape(t): t for t in GLOSSARY}


def terms_html(text: str) -> str:
    """`text` escaped for HTML, each glossary term in it wrapped in an ``<abbr>`` whose
    tooltip (``title``) explains it."""
    def wrap(match) -> str:
        term = _BY_ESCAPED[match.group(0)]
        return f"<abbr title=\"{escape(GLOSSARY[term])}\">{match.group(0)}</abbr>"
    return _PATTERN.sub(wrap, escape(text))
