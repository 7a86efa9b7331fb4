"""Fault injection shared by the serial device emulators (ELL14, APT, CONEX).

Faults are queued, by tests (an emulator's ``inject``) or by a
``sim://MODEL?...&fault=...`` address, and each queued fault is spent on the
next command(s) it can affect:

- ``TIMEOUT`` and ``ERROR_CODE``: the next command to a device on the bus;
- ``TRUNCATED`` and ``GARBLED``: the next command that has a reply (for a move,
  its final reply);
- ``STALL`` and ``OFF_TARGET``: the next move that starts;
- ``DISCONNECT`` and ``RECONNECT`` act at once.

URL grammar: ``fault=ITEM[,ITEM...]`` with ``ITEM = NAME[:ARG][*COUNT]``, NAME
one of the :class:`Fault` values; ARG is the hex status code for
``error_code`` (``error_code:02``), the offset in counts for ``off_target``
(``off_target:-40``) and the fraction of the move completed for ``stall``
(``stall:0.25``). Example: ``fault=timeout*2,error_code:0D``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass


class Fault(enum.Enum):
    """A fault a device emulator can inject."""

    TIMEOUT = "timeout"
    """The device does not hear the command: no action, no reply."""
    TRUNCATED = "truncated"
    """The reply is cut to about half its length, without its CR LF."""
    GARBLED = "garbled"
    """Every other byte of the reply after the address has bit 7 flipped; CR LF kept."""
    ERROR_CODE = "error_code"
    """``GS<code>`` replaces the normal reply; the command is not carried out."""
    STALL = "stall"
    """A move stops short of its target and ends with ``GS02`` (mechanical time out)."""
    OFF_TARGET = "off_target"
    """A move ends ``offset_counts`` away from its target; ``PO`` reports where it is."""
    DISCONNECT = "disconnect"
    """The bus drops off the host: ``connected`` becomes False, replies in flight are lost."""
    RECONNECT = "reconnect"
    """The bus is back (``connected`` True); device state is kept."""


COMMAND_FAULTS = frozenset({Fault.TIMEOUT, Fault.ERROR_CODE})
REPLY_FAULTS = frozenset({Fault.TRUNCATED, Fault.GARBLED})
MOVE_FAULTS = frozenset({Fault.STALL, Fault.OFF_TARGET})
LINK_FAULTS = frozenset({Fault.DISCONNECT, Fault.RECONNECT})


@dataclass
class FaultSpec:
    """One queued fault.

    Args:
        fault: what goes wrong.
        count: how many commands (or replies, or moves) it affects (int, >= 1).
        addr: the device address (hex digit) it is limited to; None for any device.
        code: the ``GS`` code sent for ``ERROR_CODE`` (int, 0x00 to 0xFF;
            docs/protocols.md 1.6, e.g. 0x02 mechanical time out, 0x0D over-current).
        offset_counts: how far an ``OFF_TARGET`` move misses (int, counts).
        stall_fraction: the part of a ``STALL``ed move that is travelled
            (float, 0 to 1 exclusive).
    """

    fault: Fault
    count: int = 1
    addr: str | None = None
    code: int = 0x0D
    offset_counts: int = 40
    stall_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"fault count must be >= 1, got {self.count}")
        if not 0 <= self.code <= 0xFF:
            raise ValueError(f"GS code must fit one byte (0x00-0xFF), got {self.code:#x}")
        if not 0.0 <= self.stall_fraction < 1.0:
            raise ValueError(f"stall_fraction must be in [0, 1), got {self.stall_fraction}")
        if self.addr is not None and (len(self.addr) != 1 or self.addr not in "0123456789ABCDEF"):
            raise ValueError(f"fault address must be one hex digit 0-F, got {self.addr!r}")


class FaultQueue:
    """Queued faults, spent in the order they were queued."""

    def __init__(self) -> None:
        self._specs: list[FaultSpec] = []

    def add(self, spec: FaultSpec) -> None:
        """Queue ``spec`` (link faults are not queued; the bus acts on them at once)."""
        if spec.fault in LINK_FAULTS:
            raise ValueError(f"{spec.fault.name} acts at once and is never queued")
        self._specs.append(spec)

    def take(self, kinds: Collection[Fault], addr: str) -> FaultSpec | None:
        """Spend one use of the first queued fault of ``kinds`` that applies to ``addr``."""
        for spec in self._specs:
            if spec.fault in kinds and spec.addr in (None, addr):
                spec.count -= 1
                if spec.count == 0:
                    self._specs.remove(spec)
                return spec
        return None

    def pending(self) -> list[FaultSpec]:
        """The faults still queued (copies of the list, not of the specs)."""
        return list(self._specs)

    def clear(self) -> None:
        """Drop every queued fault."""
        self._specs.clear()


def truncate(frame: bytes) -> bytes:
    """Cut a reply frame to about half its text, dropping the CR LF."""
    return frame[: max(1, (len(frame) - 2) // 2)]


def garble(frame: bytes) -> bytes:
    """Flip bit 7 of every other byte after the address, keeping the CR LF.

    Bit 7 never turns a byte into CR or LF, so the frame keeps its length and
    end, but neither its mnemonic nor its hex data survive.
    """
    out = bytearray(frame)
    for i in range(1, len(out) - 2, 2):
        out[i] ^= 0x80
    return bytes(out)


def parse_fault_option(text: str) -> list[FaultSpec]:
    """Parse a ``fault=`` URL option (grammar in the module docstring).

    Raises:
        ValueError: an unknown fault name or a malformed argument or count.
    """
    specs: list[FaultSpec] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        head, _, count_text = item.partition("*")
        name, _, arg = head.partition(":")
        try:
            fault = Fault(name.strip().lower())
        except ValueError:
            known = ", ".join(f.value for f in Fault)
            raise ValueError(f"unknown fault {name!r} in fault={text!r} (known: {known})") from None
        try:
            count = int(count_text) if count_text else 1
            spec = FaultSpec(fault, count)
            if arg and fault is Fault.ERROR_CODE:
                spec.code = int(arg, 16)
            elif arg and fault is Fault.OFF_TARGET:
                spec.offset_counts = int(arg)
            elif arg and fault is Fault.STALL:
                spec.stall_fraction = float(arg)
            elif arg:
                raise ValueError(f"{fault.value} takes no argument")
            spec.__post_init__()
        except ValueError as exc:
            raise ValueError(f"bad fault item {item!r} in fault={text!r}: {exc}") from exc
        specs.append(spec)
    return specs
