"""The ``watchkeeper`` console script: argparse tree, one-line errors, exit codes.

Importing this module must stay cheap (commands are timed cold): it imports only the
standard library. Each command lives in ``watchkeeper.app.commands.<name>`` with
``register(subparsers)`` and ``run(args) -> int``; its heavy imports happen inside ``run``.

Exit codes (CONTRACT.md): 0 done, 1 a negative finding, 2 bad input or an unreachable
service, with one clear line on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, TextIO

from watchkeeper.core import notices

# Order is the order of `watchkeeper --help`. A command is listed here once its module exists.
COMMAND_MODULES: tuple[str, ...] = (
    "gui",
    "demo",
    "drift",
    "gate",
    "check",
    "init",
    "report",
    "registry",
    "audit",
    "db",
    "bundle",
    "open",
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("watchkeeper")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="watchkeeper",
        description="A desktop workbench for the owners of machine-learning models in production.",
    )
    parser.add_argument("--version", action="version", version=f"watchkeeper {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"watchkeeper.app.commands.{name}")
        module.register(subparsers)
    return parser


#: Commands that may open a window: they end through Qt's own teardown (settings are saved
#: when their objects go), never through :func:`_leave`.
_WINDOW_COMMANDS = frozenset({"gui", "open", "demo"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns (and, as a script, exits with) its exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command, code = _run(args_list)
    if argv is None and command not in _WINDOW_COMMANDS:  # the console script ends here
        _leave(code)
    return code


def _leave(code: int) -> NoReturn:
    """End the process now, without the interpreter's teardown.

    Once MLflow's SQLite store, DuckDB and pandas have met in one process, DuckDB 2.0's
    bindings print forty-odd "nanobind: leaked …" lines on stderr during teardown — noise in
    a cron mail where a command promises one line. Every command has closed and committed
    what it writes before it returns, so teardown would only collect the heap and run
    libraries' exit hooks.
    """
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _run(args_list: list[str]) -> tuple[str | None, int]:
    with _escaped_output():
        return _run_command(args_list)


def _run_command(args_list: list[str]) -> tuple[str | None, int]:
    parser = build_parser()
    # `watchkeeper` alone, or with only gui options, opens the workbench.
    if not args_list or (
        args_list[0].startswith("-")
        and args_list[0]
        not in (
            "-h",
            "--help",
            "--version",
        )
    ):
        args_list.insert(0, "gui")
    args = parser.parse_args(args_list)
    try:
        with notices.listening(_NoticePrinter(args.command)):
            return args.command, int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("watchkeeper: interrupted", file=sys.stderr)
        return args.command, 2
    except Exception as exc:
        return args.command, _report(exc, args)


class _EscapingStream:
    """A text stream that writes controls from data as visible escapes (core/text.py).

    Newlines and tabs are the commands' own layout and pass; a carriage return passes only
    at either end of one write, where the progress lines put theirs. Inside a line it may
    come from a name and would let it overwrite what was printed before it.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from watchkeeper.core.text import printable

        body = text.strip("\r")
        if not body:
            self._stream.write(text)
            return len(text)
        start = text.index(body[0])
        lead, trail = text[:start], text[start + len(body) :]
        self._stream.write(lead + printable(body, keep="\n\t") + trail)
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self._stream, name)


@contextlib.contextmanager
def _escaped_output() -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _EscapingStream(saved[0]), _EscapingStream(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class _NoticePrinter:
    """Prints each of core's notices once, on stderr so that stdout stays the command's
    output (JSON included)."""

    def __init__(self, command: str | None) -> None:
        self._command = command
        self._said: set[str] = set()

    def __call__(self, text: str) -> None:
        if text in self._said:
            return
        self._said.add(text)
        from watchkeeper.core.text import printable

        line = printable(f"watchkeeper {self._command}: warning: {text}")
        print(line, file=sys.stderr, flush=True)


def _report(exc: Exception, args: argparse.Namespace) -> int:
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.text import printable

    if isinstance(exc, WatchkeeperError):
        # One line, whatever the message quotes: its newlines are escaped too.
        print(printable(f"watchkeeper {args.command}: {exc}"), file=sys.stderr)
        return exc.exit_code
    # A bug of ours, not the user's input: keep the traceback in a log for a bug report.
    import datetime as dt
    import traceback

    from watchkeeper.core.paths import cache_dir

    log = cache_dir() / "errors.log"
    where = f" (details in {log})"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {dt.datetime.now(dt.UTC).isoformat()} watchkeeper {args.command}\n")
            fh.write("".join(traceback.format_exception(exc)))
    except OSError:
        where = ""
    print(
        printable(f"watchkeeper {args.command}: internal error: {type(exc).__name__}: {exc}")
        + where,
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
