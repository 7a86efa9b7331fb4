"""The raw-tags side file of a CHSH run, written as the run goes (docs/storage.md).

A run killed outright (SIGKILL, a power cut of the computer) must leave
what it acquired readable, so the side file is not written at the end only:

* ``.ptu``: every batch is appended as it is acquired, on the acquisition
  clock of :func:`~qnic.experiments.chsh.acquisition_time_batches` (rotator
  moves cut out), and flushed to the operating system. The header carries
  the planned order and lengths of the settings; its record count is
  patched in at the end, so the file of a killed run has a header that
  says 0 records and is read up to its last whole record (the PTU reader
  warns and reads what is there).
* ``.npz`` (a zip, which cannot be appended to): rewritten after each
  finished setting, to a temporary file moved over the old one, so the
  file always holds every finished setting.

At the end, interrupted or not, the file is rewritten once more from the
finished settings alone (:func:`~qnic.experiments.chsh.save_tags`), the
same file as a run without streaming would write.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qnic.experiments.chsh import SettingData, save_tags
from qnic.instruments.timetaggers.protocol import TagBatch


class RawTagFile:
    """The side file ``path`` of one CHSH run, kept readable at every moment.

    Args:
        path: the side file (``.ptu``: Generic T2; anything else: ``.npz``).
        channels: the tagger channels of both arms (the PTU header's inputs).
    """

    def __init__(self, path: Path, channels: Sequence[int]) -> None:
        self.path = Path(path)
        self.is_ptu = self.path.suffix.lower() == ".ptu"
        self._channels = sorted({int(c) for c in channels})
        self._writer: Any = None
        self._planned: tuple[list[str], int] = ([], 0)
        self._at_ps = 0  # acquisition-clock time the next setting starts at
        self._shift = 0
        self._key: str | None = None

    def begin(self, keys: Sequence[str], seconds_per_setting: float) -> None:
        """The settings planned, in order, and each one's acquisition time (s)."""
        self._planned = (list(keys), round(seconds_per_setting * 1e12))

    def add(self, key: str, batch: TagBatch, first: bool) -> None:
        """Append a batch of setting ``key`` (``first``: the setting's first batch)."""
        if not self.is_ptu:
            return
        if first:
            self._shift = self._at_ps - int(batch.start_ps)
        shifted = TagBatch(batch.timestamps + self._shift, batch.channels,
                           int(batch.start_ps) + self._shift, int(batch.stop_ps) + self._shift,
                           tuple((s + self._shift, e + self._shift) for s, e in batch.overflows),
                           batch.missed_events)
        writer = self._open()
        writer.write(shifted)
        writer.flush()
        self._at_ps = int(shifted.stop_ps)

    def finished(self, settings: Sequence[SettingData]) -> None:
        """A setting is finished: the ``.npz`` file is rewritten with all of them."""
        if not self.is_ptu:
            self._replace(settings)

    def close(self, settings: Sequence[SettingData]) -> None:
        """The final file: the finished settings' tags (:func:`save_tags`)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if any(d.batch is not None for d in settings) or self.path.exists():
            self._replace(settings)

    def _open(self) -> Any:
        if self._writer is None:
            from qnic.instruments.timetaggers.picoquant import PtuWriter

            keys, length_ps = self._planned
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = PtuWriter(
                self.path, input_channels=[c for c in self._channels if c >= 1] or [1],
                comment="qnic chsh raw tags",
                extra_tags={"UsrCHSH_Settings": ",".join(keys),
                            "UsrCHSH_SettingDurations_ps": ",".join([str(length_ps)] * len(keys)),
                            "UsrCHSH_GapsRemoved": True})
        return self._writer

    def _replace(self, settings: Sequence[SettingData]) -> None:
        """Write ``settings`` to a temporary file beside the side file, then move it over."""
        tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.npz'}")
        if not self.is_ptu and tmp.suffix.lower() != ".npz":
            tmp = tmp.with_suffix(".npz")
        save_tags(tmp, list(settings))
        os.replace(tmp, self.path)
