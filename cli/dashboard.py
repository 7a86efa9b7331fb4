"""``qnic dashboard``: the bench in a browser (docs/dashboard.md, docs/commands.md).

The web libraries (Starlette, uvicorn) are imported only when the command
runs, so ``qnic --help`` stays quick.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from qnic.cli.common import EXIT_BAD_INPUT, EXIT_OK, bench_seed, positive_float, positive_int, seed

if TYPE_CHECKING:
    import socket

    from qnic.experiments.dashboard.board import Board
    from qnic.experiments.dashboard.worker import BenchWorker, OpenedBench
    from qnic.station import StationConfig

DEFAULT_PORT = 8765


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard", help="the bench in a browser: live rates, cross-correlation, CHSH and the demo",
        description="Serve a live page of singles and coincidence rates, the A-B "
                    "cross-correlation with the coincidence window, CHSH runs (S as the "
                    "settings complete) and the load-balancing demo (win rates and queues), "
                    "with buttons to start and stop runs. Every browser that opens the page "
                    "watches the same bench and the same run. Prints the page's URL on "
                    "stdout when ready; Ctrl-C stops.")
    p.add_argument("--station", metavar="FILE", help="station file (default: embedded simulated bench)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--interval", type=positive_float, default=0.25, metavar="S",
                   help="acquisition per rates reading in seconds (default 0.25)")
    p.add_argument("--seconds", type=positive_float, default=1.0, metavar="S",
                   help="CHSH acquisition per setting, the page's default (default 1)")
    p.add_argument("--rounds", type=positive_int, default=2000, metavar="N",
                   help="demo rounds, the page's default (default 2000)")
    p.add_argument("--block", type=positive_int, default=250, metavar="N",
                   help="demo rounds per block: the page updates after each (default 250)")
    p.add_argument("--seed", type=seed, metavar="N",
                   help="seed of the simulated bench and of the demo's requests")
    p.add_argument("--no-pace", action="store_true",
                   help="run CHSH and the demo on a simulated bench as fast as it computes, "
                        "not at the lab's pace")
    p.add_argument("--db", metavar="FILE",
                   help="QCoDeS database for CHSH runs (default: QCoDeS's configured one)")
    p.add_argument("--calibration", metavar="FILE",
                   help="calibration file to use (default: the bench's newest in the store)")
    p.add_argument("--calibration-dir", metavar="DIR",
                   help="the calibration store (default ~/.qnic-bench/calibrations)")
    p.add_argument("--uncalibrated", action="store_true",
                   help="use the station file's zeros and delays, not a calibration")
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from qnic.experiments.dashboard.board import Board
    from qnic.experiments.dashboard.server import bind
    from qnic.experiments.dashboard.worker import BenchWorker, DashboardOptions
    from qnic.station import StationError, load_station_config
    from qnic.storage import command_arguments, use_database

    config = load_station_config(args.station)
    label = "embedded simulated bench" if args.station is None else str(args.station)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"qnic dashboard: cannot listen on {args.host} port {args.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with sock:
        db = use_database(args.db)
        options = DashboardOptions(label, args.interval, args.seconds, args.rounds, args.block,
                                   args.seed or 0, paced=not args.no_pace, bench_seed=args.seed,
                                   arguments=command_arguments(args))
        board = Board()
        worker = BenchWorker(lambda: _open_bench(config, args), options, board)
        worker.start()
        try:
            worker.wait_ready()
            _serve(worker, board, sock, f"{label}{' (simulated)' if config.sim else ''}, "
                                        f"CHSH runs recorded in {db}")
        except StationError:
            raise
        except ValueError as exc:  # a calibration that cannot be used
            print(f"qnic dashboard: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            pass
        finally:
            worker.shutdown()
    print("qnic dashboard: stopped", file=sys.stderr)
    return EXIT_OK


def _serve(worker: BenchWorker, board: Board, sock: socket.socket, what: str) -> None:
    from qnic.experiments.dashboard.app import create_app
    from qnic.experiments.dashboard.server import serve, url_of

    def ready() -> None:
        print(f"qnic dashboard: {what}; Ctrl-C stops", file=sys.stderr, flush=True)
        print(url_of(sock), flush=True)

    serve(create_app(worker, board), sock, ready)


@contextmanager
def _open_bench(config: StationConfig, args: argparse.Namespace) -> Iterator[OpenedBench]:
    """Open the station and apply the calibration (in the dashboard's bench thread)."""
    from qnic.cli.chsh import use_calibration
    from qnic.experiments.dashboard.worker import OpenedBench
    from qnic.station import open_station

    with open_station(config, seed=bench_seed(config, args.seed)) as st:
        yield OpenedBench(st, use_calibration(st, args))
