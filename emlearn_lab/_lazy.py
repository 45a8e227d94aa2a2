"""Packages whose public names are imported on first use (PEP 562): ``import emlearn_lab``
must not pay for scikit-learn, scipy, numpy or the device and widget stacks it may never use."""
import importlib
import importlib.util
import sys
import types

__all__ = ["attach"]


def attach(package: str, names: dict, listed: set):
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps each public name to the module
    (relative to the package) that defines it; any submodule also resolves as an attribute;
    ``listed`` are the submodules dir() shows before they are imported."""
    module = sys.modules[package]

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
        elif not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}"):
            value = importlib.import_module("." + name, package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(module, name, value)
        return value

    def __dir__() -> list:
        def shown(name, value):
            if isinstance(value, types.ModuleType):     # submodules, not `sys` or this one
                return value.__name__.startswith(package + ".") and value.__name__ != __name__
            if name in ("__getattr__", "__dir__") or value is attach:
                return False
            return name.startswith("__") or not name.startswith("_")
        return sorted({n for n, v in vars(module).items() if shown(n, v)} | set(names) | listed)

    return __getattr__, __dir__
