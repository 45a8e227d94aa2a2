"""The glossary of the words outputs use, its tooltips, the one spelling of microseconds, and
the verdict line's wording (DeployVerdict, from a DeployReport as deploy fills it)."""
import re

import numpy as np
import pytest

import emlearn_lab as eml
from emlearn_lab.device.report import DeployReport
from emlearn_lab.terms import GLOSSARY, terms_html
from emlearn_lab.live.summary import LiveSummary, model_summary
from emlearn_lab.verdict import DeployVerdict, kilobytes

STUDENT_JARGON = ["inline", "loadable", "viper", "mpy v6.3", "GC heap", "ties file",
                  "centi-dB", "roc_auc_ovo_weighted", "Pareto front"]
# A microsecond figure spelled "us": "12.3 us", "us/predict", "(1 us = ..."
US_SPELLING = re.compile(r"(\d|\b1) us\b|\bus/|\bus per\b|\bus median\b")


def report(**kw) -> DeployReport:
    fields = dict(device="Device(virtual, port='/dev/pts/9', connected)",
                  target="mpy v6.3 x64", form="inline", name="model", model="TreeModel(...)",
                  files=[("model_inline.mpy", 900, True)], runtime_ram_bytes=9000,
                  model_ram_bytes=3100, load_us=400, heap_free_bytes=2_000_000, native=True,
                  n_rows=200, agreement=1.0, us_per_predict_median=15.27,
                  us_per_predict_min=14.0, us_per_predict_max=19.0, bench_rows=16,
                  bench_repeats=5)
    return DeployReport(**dict(fields, **kw))


def test_glossary_explains_every_term_students_met():
    g = eml.glossary()
    for term in STUDENT_JARGON:
        assert term in g.terms and len(g.terms[term]) > 40, term
        assert term in str(g) and term in g._repr_html_()


@pytest.mark.parametrize("term", STUDENT_JARGON)
def test_a_term_in_html_output_carries_its_explanation(term):
    html = terms_html(f"x {term}; y")
    assert f">{term}</abbr>" in html.replace("&#x27;", "'")
    assert 'title="' in html and GLOSSARY[term][:20].replace("'", "&#x27;") in html


def test_tooltips_match_whole_words_and_escape():
    assert "<abbr" not in terms_html("inlined loadable_x us")
    assert terms_html("<b> & inline").startswith("&lt;b&gt; &amp; <abbr")


def test_microseconds_are_spelled_one_way_in_every_output(digits_forest):
    clf, X_test = digits_forest
    est = eml.estimate(clf, "rp2040-pico", X=X_test[:20])
    table = eml.fit_table(clf, boards=["rp2040-pico", "esp32-devkitc"], X=X_test[:20])
    summary = LiveSummary("done", "rows", "Device(virtual)", 3, 3, 0,
                          {"m": model_summary(np.ones(3, bool), np.full(3, 15.0))})
    emulated = report(instructions_per_us=1000.0)
    texts = [str(est), est._repr_html_(), str(table), table._repr_html_(), str(summary),
             str(report()), report()._repr_html_(), str(emulated)]
    for text in texts:
        assert not US_SPELLING.search(text), US_SPELLING.search(text).group(0)
    assert "µs per predict" in str(est) and "µs/predict" in str(table)
    assert "15.27 µs median" in str(report()) and "1 µs = 1000" in str(emulated)


def test_verdict_line_without_a_board():
    v = DeployVerdict("model", report())
    assert v.line() == ("model on the virtual device: exact (100% of 200 rows), 15.3 µs per "
                        "predict, inline form, 12.1 kB RAM")
    assert v.ok and str(v).splitlines()[0] == v.line()
    assert "deploy report on the virtual device:" in str(v)


def test_verdict_says_when_rows_differ_and_counts_instructions():
    v = DeployVerdict("small", report(agreement=0.995, n_disagreements=1,
                                      instructions_per_us=1000.0))
    assert v.line().startswith("small on the virtual device: DIFFERS on 1 of 200 rows, "
                               "15 270 instructions per predict")
    assert not v.ok and "#b00020" in v._repr_html_()


def test_verdict_with_a_board_leads_with_the_fit(digits_forest):
    clf, X_test = digits_forest
    est = eml.estimate(clf, "rp2040-pico", X=X_test[:20])
    v = DeployVerdict("model", report(form=est.form), est)
    line = v.line()
    assert line.startswith(f"model on rp2040-pico: fits ({kilobytes(est.ram_bytes)} of "
                           f"{kilobytes(est.board.heap_bytes)} free heap, {est.form}), ")
    assert f"instructions ≈ {est.latency_us:.3g} µs per predict (estimate)" in line
    assert line.endswith("on the virtual device: exact (100% of 200 rows), 15.3 µs per "
                         "predict (standing in for the board)")
    assert "\n" not in line and "not on the board" in v.hint
    assert not DeployVerdict("model", report(), est, on_board=True).hint
    html = v._repr_html_()
    assert html.index("<details>") < html.index("<table")



def test_verdict_figures_never_use_an_exponent():
    """A slow pipeline (12 400 µs per window on the virtual device) read "1.24e+04 µs"."""
    from emlearn_lab.verdict import figure, kilobytes
    assert [figure(x) for x in (1.6423, 67.43, 227.2, 999.4, 999.6, 12403.0, 0.5)] == \
        ["1.64", "67.4", "227", "999", "1 000", "12 403", "0.5"]
    assert kilobytes(1_234_567) == "1 235 kB" and kilobytes(35_210) == "35.2 kB"
