"""Device primitives on the virtual device: file operations built on mpremote's fs_* helpers
and the streaming exec that dev.record() runs on, with their errors in emlearn_lab's
exception classes."""
import pytest

from emlearn_lab.exceptions import DeviceRuntimeError, DeviceTimeoutError


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


# -- exec_streaming and interrupt: what dev.record() streams through -------------------------
@pytest.mark.device
def test_exec_streaming_hands_over_the_output_byte_by_byte(device):
    got = []
    device.exec_streaming("for i in range(3):\n print(i)", got.append)
    assert set(map(len, got)) == {1}
    assert b"".join(got).replace(b"\r", b"") == b"0\n1\n2\n\x04"  # boards print \r\n
    with pytest.raises(DeviceRuntimeError, match=r"during counting: ZeroDivisionError") as e:
        device.exec_streaming("print(1)\n1 / 0", got.append, what="counting")
    assert "Traceback" in str(e.value)
    assert device.eval("1 + 1") == 2


class _Stop(Exception):
    pass


@pytest.mark.device
def test_exec_streaming_stops_the_program_when_its_consumer_raises(device):
    def stop(byte):
        if byte == b"\n":
            raise _Stop

    program = ("import time\n_emlab_done = 0\nfor i in range(600):\n print(i)\n"
               " time.sleep(0.1)\n_emlab_done = 1")
    with pytest.raises(_Stop):
        device.exec_streaming(program, stop, runs_for_s=60)
    # interrupted at its first line: the program never reached its end
    assert device.eval("_emlab_done") == 0
    assert device.interrupt() is True          # nothing runs: nothing to do
    assert device.eval("1 + 1") == 2           # the virtual device was not signalled


@pytest.mark.device
def test_exec_streaming_silent_program_times_out_and_the_device_recovers(device):
    with pytest.raises(DeviceTimeoutError, match="did not finish spinning within 1 s"):
        device.exec_streaming("while True:\n pass", lambda b: None, idle_timeout_s=1,
                              what="spinning")
    assert device.eval("1 + 1") == 2
