"""The command line: ``python -m allocation solve PROBLEM.json [--objective] [--solver]``.

Prints the result JSON on stdout. Exit status: 0 solved (``optimal`` or
``time_limit``), 3 ``infeasible``, 2 for an invalid problem file or
arguments, with one line on stderr naming the offending entry. Never a
traceback for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from allocation.problem import OBJECTIVES, ProblemError, load_problem
from allocation.result import result_to_json
from allocation.solvers import DEFAULT_SOLVER, SOLVERS

EXIT_SOLVED = 0
EXIT_INVALID = 2
EXIT_INFEASIBLE = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but its usage errors are one line and exit 2 like invalid files."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"allocation: {message}\n")
        raise SystemExit(EXIT_INVALID)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m allocation", description="Solve an allocation problem.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    solve = commands.add_parser("solve", help="solve PROBLEM.json and print the result JSON")
    solve.add_argument("problem", metavar="PROBLEM.json", help="the problem file ('-' for stdin)")
    solve.add_argument("--objective", help=f"override the file's: {' or '.join(OBJECTIVES)}")
    solve.add_argument("--solver", default=DEFAULT_SOLVER, help=f"{' or '.join(SOLVERS)}")
    return parser


def _fail(message: str) -> int:
    sys.stderr.write(f"allocation: {' '.join(message.split())}\n")
    return EXIT_INVALID


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv`; return the exit status."""
    arguments = _parser().parse_args(argv)
    if arguments.solver not in SOLVERS:
        return _fail(f"--solver must be {' or '.join(SOLVERS)}, got {arguments.solver!r}")
    try:
        if arguments.problem == "-":
            text = sys.stdin.buffer.read()
        else:
            with open(arguments.problem, "rb") as handle:
                text = handle.read()
    except OSError as error:
        return _fail(f"cannot read {arguments.problem}: {error.strerror or error}")
    # Imported here so that `--help` and argument errors stay fast.
    from allocation.stages import solve

    try:
        problem = load_problem(text)
        result = solve(problem, objective=arguments.objective, solver=arguments.solver)
    except ProblemError as error:
        return _fail(f"{arguments.problem}: {error}")
    sys.stdout.write(result_to_json(result))
    sys.stdout.flush()
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
