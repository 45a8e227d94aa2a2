"""Tests that need a tool .ci/run installs (qemu, a cross compiler, ../shared) skip where it is
missing, but fail under CI: there a skipped test would pass by proving nothing."""
import os

import pytest


def skip_or_fail(why: str) -> None:
    """Skip the calling test because of ``why``, or fail it when the CI variable is set."""
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must have it")
    pytest.skip(why)
