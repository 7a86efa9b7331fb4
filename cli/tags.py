"""``qnic tags``: time-tag files (docs/commands.md). ``qnic tags info FILE`` reads a
PicoQuant PTU or legacy PicoQuant (.pt2/.pt3/.ht2/.ht3/.t3r), Photon-HDF5 or
qnic ``.npz`` tags file once, in bounded memory, and reports what it holds."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from qnic.cli.common import EXIT_BAD_INPUT, EXIT_OK, positive_float, positive_int


def add_parser(sub: Any) -> None:
    tags = sub.add_parser("tags", help="read time-tag files (PTU, Photon-HDF5, qnic .npz)",
                          description="Time-tag files: PicoQuant PTU (T2/T3) and the legacy "
                                      ".pt2/.pt3/.ht2/.ht3/.t3r, Photon-HDF5 and the .npz "
                                      "files of `qnic chsh --save-tags`.")
    tags_sub = tags.add_subparsers(dest="tags_command", required=True, metavar="ACTION")
    info = tags_sub.add_parser("info", help="summarize a time-tag file",
                               description="Records, events per channel, time span, overflows "
                                           "and header facts of a time-tag file.")
    info.add_argument("file", metavar="FILE",
                      help="a .ptu (or .pt2/.pt3/.ht2/.ht3/.t3r), Photon-HDF5 (.h5) or .npz file")
    info.add_argument("--timestamps-unit", type=positive_float, metavar="S",
                      help="Photon-HDF5: timestamp unit in seconds, for files without one")
    info.add_argument("--setting", metavar="XY", help=".npz: only this setting (e.g. 01)")
    info.add_argument("--chunk-records", type=positive_int, default=1 << 20, metavar="N",
                      help="records read at a time (default 1048576)")
    info.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    info.set_defaults(func=cmd_tags_info)


def cmd_tags_info(args: argparse.Namespace) -> int:
    from qnic.instruments.timetaggers.picoquant.errors import TagFileError
    from qnic.instruments.timetaggers.picoquant.files import scan

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            info = scan(args.file, chunk_records=args.chunk_records, setting=args.setting,
                        timestamps_unit_s=args.timestamps_unit)
        except TagFileError as exc:
            print(f"qnic tags: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    for note in notes:
        print(f"qnic tags: warning: {note}", file=sys.stderr)
    report = {**info.to_json(), "file": args.file, "warnings": notes}
    if args.json:
        print(json.dumps(report))
    else:
        print(format_info(report))
    return EXIT_OK


def _seconds(ps: int | None) -> str:
    return "-" if ps is None else f"{ps * 1e-12:.9g} s"


def format_info(r: dict[str, Any]) -> str:
    """The readable summary of ``qnic tags info``."""
    kind = {"ptu": "PicoQuant PTU", "picoquant-legacy": "PicoQuant legacy",
            "photon-hdf5": "Photon-HDF5", "npz": "qnic .npz"}[r["format"]]
    if "record_type" in r:
        kind += f", {r['record_type']}"
        if r.get("record_type_code"):
            kind += f" ({r['record_type_code']})"
        if r.get("hardware"):
            kind += f", hardware {r['hardware']}"
    records = f"{r['records']:,}"
    if r.get("header_records") not in (None, r["records"]):
        records += f" (the header says {r['header_records']:,})"
    lines = [r["file"], f"  format      {kind}", f"  records     {records}"]
    if "global_resolution_s" in r:
        lines.append(f"  resolution  {r['global_resolution_s'] * 1e12:.6g} ps global, "
                     f"{r['resolution_s'] * 1e12:.6g} ps micro time; sync "
                     f"{r['sync_rate_hz']:.9g} Hz")
    first, last = r["first_ps"], r["last_ps"]
    span = None if first is None else (last - first) * 1e-12
    line = f"  tags        {_seconds(first)} to {_seconds(last)}"
    if r.get("header_duration_s") is not None:
        line += f"; header acquisition time {r['header_duration_s']:g} s"
    lines += [line, f"  overflows   {r['overflows']:,}    markers {r['markers']:,}",
              "", "  channel        events   mean rate (Hz)"]
    for ch, n in r["events"].items():
        rate = f"{n / span:14.6g}" if span else f"{'-':>14}"
        lines.append(f"  {ch:>7}  {n:>12,}   {rate}")
    if not r["events"]:
        lines.append("  (no tags)")
    return "\n".join(lines)
