"""Find rotators on this computer: serial ports, USB devices, identification replies.

USB identities (vendor id, product id) recognised:

- 0x0403:0x6015, FTDI FT-X series: the chip of the Elliptec bus interface
  (an FT230X was seen on a real ELL14 bus, docs/protocols.md 1.2; FTDI_FTX_PID
  in the Linux ftdi_sio_ids.h).
- 0x0403:0xFAF0, Thorlabs Kinesis / APT cubes (docs/protocols.md 2.2, marked
  UNVERIFIED there for every model); the 8-digit USB serial number's first
  two digits name the model: 27 KDC101, 55 K10CR1 (docs/protocols.md 2.2).
- 0x104D:0x3002, Newport CONEX-CC (a public CONEX-CC driver-installation
  note); any other 0x104D device is reported as Newport.

With ``probe``, each candidate serial port is asked for its identification
in each known protocol (Elliptec ``in``, APT HW_REQ_INFO, CONEX ``VE``), and
only devices that answer as themselves are reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ELLIPTEC = ("0x0403", "0x6015")
KINESIS = ("0x0403", "0xfaf0")
CONEX_CC = ("0x104d", "0x3002")
NEWPORT_VID = 0x104D

APT_SERIAL_PREFIX = {"27": "KDC101", "55": "K10CR1", "26": "KST101", "28": "KBD101",
                     "83": "TDC001", "80": "TST001"}  # docs/protocols.md 2.2


@dataclass(frozen=True)
class Found:
    """One recognised device and the station-file lines that would use it."""

    port: str
    kind: str
    detail: str
    station_lines: tuple[str, ...]


def _hex(v: int | None) -> str:
    return "none" if v is None else f"0x{v:04x}"


def classify_port(device: str, vid: int | None, pid: int | None, serial: str | None) -> Found | None:
    """Recognise a serial port by its USB identity (None: not ours)."""
    ident = (_hex(vid), _hex(pid))
    if ident == KINESIS:
        model = APT_SERIAL_PREFIX.get((serial or "")[:2], "APT device")
        cls = {"K10CR1": "K10CR1", "KDC101": "KDC101"}.get(model)
        lines = (f"type: qnic.instruments.rotators.apt.{cls}", f"address: {device}") if cls else ()
        return Found(device, f"Thorlabs {model}", f"serial {serial}", lines)
    if ident == CONEX_CC or vid == NEWPORT_VID:
        return Found(device, "Newport CONEX" if ident == CONEX_CC else "Newport device",
                     f"usb {ident[0]}:{ident[1]} serial {serial}",
                     ("type: qnic.instruments.rotators.conex.Conex", f"address: {device}"))
    if ident == ELLIPTEC:
        return Found(device, "FTDI FT-X (possibly an Elliptec bus)", f"serial {serial}",
                     ("type: qnic.instruments.rotators.elliptec.ELL14", f"address: {device}"))
    return None


def probe_elliptec(address: str, timeout_s: float = 0.2) -> list[Found]:
    """Ask every bus address of an Elliptec port for its ``IN`` reply."""
    from qnic.instruments.errors import InstrumentError
    from qnic.instruments.rotators.elliptec import ELL14

    found = []
    for dev in "0123456789ABCDEF":
        rot = ELL14(f"probe_{dev}", address, device_id=dev, timeout_s=timeout_s)
        try:
            info = rot.connect()
        except InstrumentError:
            continue
        finally:
            rot.close()
        found.append(Found(address, info.model_name, f"bus address {dev}, serial {info.serial}",
                           ("type: qnic.instruments.rotators.elliptec.ELL14", f"address: {address}",
                            f'init: {{device_id: "{dev}"}}')))
    return found


def probe_identity(address: str) -> list[Found]:
    """Ask a port for an identification reply in each known protocol: the
    Elliptec ``in`` on every bus address, the APT HW_REQ_INFO (K10CR1 or
    KDC101), the CONEX ``VE`` (CC or AGP). Only devices that answer as
    themselves are reported."""
    from qnic.instruments.errors import InstrumentError
    from qnic.instruments.rotators.apt import K10CR1, KDC101
    from qnic.instruments.rotators.conex import Conex

    found = probe_elliptec(address)
    if found:
        return found
    candidates: list[tuple[str, Any]] = [
        ("qnic.instruments.rotators.apt.K10CR1", lambda: K10CR1("probe_k10cr1", address)),
        ("qnic.instruments.rotators.apt.KDC101", lambda: KDC101("probe_kdc101", address)),
        ("qnic.instruments.rotators.conex.Conex", lambda: Conex("probe_conex_cc", address, model="cc")),
        ("qnic.instruments.rotators.conex.Conex", lambda: Conex("probe_conex_agp", address, model="agp"))]
    for type_name, build in candidates:
        driver = build()
        model = getattr(driver, "model", None)
        try:
            idn = driver.get_idn()
        except (InstrumentError, ValueError):
            continue
        finally:
            driver.close()
        lines = [f"type: {type_name}", f"address: {address}"]
        if model is not None:
            lines.append(f"init: {{model: {model}}}")
        return [Found(address, str(idn.get("model")), f"serial {idn.get('serial')}", tuple(lines))]
    return []


def scan(ports: Iterable[Any] | None = None, usb_devices: Iterable[Any] | None = None,
         probe: bool = False) -> tuple[list[Found], list[str]]:
    """Serial ports and USB devices of Thorlabs / Newport rotators.

    Args:
        ports: pyserial ``ListPortInfo``-like objects (default: all ports).
        usb_devices: pyusb devices (default: all; skipped without a backend).
        probe: also ask Elliptec ports for identification.

    Returns:
        (found devices, notes about what could not be looked at).
    """
    notes: list[str] = []
    if ports is None:
        from serial.tools import list_ports

        ports = list_ports.comports()
    found: list[Found] = []
    for p in ports:
        f = classify_port(p.device, getattr(p, "vid", None), getattr(p, "pid", None),
                          getattr(p, "serial_number", None))
        if f is None and not str(p.device).startswith("sim://"):
            continue
        if probe:
            found.extend(probe_identity(p.device))
        elif f is not None:
            found.append(f)
    if usb_devices is None:
        try:
            import usb.core

            usb_devices = list(usb.core.find(find_all=True) or [])
        except Exception as exc:  # no libusb backend, no permission
            notes.append(_usb_note(exc))
            usb_devices = []
    seen_ports = {f.port for f in found}
    for d in usb_devices:
        vid, pid = getattr(d, "idVendor", None), getattr(d, "idProduct", None)
        f = classify_port(f"usb:{_hex(vid)}:{_hex(pid)}", vid, pid, None)
        if f is not None and f.port not in seen_ports:
            found.append(Found(f.port, f.kind, "USB device without a serial port here", ()))
    return found, notes


def _usb_note(exc: Exception) -> str:
    """What to tell the user when pyusb cannot list USB devices."""
    if exc.__class__.__name__ == "NoBackendError":
        return ("USB devices not listed: pyusb found no libusb library. Install it "
                "(Debian/Ubuntu: sudo apt install libusb-1.0-0; Fedora: sudo dnf install "
                "libusb1; macOS: brew install libusb) to see USB instruments without a serial "
                "port, such as Thorlabs APT controllers before their driver binds; serial ports "
                "are listed without it (docs/hardware.md)")
    if isinstance(exc, PermissionError) or "Access denied" in str(exc):
        return (f"USB devices not listed ({exc}): no permission to read the USB bus; add a "
                "udev rule for the device or run as a member of the plugdev group "
                "(docs/hardware.md)")
    return f"USB devices not listed ({exc.__class__.__name__}: {exc})"
