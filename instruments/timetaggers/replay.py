"""Replay recorded time tags as a tagger: ``ReplayTimeTagger``.

A PTU file (any record type the PTU reader knows), a legacy PicoQuant file
(.pt2, .pt3, .ht2, .ht3, .t3r), a Photon-HDF5 file, or the ``.npz`` side
file of ``qnic chsh --save-tags`` (arrays ``timestamps_ps_XY`` and
``channels_XY``) plays as a
:class:`~qnic.instruments.timetaggers.protocol.TimeTagger` in a station:
each :meth:`~ReplayTimeTagger.acquire` returns the next ``duration_s`` of
recorded tags, with the input delays applied and the file's channels renamed
by an optional channel map (file channel -> station channel; unmapped
channels are dropped). The format is told by the file's first bytes.

Replay time starts at 0 for PicoQuant and Photon-HDF5 files (their measurement
start) and at the first tag for ``.npz`` files (which do not store the run's
start). The recording ends 1 ps after its last tag (plus the largest positive
input delay). An acquisition that crosses the end returns the tags up to it
(``stop_ps`` is the end, so the batch is shorter than asked); asking again
raises :class:`ReplayEndError` when ``end_of_file`` is ``"error"`` (default),
or returns an empty zero-length batch with ``at_end`` true when it is
``"empty"``. :meth:`~ReplayTimeTagger.rewind` starts over.

Trigger levels are accepted and recorded but change nothing: the recording's
discriminators were set when it was taken.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import yaml
from qcodes.instrument import Instrument, InstrumentChannel
from qcodes.validators import Bool, Enum, Ints, Numbers

from qnic.instruments.errors import InstrumentError
from qnic.instruments.timetaggers.picoquant.chunk import TagChunk
from qnic.instruments.timetaggers.picoquant.errors import TagFileError
from qnic.instruments.timetaggers.picoquant.files import (
    TagFileFormat,
    TagFileInfo,
    open_chunks,
    scan,
)
from qnic.instruments.timetaggers.picoquant.reader import DEFAULT_CHUNK_RECORDS
from qnic.instruments.timetaggers.prefetch import Prefetcher
from qnic.instruments.timetaggers.protocol import TagBatch

MAX_DELAY_PS = 1_000_000  # +-1 us of settable input delay
_EMPTY = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32))


class ReplayEndError(InstrumentError):
    """A replay tagger was asked for tags after the end of its recording."""


def load_channel_map(source: Mapping[Any, Any] | str | os.PathLike[str]) -> dict[int, int]:
    """A channel map {file channel: station channel} from a mapping or a file.

    The file is YAML (or JSON): a mapping of integers, optionally under a
    ``channels:`` key, e.g. ``{1: 1, 2: 2, 3: 3, 4: 4}``.

    Raises:
        TagFileError: the file is missing, not a mapping of integers, or maps
            two file channels to one station channel.
    """
    where = "channel map" if isinstance(source, Mapping) else f"channel map {source}"
    raw: Any = source
    if not isinstance(source, Mapping):
        try:
            raw = yaml.safe_load(Path(source).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise TagFileError(f"{where}: cannot read it ({exc})") from None
        if isinstance(raw, Mapping) and set(raw) == {"channels"}:
            raw = raw["channels"]
    if not isinstance(raw, Mapping) or not raw:
        raise TagFileError(f"{where}: expected a mapping of file channel to station channel, "
                           f"e.g. {{1: 1, 2: 3}}; got {raw!r}")
    out: dict[int, int] = {}
    for key, value in raw.items():
        try:
            k, v = int(key), int(value)
        except (TypeError, ValueError):
            raise TagFileError(f"{where}: entry {key!r}: {value!r}: expected integer channels") \
                from None
        if v in out.values():
            raise TagFileError(f"{where}: station channel {v} is mapped from two file channels")
        out[k] = v
    return out


class ReplayInput(InstrumentChannel):
    """One input of the replay tagger (a station channel)."""

    def __init__(self, parent: ReplayTimeTagger, name: str, channel: int) -> None:
        super().__init__(parent, name)
        self.channel = channel
        self._delay_ps = 0
        self._level_v = 0.0
        self.delay_ps = self.add_parameter(
            "delay_ps", label=f"Input {channel} delay", unit="ps",
            get_cmd=lambda: self._delay_ps, set_cmd=self._set_delay,
            vals=Ints(-MAX_DELAY_PS, MAX_DELAY_PS),
            docstring="Control the input delay added to recorded tags in ps "
                      "(int, -1e6 to 1e6).")
        self.trigger_level_v = self.add_parameter(
            "trigger_level_v", label=f"Input {channel} trigger level", unit="V",
            get_cmd=lambda: self._level_v, set_cmd=self._set_level, vals=Numbers(-5.0, 5.0),
            docstring="Record a discriminator level in volts (float, -5 to 5); a replay "
                      "cannot change what was recorded, so it has no effect.")

    def _set_delay(self, value: int) -> None:
        self._delay_ps = int(value)

    def _set_level(self, value: float) -> None:
        self._level_v = float(value)


def _mapped(chunks: Iterator[TagChunk], channel_map: Mapping[int, int] | None
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each chunk's (timestamps, int32 channels), the channel map applied."""
    for chunk in chunks:
        ts, ch = chunk.timestamps, chunk.channels
        if channel_map is not None:
            keys = np.fromiter(channel_map, dtype=np.int64)
            keep = np.isin(ch, keys)
            ts, ch = ts[keep], ch[keep]
            lut_from, lut_to = keys, np.fromiter(channel_map.values(), dtype=np.int32)
            order = np.argsort(lut_from)
            ch = lut_to[order][np.searchsorted(lut_from[order], ch)]
        yield ts, ch.astype(np.int32, copy=False)


class _TagStream:
    """Recorded tags in time order, taken up to a time; channel map applied.

    The chunks are decoded and mapped one or two ahead on a thread of their
    own (:class:`~qnic.instruments.timetaggers.prefetch.Prefetcher`), so
    reading the file overlaps with the analysis of what was read.
    """

    def __init__(self, chunks: Iterator[TagChunk], channel_map: Mapping[int, int] | None) -> None:
        self._chunks = Prefetcher(_mapped(chunks, channel_map), name="qnic-replay-read")
        self._ts, self._ch, self._i = _EMPTY[0], _EMPTY[1], 0

    def close(self) -> None:
        """Stop reading ahead."""
        self._chunks.close()

    def _pull(self) -> bool:
        item = next(self._chunks, None)
        if item is None:
            return False
        self._ts, self._ch = item
        self._i = 0
        return True

    def take_until(self, limit_ps: int) -> tuple[np.ndarray, np.ndarray]:
        """Every remaining tag earlier than ``limit_ps`` (int64 ps, int32)."""
        ts_parts, ch_parts = [], []
        while True:
            j = self._i + int(np.searchsorted(self._ts[self._i:], limit_ps, side="left"))
            ts_parts.append(self._ts[self._i:j])
            ch_parts.append(self._ch[self._i:j])
            self._i = j
            if j < self._ts.size or not self._pull():
                break
        return np.concatenate(ts_parts), np.concatenate(ch_parts)


class ReplayTimeTagger(Instrument):
    """A time tagger that plays back a recording (module doc).

    Nothing is read in ``__init__``: the file is scanned (its channels and
    span) and opened on first use.

    Args:
        name: instrument name.
        address: the recording: a ``.ptu``, Photon-HDF5 or ``.npz`` file.
        channel_map: {file channel: station channel}, or a YAML/JSON file of
            it; default: the file's channels as they are.
        setting: ``.npz`` only: replay one setting's tags (e.g. "01");
            default: every setting in time order.
        timestamps_unit_s: Photon-HDF5 files without a timestamp unit.
        chunk_records: records read from the file at a time (bounds memory).
        end_of_file: "error" or "empty", see the module doc.
        port: an open binary stream to replay instead of opening ``address``
            (the transport seam, as the serial drivers' ``port``).
        **kwargs: passed to ``qcodes.instrument.Instrument``.
    """

    def __init__(self, name: str, address: str | os.PathLike[str], *,
                 channel_map: Mapping[int, int] | str | os.PathLike[str] | None = None,
                 setting: str | None = None, timestamps_unit_s: float | None = None,
                 chunk_records: int = DEFAULT_CHUNK_RECORDS, end_of_file: str = "error",
                 port: BinaryIO | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.address = str(address)
        self._map_source = channel_map
        self._options: dict[str, Any] = {"setting": setting,
                                         "timestamps_unit_s": timestamps_unit_s}
        if chunk_records < 1:
            raise ValueError(f"{name}: chunk_records must be >= 1, got {chunk_records}")
        self._chunk_records = chunk_records
        self._port = port
        self._info: TagFileInfo | None = None
        self._map: dict[int, int] | None = None
        self._inputs: dict[int, ReplayInput] = {}
        self._stream: _TagStream | None = None
        self._closer: Any = None
        self._pos_ps = 0
        self._read_until_ps = 0
        self._held = _EMPTY
        self._at_end = False
        self._end_mode = "error"
        self.end_of_file = self.add_parameter(
            "end_of_file", label="At end of recording", unit="",
            get_cmd=lambda: self._end_mode, set_cmd=self._set_end_mode,
            vals=Enum("error", "empty"), initial_value=end_of_file,
            docstring="Control what acquiring past the end does: 'error' raises "
                      "ReplayEndError, 'empty' returns empty zero-length batches.")
        self.position_s = self.add_parameter(
            "position_s", label="Replay position", unit="s",
            get_cmd=lambda: self._pos_ps * 1e-12, set_cmd=False, vals=Numbers(),
            docstring="Get the replay time in s at which the next acquisition starts (float).")
        self.at_end = self.add_parameter(
            "at_end", label="Recording exhausted", unit="", get_cmd=lambda: self._at_end,
            set_cmd=False, vals=Bool(),
            docstring="Get whether the whole recording has been played (bool).")

    def _set_end_mode(self, value: str) -> None:
        self._end_mode = str(value)

    # -- opening ----------------------------------------------------------------
    def _file(self) -> str | os.PathLike[str] | BinaryIO:
        if self._port is not None:
            self._port.seek(0)
            return self._port
        return self.address

    @property
    def info(self) -> TagFileInfo:
        """What the recording holds (scanned once, on first use)."""
        if self._info is None:
            info = scan(self._file(), chunk_records=self._chunk_records, name=self.address,
                        **self._options)
            self._map = self._check_map(info)
            self._info = info
            for ch in self.input_channels:
                inp = ReplayInput(self, f"ch{ch}", ch)
                self.add_submodule(f"ch{ch}", inp)
                self._inputs[ch] = inp
            self.rewind()
        return self._info

    def _check_map(self, info: TagFileInfo) -> dict[int, int] | None:
        if self._map_source is None:
            return None
        mapping = load_channel_map(self._map_source)
        missing = sorted(set(mapping) - set(info.events))
        if missing:
            raise TagFileError(
                f"{self.name}: channel map names file channel(s) {missing}, which "
                f"{self.address} does not have; expected channels of the recording: "
                f"{sorted(info.events)}")
        return mapping

    @property
    def input_channels(self) -> tuple[int, ...]:
        """The station channels this tagger plays (mapped channels of the file)."""
        info = self.info
        if self._map is not None:
            return tuple(sorted(self._map.values()))
        return tuple(sorted(info.events))

    @property
    def origin_ps(self) -> int:
        """Replay time of the recording's start (ps): 0, or the first tag for .npz."""
        info = self.info
        return int(info.first_ps or 0) if info.format == TagFileFormat.NPZ else 0

    @property
    def end_ps(self) -> int:
        """Replay time at which the recording ends (ps), input delays included."""
        last = self.info.last_ps
        end = (self.origin_ps if last is None else last + 1)
        return end + max(0, max((i._delay_ps for i in self._inputs.values()), default=0))

    @property
    def recorded_settings(self) -> tuple[str, ...] | None:
        """The CHSH settings in the order a ``qnic chsh --save-tags`` PTU
        recorded them (its ``UsrCHSH_Settings``), so a replayed run measures
        them in that order; None for other files."""
        order = self.info.details.get("chsh_settings")
        return tuple(order.split(",")) if isinstance(order, str) and order else None

    def rewind(self) -> None:
        """Start the replay over from the beginning of the recording."""
        info = self.info
        if self._stream is not None:
            self._stream.close()
        if self._closer is not None:
            self._closer()
        chunks, self._closer = open_chunks(self._file(), info.format,
                                           chunk_records=self._chunk_records,
                                           name=self.address, **self._options)
        self._stream = _TagStream(chunks, self._map)
        self._pos_ps = self._read_until_ps = self.origin_ps
        self._held, self._at_end = _EMPTY, False

    def _input(self, channel: int) -> ReplayInput:
        self.info  # noqa: B018 - builds the inputs
        try:
            return self._inputs[channel]
        except KeyError:
            raise ValueError(f"{self.name}: no input channel {channel}; expected one of "
                             f"{sorted(self._inputs)} (the channels of {self.address})") from None

    def set_input_delay(self, channel: int, delay_ps: int) -> None:
        """Delay ``channel``'s recorded tags by ``delay_ps`` ps (int, +-1e6)."""
        self._input(channel).delay_ps(delay_ps)

    def set_trigger_level(self, channel: int, level_v: float) -> None:
        """Record a trigger level for ``channel``; it has no effect on a replay."""
        self._input(channel).trigger_level_v(level_v)

    def get_idn(self) -> dict[str, str | None]:
        return {"vendor": "qnic-bench", "model": "ReplayTimeTagger",
                "serial": Path(self.address).name, "firmware": None}

    # -- acquisition --------------------------------------------------------------
    def acquire(self, duration_s: float) -> TagBatch:
        """The next ``duration_s`` seconds of the recording (shorter at its end).

        Raises:
            ReplayEndError: the recording is exhausted and ``end_of_file`` is
                "error".
        """
        if not (duration_s >= 0 and np.isfinite(duration_s)):
            raise ValueError(f"{self.name}: duration must be >= 0 s, got {duration_s}")
        return self._acquire_ps(round(duration_s * 1e12))

    def _acquire_ps(self, duration_ps: int) -> TagBatch:
        end = self.end_ps
        t0 = self._pos_ps
        if t0 >= end:
            self._at_end = True
            if self._end_mode == "error":
                raise ReplayEndError(
                    f"{self.name}: the recording {self.address} ended at "
                    f"{(end - self.origin_ps) * 1e-12:.6g} s of replay; no tags left "
                    "(rewind(), or set end_of_file to 'empty')")
            return TagBatch(*_EMPTY, t0, t0)
        t1 = min(t0 + duration_ps, end)
        batch = self._tag(t0, t1)
        self._pos_ps = t1
        self._at_end = t1 >= end
        return batch

    def _tag(self, t0: int, t1: int) -> TagBatch:
        """Tags of [t0, t1): a recorded tag at p on channel c is played at p + delay_c."""
        assert self._stream is not None
        channels = np.array(sorted(self._inputs), dtype=np.int64)
        delays = np.array([self._inputs[c]._delay_ps for c in channels], dtype=np.int64)
        limit = t1 - int(delays.min(initial=0))
        raw_ts, raw_ch = self._stream.take_until(max(limit, self._read_until_ps))
        self._read_until_ps = max(limit, self._read_until_ps)
        if raw_ts.size and np.any(delays):
            # A lookup table over the channels' range, not a search per tag.
            lo = min(int(channels[0]), int(raw_ch.min()))
            lut = np.zeros(max(int(channels[-1]), int(raw_ch.max())) - lo + 1, np.int64)
            lut[channels - lo] = delays
            raw_ts = raw_ts + lut[raw_ch - lo]
        ts, cs = raw_ts, raw_ch
        if self._held[0].size:
            ts = np.concatenate((self._held[0], raw_ts))
            cs = np.concatenate((self._held[1], raw_ch))
        # Without delays the recording is already in order; with them it is
        # nearly so, which the stable sort's runs make quick.
        if ts.size > 1 and np.any(ts[1:] < ts[:-1]):
            order = np.argsort(ts, kind="stable")
            ts, cs = ts[order], cs[order]
        lo, hi = np.searchsorted(ts, [t0, t1], side="left")
        self._held = (ts[hi:], cs[hi:])
        return TagBatch(ts[lo:hi], cs[lo:hi], t0, t1)

    def stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        """Play ``duration_s`` seconds in batches of ``chunk_s`` seconds.

        The stream ends early, after a short last batch, when the recording
        does; starting it at the end behaves as :meth:`acquire` does.
        """
        if not chunk_s > 0:
            raise ValueError(f"{self.name}: chunk must be > 0 s, got {chunk_s}")
        self.info  # noqa: B018 - opens the recording
        stop = self._pos_ps + round(duration_s * 1e12)
        step, first = max(round(chunk_s * 1e12), 1), True
        while self._pos_ps < stop:
            if not first and self._pos_ps >= self.end_ps:
                return
            batch = self._acquire_ps(min(step, stop - self._pos_ps))
            first = False
            yield batch
            if batch.stop_ps == batch.start_ps:
                return

    def count_rates(self, duration_s: float) -> dict[int, float]:
        """Rates (Hz) of every input over the next ``duration_s`` of the recording."""
        batch = self.acquire(duration_s)
        counts, live = batch.counts(), batch.duration_s - batch.lost_s
        return {ch: (counts.get(ch, 0) / live if live > 0 else 0.0)
                for ch in self.input_channels}

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._closer is not None:
            self._closer()
            self._closer = None
        super().close()
