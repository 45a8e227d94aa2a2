"""The key/value renderer behind DeployReport, FeatureCheck and Estimate: the layout the
committed notebook outputs pin, escaping, and the three reports drawn through it."""
import numpy as np

from emlearn_lab._kv_report import kv_html, kv_text
from emlearn_lab.device.feature_report import FeatureCheck
from emlearn_lab.device.report import DeployReport

ROWS = [("board", "rp2040-pico"), ("RAM (gc.mem_alloc delta)", "24048 B")]


def test_text_aligns_values_then_details_then_notes():
    text = kv_text(ROWS, ["row 3: host [1] device [2]"], ["an estimate"])
    assert text == ("board                     rp2040-pico\n"
                    "RAM (gc.mem_alloc delta)  24048 B\n"
                    "  row 3: host [1] device [2]\n"
                    "note: an estimate")


def test_text_without_rows_is_empty():
    assert kv_text([]) == ""


def test_html_escapes_labels_values_details_and_notes():
    html = kv_html([("a<b", "x & 'y'")], ["<script>"], ["n > 0"], terms=False)
    assert html == ("<table><tr><th style='text-align:left'>a&lt;b</th>"
                    "<td style='text-align:left'>x &amp; &#x27;y&#x27;</td></tr></table>"
                    "<ul><li>&lt;script&gt;</li></ul><ul><li>n &gt; 0</li></ul>")


def test_html_leaves_out_empty_lists():
    assert "<ul>" not in kv_html(ROWS)


def test_html_explains_glossary_terms_in_values_and_notes_only_when_asked():
    rows = [("form", "loadable")]
    assert "<abbr" in kv_html(rows) and "<abbr" in kv_html([], notes=["GC heap"])
    assert "<abbr" not in kv_html(rows, terms=False)
    assert "<abbr" not in kv_html([("loadable", "1")], ["GC heap"])   # labels, details


def _report(**changes) -> DeployReport:
    fields = dict(device="virtual", target="x64", form="loadable", name="m", model="m",
                  files=[("/m.mpy", 100, True)], runtime_ram_bytes=1, model_ram_bytes=2,
                  load_us=3, heap_free_bytes=4, native=True)
    return DeployReport(**{**fields, **changes})


def test_deploy_report_lists_disagreements_before_notes():
    report = _report(notes=["<heap>"], n_rows=2, agreement=0.5, n_disagreements=1,
                     disagreements=[{"row": 1, "host": [1, 2], "device": [2, 1]}])
    text, html = str(report), report._repr_html_()
    assert text.endswith("\n  row 1: host [1, 2] device [2, 1]\nnote: <heap>")
    assert html.endswith("<ul><li>row 1: host [1, 2] device [2, 1]</li></ul>"
                         "<ul><li>&lt;heap&gt;</li></ul>")


def test_feature_check_shows_the_same_details_in_text_and_html():
    host = np.zeros((3, 2), np.int64)
    device = host.copy()
    device[2, 1] = 5
    check = FeatureCheck.compare(host, device, ["rms", "a<b"])
    text, html = str(check), check._repr_html_()
    assert text.endswith("\n  a<b: max |error| 5\n  window 2 a<b: host 0 device 5")
    assert html.endswith("<ul><li>a&lt;b: max |error| 5</li>"
                         "<li>window 2 a&lt;b: host 0 device 5</li></ul>")
    assert "<abbr" not in html
