"""SCPI instruments over VISA: the base of the pump-laser and power-meter drivers.

A :class:`ScpiInstrument` is a QCoDeS ``VisaInstrument`` whose every set is
followed by ``SYST:ERR?``: a device error becomes a
:class:`~qnic.instruments.errors.DeviceFaultError` naming the instrument, the
command, the device's code and its meaning (the error queue is read empty, so
no stale error is left latched; docs/protocols.md 7.4). The identity
(``*IDN?``) and the model's limits are read on :meth:`ScpiInstrument.connect`
or the first use, never in the constructor.

Addresses:

- a VISA resource (``USB0::0x1313::0x804A::M00123456::INSTR``), opened with
  the default VISA library (``visalib=`` chooses another);
- ``pyvisa_sim_file=`` (``module:file.yaml``): the static pyvisa-sim dialogue
  of the package (``qnic.sim.visa:thorlabs.yaml``);
- ``sim://MODEL?bench=NAME``: a device emulator of the simulated bench, whose
  readings follow the physics, opened through pyvisa-py as the serial
  resource ``ASRLsim://...::INSTR`` (pyserial opens the ``sim://`` URL,
  docs/station.md), so the driver never imports the simulator;
- ``port=``: a byte port (tests' expected-exchange ports), seen as a VISA
  message resource by :class:`PortResource`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pyvisa
import pyvisa.constants
import pyvisa.errors
from qcodes.instrument import VisaInstrument

from qnic.instruments.errors import DeviceFaultError, ProtocolError, TransportError

log = logging.getLogger(__name__)

SIM_SCHEME = "sim://"
SIM_VISALIB = "@py"
"""pyvisa-py opens ``ASRL<url>::INSTR`` with pyserial's ``serial_for_url``."""
ERROR_QUERY = "SYST:ERR?"
ERROR_QUEUE_LENGTH = 10  # docs/protocols.md 7.4: "up to 10 errors" (Series 4000)
_ERROR = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')
_T = TypeVar("_T")


def visa_resource(address: str) -> tuple[str, str | None]:
    """The VISA resource name of ``address`` and the VISA library it needs (None: default)."""
    if address.startswith(SIM_SCHEME):
        return f"ASRL{address}::INSTR", SIM_VISALIB
    return address, None


def format_number(value: float) -> str:
    """A number as SCPI decimal program data (``0.065``, ``1E-05``)."""
    return f"{float(value):.7G}"


def parse_error(instrument: str, reply: str) -> tuple[int, str]:
    """``-222,"Data out of range"`` as ``(-222, "Data out of range")``.

    Raises:
        ProtocolError: the reply is not ``<code>,"<meaning>"``.
    """
    match = _ERROR.match(reply)
    if match is None:
        raise ProtocolError(instrument, ERROR_QUERY, reply.encode(), "expected <code>,\"<meaning>\"")
    return int(match.group(1)), match.group(2)


def parse_bool(instrument: str, request: str, reply: str) -> bool:
    """A SCPI boolean reply (``1``/``0``, also ``ON``/``OFF``)."""
    text = reply.strip().upper()
    if text in ("1", "ON"):
        return True
    if text in ("0", "OFF"):
        return False
    raise ProtocolError(instrument, request, reply.encode(), "expected a boolean 1 or 0")


def parse_float(instrument: str, request: str, reply: str) -> float:
    """A SCPI numeric reply (NR1/NR2/NR3) as a float."""
    try:
        return float(reply.strip())
    except ValueError:
        raise ProtocolError(instrument, request, reply.encode(), "expected a number") from None


@dataclass(frozen=True)
class Identity:
    """The four fields of ``*IDN?``: vendor, model, serial, firmware."""

    vendor: str
    model: str
    serial: str
    firmware: str

    @classmethod
    def parse(cls, instrument: str, reply: str) -> Identity:
        fields = [f.strip() for f in reply.strip().split(",")]
        if len(fields) != 4:
            raise ProtocolError(instrument, "*IDN?", reply.encode(),
                                "expected four comma-separated fields vendor,model,serial,firmware")
        return cls(*fields)

    def as_dict(self) -> dict[str, str | None]:
        return {"vendor": self.vendor, "model": self.model, "serial": self.serial,
                "firmware": self.firmware}


class PortResource:
    """A byte port (``write``, ``read_until``; a serial port or a test's
    scripted port) seen as the pyvisa message resource QCoDeS drives.

    Args:
        port: the open port.
        resource_name: what ``resource_name`` reports (the address).
    """

    def __init__(self, port: Any, resource_name: str) -> None:
        self.port = port
        self.resource_name = resource_name
        self.write_termination = "\n"
        self.read_termination = "\n"
        self.timeout: float | None = 2000.0  # ms, as pyvisa
        self.session: int | None = 1  # None once closed, as pyvisa (QCoDeS's finalizer asks)

    def write(self, message: str) -> int:
        return int(self.port.write((message + (self.write_termination or "")).encode("ascii")))

    def read(self) -> str:
        term = (self.read_termination or "\n").encode("ascii")
        raw = bytes(self.port.read_until(term))
        if not raw.endswith(term):
            raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout)
        return raw[: -len(term)].decode("ascii", errors="replace")

    def query(self, message: str) -> str:
        self.write(message)
        return self.read()

    def clear(self) -> None:
        self.port.reset_input_buffer()

    def close(self) -> None:
        self.session = None
        self.port.close()


class ScpiInstrument(VisaInstrument):
    """A SCPI instrument: locked traffic, device errors from ``SYST:ERR?``, identity on connect.

    Args:
        name: instrument name.
        address: a VISA resource, or ``sim://MODEL?bench=NAME`` (see the module).
        port: a byte port to talk through instead of a VISA resource (tests).
        visalib: the VISA library (default: the system's; ``@py`` for ``sim://``).
        pyvisa_sim_file: a pyvisa-sim YAML file as ``module:file.yaml``.
        timeout_s: the longest wait for a reply (s).
        **kwargs: passed to ``qcodes.instrument.VisaInstrument``.
    """

    default_terminator = "\n"
    models: tuple[str, ...] = ()
    """Models (``*IDN?`` second field) the driver accepts; empty: any."""

    def __init__(self, name: str, address: str, *, port: Any = None, visalib: str | None = None,
                 pyvisa_sim_file: str | None = None, timeout_s: float = 2.0,
                 **kwargs: Any) -> None:
        if port is not None:
            resource = cast(pyvisa.resources.MessageBasedResource, PortResource(port, address))
            super().__init__(name, resource=resource, device_clear=False, timeout=timeout_s,
                             **kwargs)
        else:
            resource_name, lib = visa_resource(address)
            super().__init__(name, resource_name, device_clear=False, timeout=timeout_s,
                             visalib=visalib or (lib if pyvisa_sim_file is None else None),
                             pyvisa_sim_file=pyvisa_sim_file, **kwargs)
        self._lock = threading.RLock()
        self._identity: Identity | None = None
        self._connecting = False

    # -- connection ----------------------------------------------------------
    def connect(self) -> None:
        """Clear the status (``*CLS``), read the identity and the model's limits.

        Raises:
            ProtocolError: the instrument is not one of :attr:`models`.
            DeviceFaultError, TransportError: as for any command.
        """
        if self._identity is not None or self._connecting:
            return
        self._connecting = True
        try:
            with self._lock:
                self.write("*CLS")
                identity = Identity.parse(self.name, self.ask("*IDN?"))
                if self.models and identity.model not in self.models:
                    raise ProtocolError(self.name, "*IDN?", identity.model.encode(),
                                        f"expected one of the models {', '.join(self.models)}")
                self._after_identity(identity)
                self._identity = identity
                self.IDN.cache.set(identity.as_dict())
        finally:
            self._connecting = False

    def _after_identity(self, identity: Identity) -> None:
        """Read what the driver needs of the model (limits); subclasses override."""

    def get_idn(self) -> dict[str, str | None]:
        """Vendor, model, serial and firmware from ``*IDN?`` (connecting first)."""
        self.connect()
        assert self._identity is not None
        return self._identity.as_dict()

    @property
    def identity(self) -> Identity:
        """The parsed ``*IDN?`` reply (connecting first)."""
        self.connect()
        assert self._identity is not None
        return self._identity

    # -- traffic -----------------------------------------------------------------
    def write_raw(self, cmd: str) -> None:
        """Send ``cmd``, then read the error queue; a device error raises.

        Raises:
            DeviceFaultError: ``SYST:ERR?`` reported an error for ``cmd``.
            TransportError: the link failed.
        """
        self.connect()
        with self._lock:
            self._guard(cmd, lambda: super(ScpiInstrument, self).write_raw(cmd))
            self.check_errors(cmd)

    def ask_raw(self, cmd: str) -> str:
        """Send the query ``cmd`` and return its reply (terminator removed).

        A query the device does not answer has the error queue read: a device
        error explains the silence (DeviceFaultError), else it is a TransportError.
        """
        self.connect()
        with self._lock:
            try:
                return self._guard(cmd, lambda: super(ScpiInstrument, self).ask_raw(cmd))
            except TransportError:
                if cmd != ERROR_QUERY:
                    self.check_errors(cmd)
                raise

    def _guard(self, cmd: str, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except pyvisa.errors.VisaIOError as exc:
            raise TransportError(self.name, cmd, f"VISA error: {exc.description}") from exc
        except OSError as exc:
            raise TransportError(self.name, cmd, f"link failed: {exc}") from exc
        except UnicodeDecodeError as exc:  # a garbled reply (bit errors on the line)
            raise ProtocolError(self.name, cmd, bytes(exc.object), "reply is not ASCII") from exc

    def check_errors(self, request: str) -> None:
        """Read ``SYST:ERR?`` until it is empty; raise for the first error found.

        Raises:
            DeviceFaultError: the first error in the queue, with ``request`` named.
        """
        first: tuple[int, str] | None = None
        for _ in range(ERROR_QUEUE_LENGTH + 1):
            reply = self._guard(ERROR_QUERY, lambda: super(ScpiInstrument, self).ask_raw(ERROR_QUERY))
            code, meaning = parse_error(self.name, reply)
            if code == 0:
                break
            log.debug("%s: device error %d (%s) after %r", self.name, code, meaning, request)
            first = first or (code, meaning)
        if first is not None:
            raise DeviceFaultError(self.name, first[0], first[1], request)

    def ask_bool(self, cmd: str) -> bool:
        """A boolean query (``1``/``0``)."""
        return parse_bool(self.name, cmd, self.ask(cmd))

    def ask_float(self, cmd: str) -> float:
        """A numeric query."""
        return parse_float(self.name, cmd, self.ask(cmd))
