"""Bundle for the "inline" form: the model as a generated viper module."""
from .build import Target, compile_source
from ..trees.inline import inline_source
from .artifacts import Artifact, Bundle, module_artifact, quantiser_files, tie_files

__all__ = ["inline_bundle"]


def inline_bundle(model, target: Target, name: str) -> Bundle:
    notes: list = []
    module = name + "_inline"
    data = compile_source(inline_source(model, arch=target.arch), module + ".py", target,
                          native=True)
    ties, tie_paths = tie_files(model, name, target, notes)
    files = [module_artifact("emlab_common", target, False, notes),
             module_artifact("emlab_tools", target, False, notes),
             Artifact(module + ".mpy", data, "model_code")]
    files += quantiser_files(model, target, notes) + ties
    return Bundle(files, ("emlab_common", "emlab_quant", module), "load", tie_paths, True,
                  notes)
