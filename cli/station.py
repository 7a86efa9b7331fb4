"""``qnic station scan``: find rotators and print station-file lines for them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from qnic.cli.common import EXIT_OK


def add_parser(sub: Any) -> None:
    p = sub.add_parser("station", help="station tools (scan for devices)")
    inner = p.add_subparsers(dest="station_command", required=True, metavar="ACTION")
    scan = inner.add_parser("scan", help="list serial ports and USB devices of known rotators")
    scan.add_argument("--probe", action="store_true",
                      help="also ask candidate ports for their identification reply")
    scan.add_argument("--port", action="append", metavar="ADDRESS",
                      help="only look at this port (repeatable; pyserial URLs allowed)")
    scan.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    scan.set_defaults(func=cmd_scan)


class _GivenPort:
    def __init__(self, device: str) -> None:
        self.device = device
        self.vid = self.pid = self.serial_number = None


def cmd_scan(args: argparse.Namespace) -> int:
    from qnic.instruments.discovery import scan

    ports = [_GivenPort(p) for p in args.port] if args.port else None
    if args.port:
        from qnic.sim import register_serial_scheme

        register_serial_scheme()
    found, notes = scan(ports, [] if args.port else None, probe=args.probe)
    if args.json:
        print(json.dumps({"devices": [f.__dict__ | {"station_lines": list(f.station_lines)} for f in found],
                          "notes": notes}))
        return EXIT_OK
    if not found:
        print("no Thorlabs or Newport rotators found")
    for i, f in enumerate(found):
        print(f"{f.kind} on {f.port} ({f.detail})")
        if f.station_lines:
            print(f"  station lines:\n    rotator_{i}:")
            for line in f.station_lines:
                print(f"      {line}")
    for note in notes:
        print(f"note: {note}")
    return EXIT_OK
