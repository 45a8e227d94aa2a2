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
    with pytest.raises(DeviceRuntimeError, match=r"during removing no_such_file.*ENOENT"):
        device.remove("no_such_file")
    assert repr(device).endswith(", connected)")  # the link was kept: no reconnect
    assert device.eval("1 + 1") == 2


@pytest.mark.device
def test_write_file_skips_a_file_whose_hash_matches(device):
    import hashlib
    assert device.file_sha256("no_such_file") is None
    assert device.write_file("hashed.bin", b"abc" * 400) is True
    assert device.file_sha256("hashed.bin") == hashlib.sha256(b"abc" * 400).digest()
    assert device.write_file("hashed.bin", b"abc" * 400) is False
    assert device.write_file("hashed.bin", b"abd" * 400) is True
    assert device.read_file("hashed.bin") == b"abd" * 400
    device.remove("hashed.bin")
    assert "hashed.bin" not in dict(device.listdir())
