"""What goes onto a device for feature extractors: their modules, the pipeline runtime and
the feature file (the extractors' settings as JSON)."""
import json

from ..exceptions import BuildError
from .artifacts import Artifact, Bundle, module_artifact
from .build import Target

__all__ = ["feature_bundle", "machine_code_twins"]


def feature_bundle(target: Target, extractors, name: str) -> Bundle:
    """The extractors' device modules (native code) + the pipeline runtime + the feature
    file ``name.fx`` (JSON)."""
    if target.arch is None:
        raise BuildError(f"feature extractors are viper (native) code, which device target "
                         f"{target} cannot run; use a port built with the native emitter")
    notes: list = []
    modules = ["emlfx_core"] + sorted({e.device_spec()["module"] for e in extractors})
    files = [module_artifact(m, target, True, notes) for m in modules]
    twins = machine_code_twins(target, modules, notes)
    files += twins
    files += [module_artifact(m, target, False, notes) for m in ("emlab_tools", "emlfx")]
    spec = {"format": "emlfx", "version": 1, "steps": [e.device_spec() for e in extractors]}
    files.append(Artifact(name + ".fx", json.dumps(spec, separators=(",", ":")).encode(),
                          "data"))
    twin_names = tuple(a.path.rsplit(".", 1)[0] for a in twins)
    return Bundle(files, twin_names + tuple(modules) + ("emlfx",), "load", (name + ".fx",),
                  True, notes)


def machine_code_twins(target: Target, modules: list, notes: list) -> list:
    """Artifacts of the extractor modules' machine-code twins for target's core: TimeStats'
    (emlfx_time_thumb, runtime/thumb_time_stats.py) on Thumb-2 cores. The module imports it
    when present and keeps its viper code otherwise (other cores, or a failed build, noted)."""
    from ..trees.ties_thumb import THUMB2_ARCHS
    from .thumb_time_stats import time_stats_source
    if "emlfx_time" not in modules or target.arch not in THUMB2_ARCHS:
        return []
    try:
        return [module_artifact("emlfx_time_thumb", target, True, notes,
                                source=time_stats_source())]
    except BuildError as e:
        notes.append(f"TimeStats machine code unavailable ({str(e).splitlines()[0]}); "
                     "its viper code runs instead")
        return []
