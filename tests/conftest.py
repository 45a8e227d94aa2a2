"""Shared fixtures. Device tests run on the virtual device (the MicroPython unix port) by
default, on an emulated board with ``pytest --device emulated:cortex-m3`` (qemu; see
``emlearn-lab device list``) and on a real board with ``pytest --device /dev/ttyACM0``."""
import numpy as np
import pytest
from sklearn import datasets
from sklearn.model_selection import train_test_split


def pytest_addoption(parser):
    parser.addoption("--device", default="virtual",
                     help="device for tests marked 'device': 'virtual' (default), "
                          "'emulated:BOARD' (e.g. emulated:cortex-m3) or a port")


def _split(X, y, seed=0):
    return train_test_split(X, y, test_size=0.5, random_state=seed)


def _tricky(seed=0):
    """Features at every scale and sign, duplicates and exact ties: float32 rounding traps."""
    rng = np.random.default_rng(seed)
    n = 1200
    X = np.column_stack([
        rng.standard_normal(n) * 1e-30,
        rng.standard_normal(n) * 1e30,
        rng.integers(-3, 4, n).astype(float),            # many ties, -0.0/+0.0 around zero
        rng.standard_normal(n),
        np.round(rng.standard_normal(n) * 1000) / 7.0,    # values not exact in float32
        rng.uniform(-1, 1, n) ** 3,
    ])
    X[::7, 2] = -0.0
    y = ((X[:, 3] > 0) ^ (X[:, 2] > 0) ^ (X[:, 4] > 10)).astype(int) + (X[:, 5] > 0.5)
    return X, y


CLASSIFICATION = {
    "digits": lambda: datasets.load_digits(return_X_y=True),
    "iris": lambda: datasets.load_iris(return_X_y=True),
    "breast_cancer": lambda: datasets.load_breast_cancer(return_X_y=True),
    "wine": lambda: datasets.load_wine(return_X_y=True),
    "tricky": _tricky,
}
REGRESSION = {
    "diabetes": lambda: datasets.load_diabetes(return_X_y=True),
    "friedman": lambda: datasets.make_friedman1(n_samples=800, random_state=0),
}


@pytest.fixture(scope="session")
def classification_data():
    return {name: _split(*load()) for name, load in CLASSIFICATION.items()}


@pytest.fixture(scope="session")
def regression_data():
    return {name: _split(*load()) for name, load in REGRESSION.items()}


@pytest.fixture(scope="session")
def digits_forest(classification_data):
    from sklearn.ensemble import RandomForestClassifier
    X_train, X_test, y_train, y_test = classification_data["digits"]
    clf = RandomForestClassifier(n_estimators=10, max_leaf_nodes=100, random_state=1)
    return clf.fit(X_train, y_train), X_test


@pytest.fixture(scope="session")
def large_forest():
    """A forest past 65 535 decision nodes + leaves (needs 32-bit indices), and test rows."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    X, y = make_classification(n_samples=4000, n_features=20, n_informative=10, flip_y=0.2,
                               random_state=0)
    clf = RandomForestClassifier(n_estimators=200, random_state=0).fit(X[:3000], y[:3000])
    return clf, X[3000:]


@pytest.fixture(scope="module")
def device(request):
    """One device per test module (fresh virtual device, or the given board)."""
    import emlearn_lab as eml
    port = request.config.getoption("--device")
    dev = eml.connect(port)
    yield dev
    dev.close()
