"""Single Quantum Eos ("Atlas") SNSPD controller: messages, pure encode/parse.

Facts: docs/protocols.md section 5.3, from the vendor's MIT
``WebSQControl.py`` (Single Quantum B.V.). Two TCP ports:

- control (12000): the host sends JSON objects, as the vendor client does,
  with ``json.dumps`` and no terminator; the controller answers and
  broadcasts JSON objects separated by the byte 0x17 (ETB), several
  ``{}{}`` possibly together in one frame. A ``labelProps`` request is
  answered with ``{"label": L, "value": {..., "value": v}}`` per label;
  a broadcast is ``{"label": L, "value": v}``; any label containing
  ``Error`` is an error broadcast.
- counts (12345): text lines of comma-separated numbers, a Unix timestamp
  then one count per detector, one line per measurement period.

No I/O here; the driver and the emulator share these constants.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CONTROL_PORT = 12000
COUNTS_PORT = 12345
ETB = b"\x17"
"""Separator of the controller's JSON messages (docs/protocols.md 5.3)."""
MIN_PERIOD_MS = 10
"""The shortest measurement period (docs/protocols.md 5.3)."""
BIAS_LIMIT_UA = 90.9
"""Bias-current bound, |I| < 90.9 uA (vendor WebSQControl ``iv_scan_setup``;
labelProps reports the unit's own bounds)."""
TRIGGER_LIMIT_MV = 1000.0
"""Trigger-level bound (mV). UNVERIFIED: the reference gives no range; the
vendor's example uses tens of mV."""
MAX_PERIOD_MS = 60_000
"""Longest measurement period accepted (ms). UNVERIFIED; the 10 ms minimum
is documented (5.3)."""


class Command(str, enum.Enum):
    """Commands of the control port (docs/protocols.md 5.3)."""

    SET_MEASUREMENT_PERIOD = "SetMeasurementPeriod"
    SET_ALL_BIAS_CURRENTS = "SetAllBiasCurrents"
    SET_ALL_TRIGGER_LEVELS = "SetAllTriggerLevels"
    DETECTOR_ENABLE = "DetectorEnable"
    DARK_COUNTS_AUTO_IV = "DarkCountsAutoIV"
    AUTO_CALI_BIAS_CURRENTS = "AutoCaliBiasCurrents"


class Label(str, enum.Enum):
    """Labels the controller reports (docs/protocols.md 5.3)."""

    NUMBER_OF_DETECTORS = "NumberOfDetectors"
    MEASUREMENT_PERIOD = "InptMeasurementPeriod"
    BIAS_CURRENT = "BiasCurrent"
    TRIGGER_LEVEL = "TriggerLevel"
    BIAS_VOLTAGE = "BiasVoltage"
    DETECTOR_ENABLE = "DetectorEnable"
    START_AUTO_IV = "StartAutoIV"
    BIAS_CURRENT_AUTO_IV = "BiasCurrentAutoIV"


class Request(str, enum.Enum):
    """Requests of the control port (docs/protocols.md 5.3)."""

    LABEL_PROPS = "labelProps"
    BIAS_VOLTAGE = "BiasVoltage"
    IV_HISTORY = "IVHistory"


# which label each command sets (the label field it carries, and that the
# controller broadcasts back)
COMMAND_LABEL = {
    Command.SET_MEASUREMENT_PERIOD: Label.MEASUREMENT_PERIOD,
    Command.SET_ALL_BIAS_CURRENTS: Label.BIAS_CURRENT,
    Command.SET_ALL_TRIGGER_LEVELS: Label.TRIGGER_LEVEL,
    Command.DETECTOR_ENABLE: Label.DETECTOR_ENABLE,
}


def encode_command(command: Command, value: Any, with_label: bool = True) -> bytes:
    """A command as the vendor client sends it (``json.dumps``, key order
    command, label, value; no terminator).

    Args:
        command: the command.
        value: its value (number, bool or list; lists are sent as given).
        with_label: False for the calibration commands, which carry no label.
    """
    msg: dict[str, Any] = {"command": command.value}
    if with_label:
        msg["label"] = COMMAND_LABEL[command].value
    msg["value"] = value
    return json.dumps(msg).encode()


def encode_request(request: Request) -> bytes:
    """A request; ``labelProps`` carries ``"value": "None"`` as the vendor's."""
    if request is Request.LABEL_PROPS:
        return json.dumps({"request": request.value, "value": "None"}).encode()
    return json.dumps({"request": request.value}).encode()


@dataclass(frozen=True)
class Message:
    """One JSON object from the controller."""

    label: str | None
    value: Any
    raw: dict[str, Any]

    @property
    def is_error(self) -> bool:
        """Any label containing ``Error`` is an error broadcast (5.3)."""
        return self.label is not None and "Error" in self.label

    @property
    def label_value(self) -> Any:
        """The label's value: a ``labelProps`` answer nests it as ``value.value``."""
        if isinstance(self.value, dict) and "value" in self.value:
            return self.value["value"]
        return self.value


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Cut complete ETB-terminated frames off ``buffer``.

    Returns:
        (frames without their ETB, the incomplete rest).
    """
    parts = buffer.split(ETB)
    return [p for p in parts[:-1] if p.strip()], parts[-1]


class EosMessageError(ValueError):
    """Bytes from the controller that are not a well-formed message: a
    control frame that is not UTF-8 JSON objects, or a counts line that is
    not a timestamp and whole counts (the driver names the device)."""


def parse_frame(frame: bytes) -> list[Message]:
    """The JSON objects of one frame (``{}{}`` possibly run together).

    Raises:
        EosMessageError: the frame is not UTF-8 JSON objects.
    """
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EosMessageError(f"control frame is not UTF-8 ({exc.reason} at byte "
                              f"{exc.start})") from None
    decoder = json.JSONDecoder()
    out: list[Message] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return out
        try:
            obj, i = decoder.raw_decode(text, i)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise EosMessageError(f"control frame is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise EosMessageError(f"expected a JSON object, got {type(obj).__name__}")
        label = obj.get("label")
        out.append(Message(label if isinstance(label, str) else None, obj.get("value"), obj))


def parse_count_line(line: bytes, n_detectors: int) -> tuple[float, list[int]]:
    """One line of the counts port: Unix timestamp, then one count per detector.

    Raises:
        EosMessageError: not ``1 + n_detectors`` comma-separated numbers, a
            timestamp that is not finite, or a count that is negative, not
            finite or not a whole number.
    """
    try:
        fields = line.decode("ascii").strip().split(",")
        values = [float(f) for f in fields]
    except (UnicodeDecodeError, ValueError):
        raise EosMessageError(f"counts line is not comma-separated numbers: {line[:80]!r}") \
            from None
    if len(fields) != 1 + n_detectors:
        raise EosMessageError(f"expected 1 + {n_detectors} comma-separated numbers, "
                              f"got {len(fields)}")
    if not all(math.isfinite(v) for v in values):
        raise EosMessageError(f"counts line holds a number that is not finite: {line[:80]!r}")
    counts = []
    for v in values[1:]:
        if v < 0 or v != int(v):
            raise EosMessageError(f"a count must be a whole number >= 0, got {v}")
        counts.append(int(v))
    return values[0], counts


def check_list(name: str, values: Sequence[float], n_detectors: int) -> list[float]:
    """A per-detector list as floats, checked for length.

    Raises:
        ValueError: not one value per detector.
    """
    if len(values) != n_detectors:
        raise ValueError(f"{name}: expected {n_detectors} values (one per detector), "
                         f"got {len(values)}")
    return [float(v) for v in values]


@dataclass(frozen=True)
class EosInfo:
    """What the controller says about itself at connection."""

    number_of_detectors: int
    labels: tuple[str, ...]
