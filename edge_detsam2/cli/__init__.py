"""``edge-detsam2`` command line: one subcommand per job, exit 0 / 1 runtime / 2 usage.

One module per command in this package; each parses its arguments and calls library
functions. Nothing outside ``cli`` imports it (tests/test_imports.py checks).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from edge_detsam2 import __version__
from edge_detsam2.errors import EdgeDetSam2Error

logger = logging.getLogger("edge_detsam2")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 too; keep its message short
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from edge_detsam2.cli import bench as bench_cmd
    from edge_detsam2.cli import check_config, demo, discovery
    from edge_detsam2.cli import eval as eval_cmd
    from edge_detsam2.cli import events as events_cmd
    from edge_detsam2.cli import export as export_cmd
    from edge_detsam2.cli import run as run_cmd
    from edge_detsam2.cli import scoreboard as scoreboard_cmd
    from edge_detsam2.cli import simulate as simulate_cmd
    from edge_detsam2.cli import train as train_cmd
    from edge_detsam2.cli import tune as tune_cmd

    parser = _Parser(prog="edge-detsam2", description=__doc__)
    parser.add_argument("--version", action="version", version=f"edge-detsam2 {__version__}")
    parser.add_argument(
        "--log-level",
        default=None,
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="DEBUG, INFO, WARNING or ERROR (default: INFO; for run, the config's logging.level)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo.add_parser(sub)
    run_cmd.add_parser(sub)
    check_config.add_parser(sub)
    export_cmd.add_parser(sub)
    events_cmd.add_parser(sub)
    eval_cmd.add_parser(sub)
    tune_cmd.add_parser(sub)
    simulate_cmd.add_parser(sub)
    bench_cmd.add_parser(sub)
    train_cmd.add_parser(sub)
    scoreboard_cmd.add_parser(sub)
    discovery.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level or "INFO", format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except EdgeDetSam2Error as exc:
        print(f"edge-detsam2 {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:  # a path of the wrong kind
        print(f"edge-detsam2 {args.command}: error: {exc.filename}: {exc.strerror}; pass another path", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions, I/O: a runtime failure, one line naming the file
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"edge-detsam2 {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:  # a reader that does not name its file yet still gets one line
        print(f"edge-detsam2 {args.command}: error: an input file is not UTF-8 text ({exc.reason})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
