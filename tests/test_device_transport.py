"""Device primitives on the virtual device: file operations built on mpremote's fs_* helpers
and the streaming exec that dev.record() runs on, with their errors in emlearn_lab's
exception classes."""
import pytest

from emlearn_lab.exceptions import DeviceRuntimeError


@pytest.mark.device
def test_missing_file_is_an_error_on_the_device_not_a_lost_link(device):
    with pytest.raises(DeviceRuntimeError, match=r"during reading no_such_file.*ENOENT"):
        device.read_file("no_such_file")
    with pytest.raises(DeviceRuntimeError, match=r"during writing no_such_dir/x.*ENOENT"):
        device.put_data("no_such_dir/x", b"1")
    assert repr(device).endswith(", connected)")  # the link was kept: no reconnect
    assert device.eval("1 + 1") == 2
