"""The emlearn-lab command: `emlearn-lab demo` runs the pipeline headless on a device
(recording, labels, the device's sensor, a model deployed and verified, windows -> features
-> model deployed as one Pipeline);
`emlearn-lab boards [--model FILE]` shows the board table or a model's fit on every board;
`emlearn-lab deploy MODEL --data X.npy [--board ID]` checks the fit, deploys and verifies (exit 0
only if the device agrees with the host on every row); `emlearn-lab device list|info|ls|reset`."""
import argparse
import sys

from .progress import bar

__all__ = ["main"]


def _demo(args) -> int:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    from . import LabelSet, connect, convert, datasets
    from .exceptions import EmlearnLabError

    rec = datasets.load_sample("basic_motions")
    labels = LabelSet.load(datasets.sample_labels_path("basic_motions"), recording=rec)
    print(f"recording: {rec}")
    print(f"labels: {len(labels)} intervals of {', '.join(labels.classes)} (file checked "
          "against the recording's length, rate and SHA-256)")

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=1)
    clf = RandomForestClassifier(n_estimators=args.trees, max_leaf_nodes=100, random_state=1)
    clf.fit(X_train, y_train)
    model = convert(clf)
    host_vs_sklearn = float(np.mean(model.predict(X_test) == clf.predict(X_test)))
    print(f"dataset: digits, {len(X_train)} train / {len(X_test)} test rows, "
          f"{X.shape[1]} features")
    print(f"model: {model}")
    print(f"host reference vs scikit-learn: {host_vs_sklearn:.2%} identical predictions; "
          f"test accuracy {float(np.mean(model.predict(X_test) == y_test)):.2%}")
    try:
        with connect(args.device) as dev:
            print(f"device: {dev} [{dev.target}]")
            dev.playback(rec)
            sensed = dev.record(2.0)
            sensor_ok = np.array_equal(sensed.data, rec.data[:sensed.n_samples]
                                       .astype(sensed.data.dtype))
            print(f"device sensor: recorded {sensed.duration_s:g} s ({sensed.n_samples} "
                  f"samples × {sensed.n_channels} channels) of the recording played back; "
                  f"identical to the file: {'yes' if sensor_ok else 'NO'}")
            report = dev.deploy(model, X_test, form=args.form)
            print(report)
            motion_ok = _motion_pipeline(dev, rec, labels, args)
    except EmlearnLabError as e:
        print(f"emlearn-lab demo: {e}", file=sys.stderr)
        return 2
    ok = report.ok and sensor_ok and host_vs_sklearn == 1.0 and motion_ok
    return 0 if ok else 1


def _motion_pipeline(dev, rec, labels, args) -> bool:
    """The sample's labelled windows -> TimeStats + forest, group-aware, deployed as one
    Pipeline: the device computes features and predictions from raw windows."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from . import class_report, cross_validate, windows
    from .features import TimeStats

    print("\n-- motion classifier: windows -> features -> forest, on the device --")
    win = windows(rec, labels, window_s=2.0, hop_s=1.0, groups="interval")
    train, test = win.split(test_size=0.3, random_state=0)
    print(f"windows: {win}")
    pipe = make_pipeline(TimeStats(axes=[0, 1, 2], magnitude=True),
                         RandomForestClassifier(n_estimators=args.trees, max_depth=8,
                                                random_state=0))
    cv = cross_validate(pipe, train, cv=4)
    print(f"group-aware 4-fold CV on {len(train)} training windows: macro F1 "
          f"{np.mean(cv['test_score']):.3f} (no labelled session in two folds)")
    pipe.fit(train.X, train.y)
    print(class_report(test.y, pipe.predict(test.X)))
    report = dev.deploy(pipe, test.X, name="motion")
    print(report)
    return report.ok and report.feature_check.exact and _motion_app(dev, rec, pipe)


def _motion_app(dev, rec, pipe) -> bool:
    """The motion pipeline installed as an app that runs on the board on its own; the whole
    recording played through it gives the events the host simulated."""
    from . import DeviceApp, post, sensors

    print("\n-- the motion classifier as an app that runs on its own --")
    app = DeviceApp(pipe, sensors.Playback(), window_s=2.0, hop_s=0.5,
                    post=post.Smooth(votes=3) | post.MinDuration(1.0), name="motion_app")
    print(app)
    installed = dev.install(app, rec)
    boot = ("it starts at boot" if installed["starts_at_boot"] else
            "this port does not run main.py at boot: dev.app_output starts it")
    print(f"installed as {installed['config']['generation']} ({boot})")
    check = dev.check_app(app, rec)
    print(check)
    for e in check.device.events[:4]:
        print(f"  event on the device: {e.label} {e.start_s:g}-{e.end_s:g} s")
    return check.identical


def _load_model(path: str):
    """A model from FILE: an emlearn_lab model file (.eml) or a pickled/joblib scikit-learn
    estimator (.joblib/.pkl: only load files you trust, unpickling runs code)."""
    from pathlib import Path

    from .exceptions import InputError
    p = Path(path)
    if not p.exists():
        raise InputError(f"model file {path} does not exist")
    if p.suffix == ".eml":
        from .trees.modelfile import from_bytes
        return from_bytes(p.read_bytes())
    if p.suffix in (".joblib", ".pkl", ".pickle"):
        import joblib
        try:
            return joblib.load(p)
        except Exception as e:
            raise InputError(f"could not load {path} with joblib: {e}") from None
    raise InputError(f"model file {path}: expected .eml (emlearn_lab model file) or "
                     ".joblib/.pkl (a fitted scikit-learn estimator)")


def _boards(args) -> int:
    from . import BoardTable, boards, fit_table
    from .exceptions import EmlearnLabError
    try:
        table = boards(*args.board_file)
        chosen = [table[b] for b in args.board]   # an unknown id: InputError naming the ids
        if args.model is None:
            print(BoardTable({b.id: b for b in chosen}) if chosen else table)
            return 0
        fits = fit_table(_load_model(args.model), args.board or None, form=args.form)
    except EmlearnLabError as e:
        print(f"emlearn-lab boards: {e}", file=sys.stderr)
        return 2
    print(fits)
    return 0


def _export_c(args) -> int:
    from . import c_size, export_c
    from .exceptions import EmlearnLabError
    try:
        model = _load_model(args.model)
        for path in export_c(model, args.output, name=args.name, form=args.form):
            print(f"wrote {path}")
        for cpu in args.size_for:
            print(c_size(model, cpu=cpu, form=args.form))
    except EmlearnLabError as e:
        print(f"emlearn-lab export-c: {e}", file=sys.stderr)
        return 2
    return 0


_DEPLOY_EXIT = """exit status:
  0  every verified row is exact
  1  deployed, but some rows differ from the host
  2  an error (a bad file, no device at the port, ...)
  3  a model does not fit --board (nothing was sent)"""


def _load_array(path: str, what: str):
    from pathlib import Path

    import numpy as np

    from .exceptions import InputError
    if not Path(path).exists():
        raise InputError(f"{what} file {path} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise InputError(f"{what} file {path}: expected a .npy array ({e})") from None


def _compare_names(paths: list, taken: str) -> list:
    """Device names for --compare models: their file stems as identifiers, made unique."""
    import re
    from pathlib import Path
    names = [taken]
    for p in paths:
        base = re.sub(r"\W", "_", Path(p).stem) or "other"
        base = base if base[0].isalpha() or base[0] == "_" else "m_" + base
        name, k = base, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names[1:]


def _label_score(dev, X, y, name: str) -> str:
    import numpy as np
    pred = dev.predict(X, name=name)
    if len(y) != len(pred):
        return f"labels: {len(y)} labels for {len(pred)} rows, not scored"
    if getattr(dev.deployed.model, "kind", "classifier") == "regressor":
        return f"device vs labels: mean absolute error {float(np.mean(np.abs(pred - y))):.4g}"
    return f"device vs labels: accuracy {float(np.mean(pred == y)):.2%} of {len(y)} rows"


def _deploy(args) -> int:
    from . import connect, estimate, get_board
    from .exceptions import EmlearnLabError
    if args.repeats < 1:
        print(f"emlearn-lab deploy: --repeats must be at least 1, got {args.repeats}",
              file=sys.stderr)
        return 2
    try:
        if args.board:
            get_board(args.board)
        X = _load_array(args.data, "data")
        y = _load_array(args.labels, "labels") if args.labels else None
        models = {args.name: _load_model(args.model)}
        for name, path in zip(_compare_names(args.compare, args.name), args.compare):
            models[name] = _load_model(path)
        if args.board:
            for name, model in models.items():
                est = estimate(model, args.board, args.form, X, name=name)
                if est.verdict == "does not fit":
                    print(f"emlearn-lab deploy: '{name}' does not fit board '{args.board}': "
                          f"{est.remedy}. Nothing was sent.", file=sys.stderr)
                    return 3
                print(est, end="\n\n")
        ok = True
        with connect(args.device) as dev:
            for name, model in models.items():
                report = dev.deploy(model, X, form=args.form, name=name, repeats=args.repeats)
                print(report)
                if y is not None:
                    print(_label_score(dev, X, y, name))
                print()
                ok = ok and report.ok
    except EmlearnLabError as e:
        print(f"emlearn-lab deploy: {e}", file=sys.stderr)
        return 2
    return 0 if ok else 1


def _live_progress(shown, comparison) -> None:
    """Move the live bar to the items compared so far, the agreement beside it."""
    if shown.disable:
        return
    summary = comparison.summary()
    agree = ", ".join(f"{label} {100 * m['agreement']:.1f}% agree"
                      for label, m in summary.models.items() if m["n"])
    shown.set_postfix_str(agree, refresh=False)
    shown.update(comparison.n_items - shown.n)


def _live(args) -> int:
    from . import connect
    from .exceptions import EmlearnLabError
    from .live import LiveComparison
    try:
        X = _load_array(args.data, "data")
        models = {args.name: _load_model(args.model)}
        for name, path in zip(_compare_names(args.compare, args.name), args.compare):
            models[name] = _load_model(path)
        with connect(args.device) as dev:
            comparison = LiveComparison(dev, models, X, batch=args.batch)
            print(f"live: streaming {len(X)} items through {', '.join(map(repr, models))} "
                  f"on the host and on {dev!r}; the summary follows when they are done",
                  flush=True)
            with bar(comparison.total, "live: host vs device", "item") as shown:
                remove = comparison.on_update(lambda c: _live_progress(shown, c))
                comparison.start()
                try:
                    state = comparison.wait(args.timeout)
                finally:
                    comparison.stop()
                    remove()
            summary = comparison.summary()
    except EmlearnLabError as e:
        print(f"emlearn-lab live: {e}", file=sys.stderr)
        return 2
    print(summary)
    if state != "done":
        print(f"emlearn-lab live: stopped after {args.timeout:g} s in state '{state}'",
              file=sys.stderr)
        return 1
    return 0 if summary.all_agree else 1


def _device(args) -> int:
    from . import connect, list_serial_ports
    from .exceptions import EmlearnLabError
    if args.path is not None and args.action != "ls":
        print(f"emlearn-lab device {args.action}: takes no path", file=sys.stderr)
        return 2
    if args.action == "list":
        from .device.emulated import FIRMWARE_ENV, PREFIX, board_status, firmware_dirs
        emulated, found = [], set()
        for board, description, firmware, has_qemu in board_status():
            missing = [w for w, ok in (("qemu", has_qemu), ("firmware", firmware)) if not ok]
            state = "ready" if not missing else "needs " + " and ".join(missing)
            emulated.append((PREFIX + board, f"{description}, clock counts instructions "
                                             f"({state})"))
            found |= {str(firmware.parent)} if firmware else set()
        for port, description in [("virtual", "MicroPython unix port on this computer "
                                              "(built in)")] + list_serial_ports() + emulated:
            print(f"{port:<22}  {description}")
        where = "from " + ", ".join(sorted(found)) if found else "missing"
        dirs = ", ".join(map(str, firmware_dirs()))
        print(f"emulated boards: firmware {where} (looked for in {dirs}; set {FIRMWARE_ENV} "
              "to another directory); qemu: apt-get install qemu-system-arm qemu-system-misc")
        return 0
    try:
        with connect(args.device) as dev:
            if args.action == "info":
                info = dev.info
                print(repr(dev))
                for key in ("target", "platform", "version", "machine", "heap_free_bytes",
                            "heap_used_bytes"):
                    print(f"  {key:<16} {info[key]}")
            elif args.action == "ls":
                files = sorted(dev.listdir(args.path or ""))
                for name, size in files:
                    print(f"{size:>10}  {name}")
                if not files:
                    where = f"{args.path!r}" if args.path else "its root"
                    fresh = (" (each CLI call starts a fresh virtual device: deploy and list in "
                             "one Python session, or use a board)"
                             if args.device == "virtual" else "")
                    print(f"no files in {where} on {args.device}{fresh}")
            else:
                dev.reset()
                print(f"{dev!r} restarted")
    except EmlearnLabError as e:
        print(f"emlearn-lab device {args.action}: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="emlearn-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="load a labelled sample recording and record it back "
                                       "through the device's sensor; train a forest on "
                                       "digits, deploy it to a device, verify every test row "
                                       "there and time it; then window the recording, train "
                                       "TimeStats + forest and deploy that Pipeline, features "
                                       "and predictions verified on the device")
    demo.add_argument("--device", default="virtual",
                      help="'virtual' (default), 'auto', or a serial port path")
    demo.add_argument("--form", default="auto", choices=["auto", "loadable", "inline"])
    demo.add_argument("--trees", type=int, default=10, help="number of trees (default 10)")
    demo.set_defaults(func=_demo)
    brd = sub.add_parser("boards", help="the board table; with --model, whether the model "
                                        "fits each board (flash, RAM, estimated latency)")
    brd.add_argument("--model", help="a model: .eml file or a pickled scikit-learn estimator")
    brd.add_argument("--board", action="append", default=[],
                     help="only this board id (repeatable)")
    brd.add_argument("--form", default="auto", choices=["auto", "loadable", "inline"])
    brd.add_argument("--board-file", action="append", default=[],
                     help="extra board table (TOML, same fields as the packaged one)")
    brd.set_defaults(func=_boards)
    exc = sub.add_parser("export-c", help="write a C99 model header (+ the runtime header) "
                                          "for firmware; optionally its Cortex-M size")
    exc.add_argument("model", help="a model: .eml file or a pickled scikit-learn estimator")
    exc.add_argument("output", help="the model header to write, e.g. src/model.h")
    exc.add_argument("--name", default="model", help="C prefix (default 'model')")
    exc.add_argument("--form", default="table", choices=["table", "inline"])
    exc.add_argument("--size-for", action="append", default=[],
                     choices=["cortex-m0plus", "cortex-m4f"],
                     help="also build it with arm-none-eabi-gcc -Os and print its size")
    exc.set_defaults(func=_export_c)
    dep = sub.add_parser("deploy", help="check a model fits a board, deploy it to a device, "
                                        "verify every row there against the host and time it",
                         epilog=_DEPLOY_EXIT,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    dep.add_argument("model", help="a model: .eml file or a pickled scikit-learn estimator or "
                                   "Pipeline (eml.features extractor + model)")
    dep.add_argument("--data", required=True,
                     help="rows (or windows, for a Pipeline) to verify, as .npy")
    dep.add_argument("--labels", help="labels of --data (.npy): also score the device's "
                                      "predictions")
    dep.add_argument("--board", help="first check the model fits this board (exit 3 if not)")
    dep.add_argument("--device", default="virtual",
                     help="'virtual' (default), 'auto', or a serial port path")
    dep.add_argument("--form", default="auto", choices=["auto", "loadable", "inline"])
    dep.add_argument("--name", default="model", help="device name of the model "
                                                     "(default 'model')")
    dep.add_argument("--compare", nargs="+", default=[], metavar="OTHER_MODEL",
                     help="also deploy these model files (device name: the file stem)")
    dep.add_argument("--repeats", type=int, default=200,
                     help="predict() calls per timed row (default 200)")
    dep.set_defaults(func=_deploy)
    liv = sub.add_parser("live", help="stream rows through a model on the host and on a "
                                      "device, compare every prediction, print the summary "
                                      "(exit 0 only if all agree)")
    liv.add_argument("model", help="a model: .eml file or a pickled scikit-learn estimator or "
                                   "Pipeline")
    liv.add_argument("--data", required=True, help="rows (or windows) to stream, as .npy")
    liv.add_argument("--compare", nargs="+", default=[], metavar="OTHER_MODEL",
                     help="also stream through these model files (label: the file stem)")
    liv.add_argument("--name", default="model", help="label and device name of the model")
    liv.add_argument("--device", default="virtual",
                     help="'virtual' (default), 'auto', or a serial port path")
    liv.add_argument("--batch", type=int, default=16, help="items per round trip (default 16)")
    liv.add_argument("--timeout", type=float, default=600.0,
                     help="stop after this many seconds (default 600)")
    liv.set_defaults(func=_live)
    dev = sub.add_parser("device", help="list ports, or a device's info, files, or reset it")
    dev.add_argument("action", choices=["list", "info", "ls", "reset"])
    dev.add_argument("path", nargs="?", help="ls: the directory (default: the root)")
    dev.add_argument("--device", default="virtual",
                     help="'virtual' (default), 'emulated:BOARD' (see device list), 'auto', "
                          "or a serial port path")
    dev.set_defaults(func=_device)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
