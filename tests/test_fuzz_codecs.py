"""Property tests: the device codecs take any bytes a link can deliver.

Every parser of the ELL14, APT, CONEX and Single Quantum codecs either
returns a value or raises the codec's own named error (a ``ValueError``
subclass the drivers turn into a ``ProtocolError``), never an IndexError,
struct.error, OverflowError, UnicodeDecodeError or any other escape.
Inputs are small and the runs derandomized (issue 17 item 5): 2,000
examples per codec. Examples the fuzzers once found are kept with
``@example``.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qnic.instruments.detectors.single_quantum_codec import (
    EosMessageError,
    parse_count_line,
    parse_frame,
    split_frames,
)
from qnic.instruments.rotators.apt_codec import (
    REPLY_DATA_LENGTH,
    AptFrameError,
    Frame,
    HardwareInfo,
    MessageId,
    RichResponse,
    StatusPayload,
    VelocityParams,
    check_form,
    decode_chan_i32,
    decode_chan_u32,
    describe_status,
    parse_header,
)
from qnic.instruments.rotators.conex_codec import (
    ConexReplyError,
    parse_float,
    parse_te,
    parse_ts,
    parse_version,
    reply_value,
)
from qnic.instruments.rotators.elliptec_codec import (
    DeviceInfo,
    ElliptecReplyError,
    decode_long,
    parse_reply,
)

FUZZ = settings(max_examples=2000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# bytes biased towards what each protocol uses, so that most examples get
# past the first check and into the field parsers
_ELL_BYTES = st.lists(st.sampled_from(b"0123456789ABCDEFabcdefPOGSINJV\r\n\x00\xff "),
                      max_size=40).map(bytes)
_CONEX_BYTES = st.lists(st.sampled_from(b"0123456789ABCDEF.+-eE TSPEVR@\r\n\x00\xff"),
                        max_size=24).map(bytes)


# -- Elliptec ELL14 (docs/protocols.md 1) -----------------------------------------------
@FUZZ
@given(line=st.one_of(_ELL_BYTES, st.binary(max_size=40)))
@example(line=b"0IN0E1140051520231701001F00023000\r\n")
@example(line=b"0IN0E11400515202317010000000000000\r\n")  # zero pulses
@example(line=b"0PO\xb00\r\n")
def test_elliptec_codec_raises_only_its_named_error(line: bytes) -> None:
    try:
        reply = parse_reply(line)
    except ElliptecReplyError:
        return
    for parse in (decode_long, DeviceInfo.parse):
        try:
            parse(reply.data)
        except ElliptecReplyError:
            pass


# -- Thorlabs APT (docs/protocols.md 2) ---------------------------------------------------
_APT_PARSERS = {
    MessageId.MOT_GET_POSCOUNTER: decode_chan_i32, MessageId.MOT_GET_STATUSBITS: decode_chan_u32,
    MessageId.MOT_MOVE_COMPLETED: StatusPayload.parse, MessageId.MOT_MOVE_STOPPED: StatusPayload.parse,
    MessageId.MOT_GET_VELPARAMS: VelocityParams.parse, MessageId.HW_RICHRESPONSE: RichResponse.parse,
    MessageId.HW_GET_INFO: HardwareInfo.parse,
}


@st.composite
def _apt_messages(draw: st.DrawFn) -> bytes:
    """A header with a known reply ID (or any), then up to 90 data bytes."""
    msg_id = draw(st.one_of(st.sampled_from(sorted(REPLY_DATA_LENGTH)), st.integers(0, 0xFFFF)))
    head = struct.pack("<H", msg_id) + draw(st.binary(min_size=4, max_size=4))
    return head + draw(st.binary(max_size=90))


@FUZZ
@given(message=st.one_of(_apt_messages(), st.binary(max_size=96)))
@example(message=b"\x06\x00T\x00\x81P" + b"\x00" * 84)
def test_apt_codec_raises_only_its_named_error(message: bytes) -> None:
    try:
        header = parse_header(message[:6])
        data = message[6:6 + header.data_length] if header.data_length else b""
        frame = Frame(header, data, message[:6] + data)
        check_form(frame)
    except AptFrameError:
        return
    parse = _APT_PARSERS.get(frame.msg_id)
    for candidate in ([parse] if parse else []) + [StatusPayload.parse, HardwareInfo.parse]:
        try:
            value = candidate(frame.data)
        except AptFrameError:
            continue
        if isinstance(value, StatusPayload):
            assert describe_status(value.status)


# -- Newport CONEX (docs/protocols.md 3) --------------------------------------------------
@FUZZ
@given(line=st.one_of(_CONEX_BYTES, st.binary(max_size=24)), command=st.sampled_from(
    ["TS", "TE", "TP", "VE", "PA"]))
@example(line=b"1TP1e999\r\n", command="TP")  # a finite number is required
@example(line=b"1TS\xff\xff\r\n", command="TS")
def test_conex_codec_raises_only_its_named_error(line: bytes, command: str) -> None:
    try:
        value = reply_value(line, 1, command)
    except ConexReplyError:
        return
    for parse in (parse_float, parse_ts, parse_te, parse_version):
        try:
            parse(value)
        except ConexReplyError:
            pass


# -- Single Quantum Eos (docs/protocols.md 5.3) ------------------------------------------
_JSONISH = st.lists(st.sampled_from(b'{}[]":,0123456789.-+eElabvu \x17\xff\xc3'),
                    max_size=48).map(bytes)
_COUNTS = st.lists(st.sampled_from(b"0123456789.,-+eEinfa \n\xff"), max_size=40).map(bytes)


@FUZZ
@given(buffer=st.one_of(_JSONISH, st.binary(max_size=48)), line=st.one_of(_COUNTS,
                                                                              st.binary(max_size=40)),
       n_detectors=st.integers(1, 4))
@example(buffer=b"\xff\x17", line=b"1.0,inf", n_detectors=1)  # found: UnicodeDecodeError, OverflowError
@example(buffer=b"[1]\x17", line=b"1.0,nan", n_detectors=1)
@example(buffer=b'{"a":1}{\x17', line=b"1.0,1e400", n_detectors=1)
def test_single_quantum_codec_raises_only_its_named_error(buffer: bytes, line: bytes,
                                                          n_detectors: int) -> None:
    frames, rest = split_frames(buffer)
    assert b"".join(frames) in buffer.replace(b"\x17", b"") or not frames
    for frame in frames:
        try:
            parse_frame(frame)
        except EosMessageError:
            pass
    try:
        stamp, counts = parse_count_line(line, n_detectors)
    except EosMessageError:
        return
    assert len(counts) == n_detectors and all(c >= 0 for c in counts)
