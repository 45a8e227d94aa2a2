"""Dense neural networks (scikit-learn MLP, Keras Sequential): host reference, int8."""
from .model import NetModel

__all__ = ["NetModel"]
