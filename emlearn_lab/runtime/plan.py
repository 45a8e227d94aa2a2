"""What deploy writes for a model on a target: the form and its bundle, from the model's kind.

Deploy and the board estimates both call :func:`plan`, so the estimate counts exactly the
files a deploy would send.
"""
from ..validate import one_of

__all__ = ["plan", "check_form", "DEVICE_FORMS"]

# The forms deploy and estimate accept: "auto" lets the model's kind choose.
DEVICE_FORMS = ("auto", "loadable", "inline")


def plan(model, form: str, target, name: str, heap_free_bytes: int) -> tuple:
    """(form, Bundle) of a converted model (see emlearn_lab.protocol.Model.device_plan) on a
    device target whose free heap is ``heap_free_bytes`` ("auto" decides with it)."""
    return model.device_plan(check_form(form), target, name, heap_free_bytes)


def check_form(form, owner: str = "dev.deploy") -> str:
    """``form`` if deploy and estimate know it, else InputError."""
    return one_of("form", form, DEVICE_FORMS, owner=owner)
