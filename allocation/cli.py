"""The command line: ``python -m allocation solve PROBLEM.json [--objective] [--solver]``.

Prints the result JSON (UTF-8) on stdout. Exit status:

- 0: solved (``optimal`` or ``time_limit``);
- 3: ``infeasible`` (the result names the conflicts);
- 2: an invalid problem file or arguments, whatever the file holds, with one
  line on stderr naming the offending entry (see `allocation.problem`);
- 1: an internal error of the engine (a bug, not the file's fault), said in
  one line on stderr with the exception and where it was raised; set
  ``ALLOCATION_TRACEBACK=1`` in the environment to get the traceback instead;
- 130: interrupted (Ctrl-C).

Never a traceback otherwise. When the file sets no ``options.time_limit_s``,
the command line solves with `DEFAULT_TIME_LIMIT_S` (600 s); the library's
`allocation.solve` keeps "no limit" for a problem without one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from allocation.problem import OBJECTIVES, Problem, ProblemError, load_problem
from allocation.result import result_to_json
from allocation.solvers import DEFAULT_SOLVER, SOLVERS

EXIT_SOLVED = 0
EXIT_INTERNAL_ERROR = 1
EXIT_INVALID = 2
EXIT_INFEASIBLE = 3
EXIT_INTERRUPTED = 130

_PACKAGE = os.path.dirname(os.path.abspath(__file__))

DEFAULT_TIME_LIMIT_S = 600.0
"""The time limit of a solve from the command line when the file sets none (spec: 600 s)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but its usage errors are one line and exit 2 like invalid files."""

    def error(self, message: str) -> NoReturn:
        _say(message)
        raise SystemExit(EXIT_INVALID)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m allocation", description="Solve an allocation problem.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    solve = commands.add_parser("solve", help="solve PROBLEM.json and print the result JSON")
    solve.add_argument("problem", metavar="PROBLEM.json", help="the problem file ('-' for stdin)")
    solve.add_argument("--objective", help=f"override the file's: {' or '.join(OBJECTIVES)}")
    solve.add_argument("--solver", default=DEFAULT_SOLVER, help=f"{' or '.join(SOLVERS)}")
    solve.add_argument(
        "--workers",
        type=_positive_int,
        help="categories solved at once (default: one per core, at most 4)",
    )
    return parser


def _positive_int(text: str) -> int:
    """A whole number from 1 to 64, for ``--workers``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be from 1 to 64, got {value}")
    return value


def _say(message: str) -> None:
    """`message` on stderr as one printable line: breaks made spaces, control chars escaped."""
    line = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in " ".join(message.split())
    )
    sys.stderr.write(f"allocation: {line}\n")
    sys.stderr.flush()


def _fail(message: str) -> int:
    _say(message)
    return EXIT_INVALID


def _with_default_time_limit(problem: Problem) -> Problem:
    if problem.options.time_limit_s is not None:
        return problem
    options = dataclasses.replace(problem.options, time_limit_s=DEFAULT_TIME_LIMIT_S)
    return dataclasses.replace(problem, options=options)


def _run(arguments: argparse.Namespace) -> int:
    if arguments.solver not in SOLVERS:
        return _fail(f"--solver must be {' or '.join(SOLVERS)}, got {arguments.solver!r}")
    if arguments.objective is not None and arguments.objective not in OBJECTIVES:
        return _fail(f"--objective must be {' or '.join(OBJECTIVES)}, got {arguments.objective!r}")
    try:
        if arguments.problem == "-":
            text = sys.stdin.buffer.read()
        else:
            with open(arguments.problem, "rb") as handle:
                text = handle.read()
    except OSError as error:
        return _fail(f"cannot read {arguments.problem}: {error.strerror or error}")
    except ValueError as error:  # e.g. a NUL in the path
        return _fail(f"cannot read {arguments.problem}: {error}")
    # Imported here so that `--help` and argument errors stay fast.
    from allocation.stages import solve

    try:
        problem = _with_default_time_limit(load_problem(text))
        result = solve(
            problem,
            objective=arguments.objective,
            solver=arguments.solver,
            workers=arguments.workers,
        )
    except ProblemError as error:
        return _fail(f"{arguments.problem}: {error}")
    # Ids and names are checked to be writable; strict UTF-8 all the same, so that a
    # result that could not be written is an internal error, not a garbled file.
    output = result_to_json(result)
    _write(output)
    return result.exit_code


def _write(output: str) -> None:
    """`output` on stdout as UTF-8 whatever the locale says (a JSON file is UTF-8)."""
    data = output.encode("utf-8")
    try:
        sys.stdout.flush()
        binary = getattr(sys.stdout, "buffer", None)
        if binary is None:  # a text-only stream put in its place (io.StringIO)
            sys.stdout.write(output)
        else:
            binary.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`... | head`): no more to write, and nothing to flush
        # at exit either (that would be a second BrokenPipeError, and a traceback).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _internal_error(error: Exception) -> int:
    # Where: the innermost frame in this package (numpy's or PuLP's own frames say less).
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if os.path.dirname(frame.filename) == _PACKAGE] or frames
    place = f" at {os.path.basename(ours[-1].filename)}:{ours[-1].lineno}" if ours else ""
    _say(
        f"internal error, please report it: {type(error).__name__}: {error}{place}"
        " (ALLOCATION_TRACEBACK=1 shows the traceback)"
    )
    return EXIT_INTERNAL_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv`; return the exit status (see the module's docstring)."""
    try:
        arguments = _parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2, already said)
        return stop.code if isinstance(stop.code, int) else EXIT_INVALID
    try:
        return _run(arguments)
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("ALLOCATION_TRACEBACK") == "1":
            raise
        return _internal_error(error)


if __name__ == "__main__":
    raise SystemExit(main())
