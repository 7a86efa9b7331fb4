"""``qnic export``: a recorded run as a netCDF or CSV file, by QCoDeS's own export
(docs/storage.md, docs/commands.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from qnic.cli.common import EXIT_BAD_INPUT, EXIT_OK, positive_int

FORMATS = ("netcdf", "csv")
"""The formats (:data:`qnic.storage.EXPORT_FORMATS`; tests/test_cli_export.py checks)."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="write a recorded run as a netCDF or CSV file",
                       description="Write one run of a QCoDeS database with QCoDeS's own export "
                                   "(DataSet.export): netCDF (all of the run, with units and "
                                   "metadata) or CSV (tab-separated, no header).")
    p.add_argument("run", type=positive_int, metavar="RUN",
                   help="the run's captured run id, as the measuring commands print it (run_id)")
    p.add_argument("--db", metavar="FILE", help="QCoDeS database (default: QCoDeS's configured one)")
    p.add_argument("--format", choices=FORMATS, required=True, help="netcdf or csv")
    p.add_argument("--out", metavar="FILE",
                   help="the file to write, ending in .nc or .csv (default: QCoDeS's name, "
                        "qcodes_RUN_GUID, in the current folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    import qcodes as qc

    from qnic.storage import StorageError, export_run, open_run

    db = args.db if args.db is not None else str(qc.config.core.db_location)
    try:
        ds = open_run(db, args.run)
        files = export_run(ds, args.format, args.out)
    except StorageError as exc:
        print(f"qnic export: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report = {"run_id": args.run, "db": str(ds.path_to_db), "name": ds.name,
              "format": args.format,
              "files": [{"path": f.path, "columns": [{"name": q.name, "label": q.label, "unit": q.unit}
                                                     for q in f.columns]} for f in files]}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"run {args.run} ({ds.name}) of {report['db']} as {args.format}:")
        for f in files:
            columns = ", ".join(f"{q.name} ({q.unit})" if q.unit else q.name for q in f.columns)
            print(f"  {f.path}\n    columns: {columns}")
    return EXIT_OK
