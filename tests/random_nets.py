"""Random Dense networks for the exactness tests (device and C): random depth, widths,
activations and weight scales, classifier or regressor."""
import numpy as np

from emlearn_lab.nets.int8 import quantise_net
from emlearn_lab.nets.model import DenseLayer, NetModel


def random_net(rng, weights):
    """A random Dense network built directly: random depth, widths, activations and weight
    scales (1e-3 .. 1e3), classifier or regressor."""
    widths = [int(rng.integers(1, 40))] + [int(rng.integers(1, 24))
                                           for _ in range(rng.integers(1, 4))]
    kind = "classifier" if rng.random() < 0.7 else "regressor"
    if kind == "classifier" and widths[-1] == 1 and rng.random() < 0.5:
        widths[-1] = 3
    output = ("softmax" if widths[-1] > 1 else "sigmoid") if kind == "classifier" else \
        str(rng.choice(["linear", "relu"]))
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        scale = 10.0 ** rng.uniform(-3, 3)
        act = output if i == len(widths) - 2 else str(rng.choice(
            ["relu", "tanh", "sigmoid", "linear"]))
        layers.append(DenseLayer((rng.standard_normal((n_in, n_out)) * scale).astype("f4"),
                                 (rng.standard_normal(n_out) * scale).astype("f4"), act))
    net = NetModel(kind=kind, layers=layers, output=output,
                   classes_=np.arange(max(2, widths[-1])) if kind == "classifier" else None,
                   source="random")
    X = rng.standard_normal((60, widths[0])) * 10.0 ** rng.uniform(-2, 2, widths[0])
    if weights == "int8":
        net.int8 = quantise_net([(la.weights, la.bias, la.activation) for la in layers], X)
    return net, X
