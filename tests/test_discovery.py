"""`qnic station scan` and the discovery behind it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from benches import make_bench

from qnic.cli import main
from qnic.instruments.discovery import classify_port, scan


def port(device: str, vid: int | None = None, pid: int | None = None, serial: str | None = None
         ) -> SimpleNamespace:
    return SimpleNamespace(device=device, vid=vid, pid=pid, serial_number=serial)


def test_usb_identities_are_recognised() -> None:
    k10 = classify_port("/dev/ttyUSB0", 0x0403, 0xFAF0, "55000123")
    assert k10 is not None and k10.kind == "Thorlabs K10CR1"
    assert "type: qnic.instruments.rotators.apt.K10CR1" in k10.station_lines
    kdc = classify_port("/dev/ttyUSB1", 0x0403, 0xFAF0, "27000456")
    assert kdc is not None and kdc.kind == "Thorlabs KDC101"
    conex = classify_port("COM4", 0x104D, 0x3002, "A1")
    assert conex is not None and conex.kind == "Newport CONEX"
    ell = classify_port("/dev/ttyUSB2", 0x0403, 0x6015, "DK0AHAJZ")
    assert ell is not None and "Elliptec" in ell.kind
    assert classify_port("/dev/ttyS0", None, None, None) is None
    assert classify_port("/dev/ttyACM0", 0x2341, 0x0043, None) is None  # an Arduino


def test_probe_finds_elliptec_devices_by_their_in_reply() -> None:
    make_bench()
    url = "sim://ell14?bench=default&devices=0:A,3:B"
    found, notes = scan([port(url)], [], probe=True)
    assert [f.detail.split(",")[0] for f in found] == ["bus address 0", "bus address 3"]
    assert all(f.kind == "ELL14" for f in found) and notes == []


def test_nothing_found_says_so_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "scan", "--port", "loop://"]) == 0
    assert "no Thorlabs or Newport rotators found" in capsys.readouterr().out


def test_scan_json_lists_station_lines(capsys: pytest.CaptureFixture[str]) -> None:
    make_bench()
    assert main(["station", "scan", "--json", "--probe", "--port",
                 "sim://ell14?bench=default&arm=A&addr=5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["devices"]) == 1
    assert 'init: {device_id: "5"}' in out["devices"][0]["station_lines"]


@pytest.mark.parametrize(("url", "model", "type_line"), [
    ("sim://k10cr1?bench=default&arm=A", "K10CR1", "type: qnic.instruments.rotators.apt.K10CR1"),
    ("sim://kdc101?bench=default&arm=A", "KDC101", "type: qnic.instruments.rotators.apt.KDC101"),
    ("sim://conex?bench=default&arm=A&model=cc", "CONEX-CC", "type: qnic.instruments.rotators.conex.Conex"),
])
def test_probe_recognises_apt_and_conex_by_identification(url: str, model: str, type_line: str) -> None:
    make_bench()
    found, _ = scan([port(url)], [], probe=True)
    assert len(found) == 1 and model in found[0].kind
    assert found[0].station_lines[0] == type_line


def test_missing_libusb_gets_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import usb.core

    class NoBackendError(Exception):
        """Stands in for usb.core.NoBackendError (matched by name)."""

    def no_backend(**_: object) -> None:
        raise NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", no_backend)
    found, notes = scan([], None)
    assert found == []
    assert len(notes) == 1 and "no libusb library" in notes[0]
    assert "apt install libusb-1.0-0" in notes[0] and "brew install libusb" in notes[0]
