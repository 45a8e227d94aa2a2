"""The emlearn-lab command: `emlearn-lab demo` runs the pipeline headless on a device."""
import argparse
import sys

__all__ = ["main"]


def _demo(args) -> int:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    from . import connect, convert
    from .exceptions import EmlearnLabError

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
            report = dev.deploy(model, X_test, form=args.form)
            print(report)
    except EmlearnLabError as e:
        print(f"emlearn-lab demo: {e}", file=sys.stderr)
        return 2
    return 0 if report.ok and host_vs_sklearn == 1.0 else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="emlearn-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a forest on digits, deploy it to a device, "
                                       "verify every test row there and time it")
    demo.add_argument("--device", default="virtual",
                      help="'virtual' (default), 'auto', or a serial port path")
    demo.add_argument("--form", default="auto", choices=["auto", "loadable", "inline"])
    demo.add_argument("--trees", type=int, default=10, help="number of trees (default 10)")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
