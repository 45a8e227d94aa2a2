"""The kernel's end of the browser link (no browser): BrowserLink's reads, requests and loss,
pyserial's webserial:// handler, the Device's probe, and the ipykernel routing it relies on.
The page itself is tested in a real browser (tests/test_browser_webserial.py)."""
import inspect
import threading

import pytest
import serial

import emlearn_lab as eml
from emlearn_lab.device.transport import Device, _probe_port
from emlearn_lab.device.webserial import register
from emlearn_lab.device.webserial.link import BrowserLink, LinkLost, get_link
from emlearn_lab.widgets.serial_widget import route_replies_to_page_subshell


@pytest.fixture
def link():
    sent = []
    ln = BrowserLink("unit", lambda content, buffers: sent.append((content, buffers)))
    ln.sent = sent
    yield ln
    ln.forget()


def opened(ln):
    ln.on_message({"kind": "opened", "info": {"usb_vendor_id": 0xF055}}, [])


def test_reads_what_the_page_sent_in_order(link):
    opened(link)
    link.on_message({"kind": "data"}, [memoryview(b"raw "), b"REPL"])
    assert link.in_waiting() == 8
    assert link.read(3, timeout_s=0) == b"raw"
    assert link.read(100, timeout_s=0.01) == b" REPL"      # what arrived when time is up
    assert link.read(1, timeout_s=0) == b""


def test_a_read_returns_when_bytes_arrive_from_another_thread(link):
    opened(link)
    threading.Timer(0.05, link.on_message, ({"kind": "data"}, [b"OK"])).start()
    assert link.read(2, timeout_s=None) == b"OK"
    assert link.handler_threads["data"] != link.handler_threads["opened"]   # timer / this


def test_writes_need_an_open_port_and_go_out_as_messages(link):
    with pytest.raises(LinkLost, match="click 'Connect board'"):
        link.write(b"\x03")
    opened(link)
    link.write(b"\r\x01")
    assert link.sent == [({"kind": "write"}, [b"\r\x01"])]


def test_loss_fails_reads_and_writes_as_oserror(link):
    opened(link)
    link.on_message({"kind": "data"}, [b">"])
    link.on_message({"kind": "lost", "reason": "NetworkError: The device has been lost."}, [])
    assert link.read(5, timeout_s=1) == b">"                # what arrived before is kept
    for call in (lambda: link.read(1, None), link.in_waiting, lambda: link.write(b"x")):
        with pytest.raises(OSError, match="lost .*NetworkError.*Connect board"):
            call()


def test_loss_wakes_a_waiting_read(link):
    opened(link)
    threading.Timer(0.05, link.on_message, ({"kind": "lost", "reason": "unplugged"}, [])).start()
    with pytest.raises(LinkLost, match="unplugged"):
        link.read(1, timeout_s=None)


def test_requests_match_replies_by_id(link):
    opened(link)

    def page_replies():
        content, _ = link.sent[-1]
        link.on_message({"kind": "reply", "id": content["id"], "status": "ok"}, [])

    threading.Timer(0.05, page_replies).start()
    assert link.request({"kind": "paste"}, [b"1"], timeout_s=30)["status"] == "ok"
    assert link.request({"kind": "ping"}, timeout_s=0.05) is None        # no answer
    assert link.requests == 2


def test_a_failed_pick_keeps_an_open_port(link):
    link.on_message({"kind": "failed", "reason": "NotFoundError: No port selected"}, [])
    assert link.state == "waiting" and "No port selected" in link.reason
    opened(link)
    link.on_message({"kind": "failed", "reason": "NotFoundError"}, [])
    assert link.state == "open"


def test_pyserial_opens_webserial_urls_through_the_link(link):
    register()
    with pytest.raises(serial.SerialException, match="click 'Connect board'"):
        serial.serial_for_url("webserial://unit")
    with pytest.raises(serial.SerialException, match="eml.connect_browser"):
        serial.serial_for_url("webserial://nobody")
    opened(link)
    port = serial.serial_for_url("webserial://unit", timeout=0.01, exclusive=True)
    port.write(b"\x02")
    link.on_message({"kind": "data"}, [b"hi"])
    assert port.in_waiting == 2 and port.read(5) == b"hi"
    port.dtr = False
    assert ({"kind": "signals", "dtr": False}, []) in link.sent
    port.close()
    assert get_link("unit") is link                          # the page's port stays open


def test_device_probe_asks_the_link(link):
    with pytest.raises(eml.DeviceNotFoundError, match="Connect board"):
        _probe_port("webserial://unit")
    with pytest.raises(eml.DeviceNotFoundError, match="connect_browser"):
        _probe_port("webserial://nobody")
    opened(link)
    _probe_port("webserial://unit")
    _probe_port("socket://127.0.0.1:9")                      # other URLs are mpremote's


def test_connect_browser_outside_a_kernel_says_where_it_runs():
    with pytest.raises(eml.BrowserLinkError, match="notebook kernel.*eml.connect"):
        eml.connect_browser()
    with pytest.raises(eml.InputError, match="name"):
        eml.connect_browser(name="a/b")


def test_device_on_a_lost_link_is_a_not_found_error(link):
    with pytest.raises(eml.DeviceNotFoundError, match="Connect board"):
        Device("webserial://unit")


def test_ipykernel_routing_that_the_widget_undoes_is_where_it_was():
    """The widget relies on a private detail of ipykernel 7 (the reply routing of comm
    messages): if it moves, this fails before a classroom finds out. (The project requires
    ipykernel >= 7, so this runs wherever the tests do.)"""
    from ipykernel.comm.comm import BaseComm
    from ipykernel.kernelbase import Kernel
    assert "_reply_subshell_for" in inspect.getsource(Kernel.shell_channel_thread_main)
    comm = BaseComm(target_name="jupyter.widget", primary=False)
    comm._reply_subshell_id = None              # what publishing from the cell's thread sets
    assert comm._reply_subshell_for({}, "page-subshell") is None
    assert route_replies_to_page_subshell(comm)
    assert comm._reply_subshell_for({}, "page-subshell") == "page-subshell"


def test_the_page_state_on_a_ping_reply_counts_once(link):
    """A widget's first messages can reach the kernel after the cell (before its subshell
    existed): the ping reply carries the page's state, and the late duplicate is ignored
    instead of dropping what was read since."""
    link._waiting.add(7)
    link.on_message({"kind": "reply", "of": "ping", "id": 7, "state": "open", "opens": 1,
                     "info": {"usb_vendor_id": 0x2E8A}}, [])
    assert link.state == "open" and link.port_info["usb_vendor_id"] == 0x2E8A
    assert 7 in link._replies
    link.on_message({"kind": "data"}, [b"kept"])
    link.on_message({"kind": "opened", "opens": 1, "info": {}}, [])     # the late one
    assert link.read(4, timeout_s=0) == b"kept" and link.opened == 1
    link.on_message({"kind": "opened", "opens": 2, "info": {}}, [])     # a new opening
    assert link.opened == 2


def test_a_browser_without_web_serial_is_said_on_the_ping(link):
    link.on_message({"kind": "reply", "of": "ping", "id": 1, "state": "unsupported",
                     "reason": "no navigator.serial"}, [])
    assert link.wait_for(("open", "unsupported"), 0) == "unsupported"


def test_a_newer_link_of_the_same_name_closes_the_older(link):
    opened(link)
    newer = BrowserLink("unit", lambda content, buffers: None)
    try:
        assert get_link("unit") is newer
        with pytest.raises(LinkLost, match="newer eml.connect_browser"):
            link.write(b"x")
    finally:
        newer.forget()


def test_unread_bytes_are_bounded(link, monkeypatch):
    import emlearn_lab.device.webserial.link as link_module
    monkeypatch.setattr(link_module, "MAX_BUFFER_BYTES", 8)
    opened(link)
    link.on_message({"kind": "data"}, [b"0123456789abc"])
    assert link.read(100, timeout_s=0) == b"56789abc"             # the newest are kept
