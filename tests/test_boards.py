"""Board table, fit estimates and their checks against the virtual device."""
import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import emlearn_lab as eml
from emlearn_lab.board_fit.estimate import HEAP_FIT_FRACTION, board_target, deploy_plan
from emlearn_lab.board_fit.memory import calibration, runtime_hash
from emlearn_lab.board_fit.mpyfile import parse_mpy
from emlearn_lab.runtime.build import ARCHS, Target, compile_source
from emlearn_lab.device_src import device_source
from emlearn_lab.runtime.kernels import kernels_source
from emlearn_lab.exceptions import InputError, UnsupportedModelError
from emlearn_lab.trees.modelfile import kernel_name

BOARD_TOML = """
[my-board]
name = "My board"
mcu = "RP2040"
core = "Cortex-M0+"
cores = 2
clock_mhz = 133
flash_bytes = 16777216
ram_bytes = 270336
heap_bytes = 200000
fs_bytes = 15000000
fs_block_bytes = 4096
coremark = 320.0
fpu = "none"
arch = "armv6m"
port = "rp2"
native_code_in_heap = true
[my-board.sources]
clock_mhz = "x"
flash_bytes = "x"
ram_bytes = "x"
heap_bytes = "x"
fs_bytes = "x"
fs_block_bytes = "x"
coremark = "x"
fpu = "x"
arch = "x"
native_code_in_heap = "x"
"""


@pytest.fixture(scope="module")
def small_forest(classification_data):
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = RandomForestClassifier(5, max_leaf_nodes=30, random_state=0).fit(X_train, y_train)
    return clf, X_test


# -- the table -------------------------------------------------------------------------------
def test_table_has_the_boards_users_use_with_sources():
    table = eml.boards()
    assert len(table) >= 16 and "virtual" in table
    for board_id in ("rp2040-pico", "rp2350-pico2", "esp32-devkitc", "esp32s3-devkitc-psram",
                     "esp32c3-devkitm", "arduino-nano-33-ble", "microbit-v2", "teensy41",
                     "samd51-feather-m4", "m5stickc-plus2"):
        board = table[board_id]
        assert board.heap_bytes < board.ram_bytes or board_id.endswith(("psram", "wrover")) \
            or board.id == "m5stickc-plus2"
        assert all(board.sources[k].strip() for k in ("heap_bytes", "coremark", "arch"))
    assert {b.arch for b in table} >= {"armv6m", "armv7emsp", "xtensawin", "rv32imc", "x64"}


def test_table_renders_as_text_and_html():
    table = eml.boards()
    text, html = str(table), table._repr_html_()
    assert "rp2040-pico" in text and "armv6m" in text and "\n---" in text
    assert html.startswith("<table>") and "<td>rp2040-pico</td>" in html


def test_unknown_board_lists_close_matches():
    with pytest.raises(InputError, match="did you mean rp2040-pico"):
        eml.get_board("rp2040")
    with pytest.raises(InputError, match="unknown board 'zzzz'.*known boards"):
        eml.get_board("zzzz")


def test_user_board_file_extends_the_table(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text(BOARD_TOML)
    assert eml.boards(path)["my-board"].clock_mhz == 133
    monkeypatch.setenv("EMLEARN_LAB_BOARDS", str(path))
    assert "my-board" in eml.boards()


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("heap_bytes = 200000\n", ""), "missing field.*heap_bytes"),
    (lambda t: t.replace('arch = "armv6m"', 'arch = "z80"'), "arch must be"),
    (lambda t: t.replace("clock_mhz = 133", 'clock_mhz = "fast"'), "clock_mhz.*should be"),
    (lambda t: t.replace('coremark = "x"', 'coremark = ""'), "no source given for coremark"),
    (lambda t: t.replace("[my-board]\n", "[my-board]\nvoltage = 3\n"), "unknown field.*voltage"),
    (lambda t: t.replace("[my-board]", "[my-board"), "not valid TOML"),
], ids=["missing-field", "unknown-arch", "clock-not-a-number", "no-coremark-source",
        "unknown-field", "invalid-toml"])
def test_bad_board_files_say_what_is_wrong(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(edit(BOARD_TOML))
    with pytest.raises(InputError, match=message):
        eml.boards(path)
    with pytest.raises(InputError, match="does not exist"):
        eml.boards(tmp_path / "missing.toml")


def test_add_board_api(monkeypatch):
    from emlearn_lab.board_fit import table
    monkeypatch.setattr(table, "_ADDED", {})      # boards added here stay in this test
    pico = dataclasses.asdict(eml.get_board("rp2040-pico"))
    del pico["id"]
    board = eml.add_board("Tiny-Board", **{**pico, "heap_bytes": 20_000})
    assert board.id == "tiny-board" and eml.get_board("tiny-board").heap_bytes == 20_000
    with pytest.raises(InputError, match="heap_bytes must be positive"):
        eml.add_board("broken", **{**pico, "heap_bytes": 0})


# -- .mpy sizes ------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS[1:12])
def test_mpy_files_parse_to_their_last_byte(arch):
    for name, native in (("emltrees_kernels", True), ("emltrees", False)):
        data = compile_source(device_source(name + ".py"), name + ".py", Target(6, 3, arch),
                              native=native)
        info = parse_mpy(data)
        assert info.arch_id == (ARCHS.index(arch) if native else 0)
        assert (info.native_code_bytes > 1000) == native
        assert info.bytecode_bytes > 0


def test_truncated_or_foreign_mpy_is_rejected():
    data = compile_source(device_source("emltrees.py"), "emltrees.py", Target(6, 3, None), False)
    with pytest.raises(ValueError, match="truncated"):
        parse_mpy(data[:-5])
    with pytest.raises(ValueError, match="unknown layout"):
        parse_mpy(data + b"\0")
    with pytest.raises(ValueError, match="version 5"):
        parse_mpy(b"M\x05\x00\x1f")


# -- estimates -------------------------------------------------------------------------------
def test_calibration_matches_the_runtime():
    assert calibration()["heap_x64"]["runtime_hash"] == runtime_hash(), (
        "device_src/ or trees/inline.py changed since calibration.toml was measured: run "
        "`python -m emlearn_lab.board_fit.calibrate` and commit calibration.toml")
    assert calibration()["heap_x64"]["net_runtime_hash"] == runtime_hash(networks=True), (
        "device_src/emlnet* or nets/netfile.py changed since calibration.toml was measured: "
        "run `python -m emlearn_lab.board_fit.calibrate` and commit calibration.toml")


@pytest.mark.parametrize("board_id", ["rp2040-pico", "esp32-devkitc", "esp32c3-devkitm",
                                      "teensy41", "virtual"])
@pytest.mark.parametrize("form", ["loadable", "inline"])
def test_flash_estimate_is_the_bytes_deploy_writes_for_that_arch(small_forest, board_id, form):
    clf, X = small_forest
    board = eml.get_board(board_id)
    est = eml.estimate(clf, board_id, form, X[:50])
    model = eml.convert(clf)
    target = board_target(board)
    runtime = {"emlab_common", "emltrees", "emltrees_pure", "emlab_tools", "emlab_f64"}
    expected = 0
    for path, size in est.files:
        stem = path.rsplit(".", 1)[0]
        if stem in runtime or stem == "emltrees_kernels":
            # The kernels module carries the walker of this model's file layout.
            source = kernels_source([kernel_name(model)], target.arch) \
                if stem == "emltrees_kernels" \
                else device_source(stem + ".py")
            data = compile_source(source, stem + ".py", target,
                                  native=stem == "emltrees_kernels")
            assert len(data) == size, path
        expected += size
    assert est.flash_bytes == expected
    assert est.flash_bytes == sum(len(a.data) for a in deploy_plan(model, board, form)[1].files)
    assert est.fs_bytes % board.fs_block_bytes == 0 and est.fs_bytes >= est.flash_bytes
    assert est.latency_us > 0 and est.latency.counted
    # Native code is in the heap on ARM ports, outside it on the ESP32 and unix ports.
    assert (est.heap.native_code_bytes > 0) == board.native_code_in_heap


def test_bytecode_only_board_estimates_the_fallback(small_forest):
    est = eml.estimate(small_forest[0], "microbit-v2", "auto")
    assert est.form == "loadable" and est.latency is None
    assert any("emltrees_pure" in p for p, _ in est.files)
    assert not any("kernels" in p for p, _ in est.files)


def test_too_big_model_does_not_fit_and_says_what_to_do(classification_data):
    X_train, _, y_train, _ = classification_data["digits"]
    big = RandomForestClassifier(60, random_state=0).fit(X_train, y_train)
    est = eml.estimate(big, "microbit-v2", "loadable")
    assert not est.fits and est.ram_fraction > HEAP_FIT_FRACTION
    assert "of the 60 trees" in est.remedy and "max_leaf_nodes" in est.remedy
    assert "DOES NOT FIT" in str(est)
    inline = eml.estimate(big, "rp2040-pico", "inline")
    assert not inline.fits and "form='loadable'" in inline.remedy
    assert eml.estimate(big, "rp2040-pico", "auto").form == "loadable"


def test_estimate_rejects_bad_input(small_forest):
    clf, X = small_forest
    with pytest.raises(UnsupportedModelError):
        eml.estimate(DummyClassifier().fit(X[:40], np.arange(40) % 2), "rp2040-pico")
    with pytest.raises(UnsupportedModelError):
        eml.estimate(make_pipeline(StandardScaler(), DecisionTreeClassifier()).fit(
            X[:40], np.arange(40) % 2), "rp2040-pico")
    with pytest.raises(InputError, match="unknown board"):
        eml.estimate(clf, "pico")
    with pytest.raises(InputError, match=r"^The 'form' parameter of eml.estimate must be one "
                       r"of 'auto', 'loadable', 'inline'\. Got 'fast' instead\.$"):
        eml.estimate(clf, "rp2040-pico", "fast")
    with pytest.raises(InputError, match="shape"):
        eml.estimate(clf, "rp2040-pico", "loadable", X[:, :3])


def test_node_visits_match_scikit_learn_decision_paths(classification_data):
    X_train, X_test, y_train, _ = classification_data["wine"]
    clf = RandomForestClassifier(4, random_state=0).fit(X_train, y_train)
    model = eml.convert(clf)
    paths = sum(t.decision_path(X_test.astype(np.float32)).sum(axis=1).A1 - 1
                for t in clf.estimators_)
    assert np.array_equal(model.node_visits(X_test), paths)


def test_fit_table_covers_every_board(small_forest):
    clf, X = small_forest
    table = eml.fit_table(clf, X=X[:20])
    assert len(table.estimates["model"]) + len(table.errors["model"]) == len(eml.boards())
    assert "rp2040-pico" in table.fitting()
    assert table["rp2040-pico"].board.id == "rp2040-pico"
    text, html = str(table), table._repr_html_()
    assert "✓" in text and "rp2040-pico" in text and "<table>" in html
    import matplotlib
    matplotlib.use("Agg")
    fig = table.plot()
    assert len(fig.axes[0].patches) == 2 * len(table.estimates["model"])
    assert_fit_plot_readable(fig, ["heap used", "filesystem used"])


def assert_fit_plot_readable(fig, series: list) -> None:
    """A Figure (no stray <Axes: ...>) with a title, every bar series and the 100% line in
    the legend, and at most 6 inches tall (it was 12: 1200 px)."""
    from matplotlib.figure import Figure
    assert isinstance(fig, Figure) and hasattr(fig, "_repr_png_")
    ax = fig.axes[0]
    assert ax.get_title()
    labels = ax.get_legend().get_texts()
    labels = [t.get_text() for t in labels]
    assert all(s in labels for s in series), labels
    assert "100%: full" in labels
    assert fig.get_size_inches()[1] <= 6.0


def test_cli_boards(tmp_path, small_forest):
    import joblib
    path = tmp_path / "forest.joblib"
    joblib.dump(small_forest[0], path)
    run = [sys.executable, "-m", "emlearn_lab.cli", "boards"]
    out = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "rp2040-pico" in out.stdout
    out = subprocess.run(run + ["--model", str(path), "--board", "rp2040-pico", "--board",
                                "microbit-v2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "rp2040-pico" in out.stdout and "✓" in out.stdout and "esp32" not in out.stdout
    from emlearn_lab.trees.modelfile import to_bytes
    eml_file = tmp_path / "forest.eml"
    eml_file.write_bytes(to_bytes(eml.convert(small_forest[0])))
    out = subprocess.run(run + ["--model", str(eml_file), "--board", "esp32-devkitc"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "esp32-devkitc" in out.stdout, out.stderr
    out = subprocess.run(run + ["--model", str(tmp_path / "none.joblib")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "does not exist" in out.stderr
    out = subprocess.run(run + ["--model", str(path), "--board", "pico"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "did you mean" in out.stderr


# -- against the virtual device ----------------------------------------------------------------
@pytest.mark.device
@pytest.mark.parametrize("form", ["loadable", "inline"])
def test_estimate_matches_the_virtual_device(small_forest, form):
    """A fresh device: flash = bytes on its filesystem, RAM within 5% of gc.mem_alloc()."""
    clf, X = small_forest
    with eml.connect("virtual") as dev:
        board = dataclasses.replace(eml.get_board("virtual"),
                                    heap_bytes=dev.info["heap_free_bytes"])
        est = eml.estimate(clf, board, form, X[:30])
        report = dev.deploy(clf, X[:30], form=form)
        sizes = dict(dev.listdir())
    assert report.ok and report.form == est.form
    assert est.flash_bytes == sum(sizes[p] for p, _ in est.files)
    measured = report.runtime_ram_bytes + report.model_ram_bytes
    assert abs(est.ram_bytes / measured - 1) <= 0.05, (est.ram_bytes, measured)


@pytest.mark.device
def test_model_estimated_not_to_fit_fails_to_load(classification_data):
    X_train, _, y_train, _ = classification_data["digits"]
    clf = RandomForestClassifier(40, max_leaf_nodes=60, random_state=0).fit(X_train, y_train)
    need = eml.estimate(clf, "virtual", "loadable").ram_bytes
    with eml.connect("virtual", heap_bytes=need // 2 + 10_000) as dev:
        board = dataclasses.replace(eml.get_board("virtual"),
                                    heap_bytes=dev.info["heap_free_bytes"])
        assert not eml.estimate(clf, board, "loadable").fits
        with pytest.raises(eml.DeviceMemoryError, match="does not fit"):
            dev.deploy(clf, None, form="loadable")


def test_auto_form_falls_back_when_inline_cannot_be_built():
    """A chain-shaped tree (depth 99 > inline's 64): auto picks loadable and says why."""
    X = np.arange(100, dtype=float).reshape(-1, 1)
    clf = DecisionTreeClassifier(random_state=0).fit(X, np.arange(100) % 2,
                                                     sample_weight=np.exp(-0.2 * np.arange(100)))
    assert clf.get_depth() > 64
    est = eml.estimate(clf, "virtual", "auto", X)
    assert est.form == "loadable"
    assert any("inline' unavailable" in n and "depth" in n for n in est.notes)


def test_tight_when_the_largest_allocation_needs_an_unfragmented_heap(classification_data):
    X_train, _, y_train, _ = classification_data["digits"]
    clf = RandomForestClassifier(30, max_leaf_nodes=100, random_state=0).fit(X_train, y_train)
    block = eml.estimate(clf, "rp2040-pico", "loadable").heap.largest_block_bytes
    board = dataclasses.replace(eml.get_board("rp2040-pico"), heap_bytes=int(block / 0.4))
    est = eml.estimate(clf, board, "loadable")
    assert est.ram_fraction < HEAP_FIT_FRACTION
    assert not est.fits and est.tight and est.verdict == "tight"
    assert "contiguous block" in est.remedy and "TIGHT" in str(est)


@pytest.mark.device
def test_bytecode_runtime_estimate_matches_the_virtual_device(small_forest):
    """Boards without native code get the bytecode kernels; measured on the virtual device."""
    from emlearn_lab.board_fit.calibrate import measure_heap
    model = eml.convert(small_forest[0])
    board = dataclasses.replace(eml.get_board("virtual"), arch="none")
    est = eml.estimate(model, board, "loadable")
    assert abs(est.ram_bytes / measure_heap(model, "loadable", bytecode=True) - 1) <= 0.05


def test_fit_table_grid_of_several_models(small_forest, classification_data):
    X_train, _, y_train, _ = classification_data["digits"]
    big = RandomForestClassifier(60, random_state=0).fit(X_train, y_train)
    grid = eml.fit_table({"small": small_forest[0], "big": big},
                         boards=["rp2040-pico", "microbit-v2", "teensy41"])
    text = str(grid)
    assert "small (heap/flash used)" in text and "big (heap/flash used)" in text
    rows = {r[0]: r[1:] for r in grid.rows()}
    assert rows["rp2040-pico"][0].startswith("✓") and rows["microbit-v2"][1].startswith("✗")
    assert grid["big", "teensy41"].board.id == "teensy41"
    assert "<table>" in grid._repr_html_()
    import matplotlib
    matplotlib.use("Agg")
    fig = grid.plot()
    assert len(fig.axes[0].patches) == 2 * 2 * 3          # heap and filesystem per model
    assert_fit_plot_readable(fig, ["small: heap used", "small: filesystem used",
                                   "big: heap used", "big: filesystem used"])
    with pytest.raises(InputError, match="needs a model"):
        eml.fit_table({})


def test_mean_leaf_depth_matches_scikit_learn_trees(classification_data):
    """The data-free latency count: leaves are shared between trees after de-duplication, so
    each tree's leaf depths must come from walking that tree."""
    from emlearn_lab.trees.deployment import _mean_leaf_depth
    X_train, _, y_train, _ = classification_data["digits"]
    clf = RandomForestClassifier(10, random_state=0).fit(X_train, y_train)
    expected = 0.0
    for tree in (t.tree_ for t in clf.estimators_):
        depth = np.zeros(tree.node_count, dtype=int)
        for n in range(tree.node_count):
            for c in (tree.children_left[n], tree.children_right[n]):
                if c >= 0:
                    depth[c] = depth[n] + 1
        expected += depth[tree.children_left == -1].mean()
    assert _mean_leaf_depth(eml.convert(clf)) == pytest.approx(expected)


def test_the_heap_model_and_the_walkers_agree_with_the_runtime_layout_table():
    """The loadable work buffer is headed by emltrees.py's layout table: the RAM estimate
    counts the same number of cells and the machine-code walkers keep their scratch in its
    spare cells (24 and up: emltrees uses 0 .. 23)."""
    import re

    from emlearn_lab.runtime import rv32_walker, thumb_walker
    from emlearn_lab.trees.modelfile import LAYOUT_TABLE_CELLS, TABLE_SCRATCH
    cells = re.search(r"^_LAYOUT_TABLE = (\d+)$", device_source("emltrees.py"), re.M)
    assert cells and int(cells.group(1)) == LAYOUT_TABLE_CELLS
    scratch = (thumb_walker._T, thumb_walker._BLOB, thumb_walker._ROOTS, thumb_walker._OUT)
    assert len(set(scratch)) == 4
    assert all(TABLE_SCRATCH <= c < LAYOUT_TABLE_CELLS for c in scratch)
    assert TABLE_SCRATCH <= rv32_walker._BLOB < LAYOUT_TABLE_CELLS


def test_the_layout_table_slot_names_are_the_runtimes_slots():
    """trees/modelfile.py names the slots emltrees.py fills with bare numbers."""
    import re

    from emlearn_lab.trees import modelfile as mf
    src = device_source("emltrees.py")
    sections = re.search(r"^_SECTIONS = \(([\d, ]+)\)$", src, re.M).group(1)
    assert tuple(mf.TABLE_SECTION.values()) == tuple(int(s) for s in sections.split(","))
    assert tuple(mf.TABLE_SECTION) == mf.SECTIONS
    filled = dict(re.findall(r"^ +h\[(\d+)\] = (.*?)(?:  #.*)?$", src, re.M))
    assert {int(k) for k in filled} | set(mf.TABLE_SECTION.values()) | {
        mf.TABLE_SUM_MIN, mf.TABLE_SUM_MAX, mf.TABLE_ZERO_SUM_OK} == set(range(mf.TABLE_SCRATCH))
    for slot, value in [(mf.TABLE_N_TREES, "n_trees"), (mf.TABLE_N_NODES, "n_nodes"),
                        (mf.TABLE_N_OUTPUTS, "n_outputs"), (mf.TABLE_N_FEATURES, "n_features"),
                        (mf.TABLE_KEYS, "_LAYOUT_TABLE"),
                        (mf.TABLE_SUMS, "_LAYOUT_TABLE + n_features"),
                        (mf.TABLE_N_LEAVES, "n_leaves"), (mf.TABLE_N_CELLS, "n_cells"),
                        (mf.TABLE_CHILD_BASE, "base"),
                        (mf.TABLE_ROW_KIND, "0 if features == FEATURES_F32 else 1"),
                        (mf.TABLE_TIE_MARGIN, "n_trees + 1 if ties_path else 0"),
                        (mf.TABLE_FLAGS, "layout | (features << 2) | (dense << 4)")]:
        assert filled[str(slot)] == value, (slot, filled[str(slot)])
    sums = re.findall(r"^ +h\[(\d+)\], h\[(\d+)\], h\[(\d+)\] = ", src, re.M)
    assert set(sums) == {tuple(str(s) for s in (mf.TABLE_SUM_MIN, mf.TABLE_SUM_MAX,
                                                mf.TABLE_ZERO_SUM_OK))}
