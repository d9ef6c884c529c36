"""The command line, exit codes, determinism, and that the package stays free of Flask."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from allocation.cli import main


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "allocation", *args],
        input=None if stdin is None else stdin.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )


def cli_here(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`main` in this process (no interpreter to start): exit status, stdout, stderr."""
    try:
        status = main(list(args))
    except SystemExit as stop:  # argparse's usage errors
        assert isinstance(stop.code, int)
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def instance(seed: int, schools: int = 30, services: int = 40) -> dict[str, Any]:
    """A seeded random problem of a few categories, with integer and cohort services."""
    rng = random.Random(seed)
    ids = [f"S{i:03d}" for i in range(schools)]
    return {
        "schools": [{"id": s, "weight": round(rng.uniform(50, 900), 2)} for s in ids],
        "services": [
            {
                "id": f"J{j:03d}",
                "category": rng.choice(["tutoring", "mentoring", "health"]),
                "capacity": rng.randint(5, 120),
                "integer": j % 3 == 0,
                **({"max_per_school": rng.randint(5, 40)} if j % 4 == 0 else {}),
                **({"min_viable": rng.randint(3, 8)} if j % 5 == 0 else {}),
                "eligible": rng.sample(ids, rng.randint(2, min(10, schools))),
            }
            for j in range(services)
        ],
    }


def write(tmp_path: Path, problem: dict[str, Any] | str) -> str:
    path = tmp_path / "problem.json"
    path.write_text(problem if isinstance(problem, str) else json.dumps(problem))
    return str(path)


def test_import_allocation_pulls_in_no_web_or_database_stack() -> None:
    code = (
        "import sys, allocation; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'registry')]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60)
    assert out.stdout.strip() == b"[]"


def test_same_input_same_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, instance(7))
    first = cli("solve", path)
    second = cli("solve", path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stderr == b""
    result = json.loads(first.stdout)
    assert result["status"] == "optimal"
    maxmin = cli("solve", path, "--objective", "maxmin")
    assert maxmin.returncode == 0 and json.loads(maxmin.stdout)["objective"] == "maxmin"


def test_infeasible_exits_3(tmp_path: Path) -> None:
    problem = instance(3)
    problem["limits"] = [{"school": "S000", "category": "tutoring", "min": 10_000}]
    run = cli("solve", write(tmp_path, problem))
    assert run.returncode == 3
    result = json.loads(run.stdout)
    assert result["status"] == "infeasible" and result["conflicts"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schools": [', "malformed JSON at line 1"),
        (
            '{"schools": [{"id": "S1", "weight": 1}], "services": '
            '[{"id": "J1", "category": "t", "capacity": -1, "eligible": []}]}',
            'services[0] (id "J1"): capacity must be a number >= 0, got -1',
        ),
        (
            '{"schools": [{"id": "S1", "weight": 1}, {"id": "S1", "weight": 2}], "services": []}',
            'schools[1] (id "S1"): duplicate school id',
        ),
        (
            '{"schools": [{"id": "S1", "weight": 1}], "services": '
            '[{"id": "J1", "category": "t", "capacity": 5, "eligible": ["S1"]}], '
            '"locks": [{"service": "J1", "school": "S1", "amount": 6}]}',
            'locks[0]: amount 6 is above the capacity 5 of service "J1"',
        ),
    ],
)
def test_invalid_file_exits_2_with_one_line(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process: a traceback would fail the test as an exception.
    status, out, err = cli_here(capsys, "solve", write(tmp_path, content))
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_bad_arguments_and_missing_file_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = cli_here(capsys, "solve", str(tmp_path / "nope.json"))
    assert status == 2 and len(err.splitlines()) == 1
    assert "nope.json" in err
    path = write(tmp_path, instance(1))
    for args in (["--objective", "fair"], ["--solver", "glpk"], ["--bogus"]):
        status, out, err = cli_here(capsys, "solve", path, *args)
        assert status == 2 and len(err.splitlines()) == 1
        assert out == ""
    # The same through the interpreter, as a user runs it.
    run = cli("solve", path, "--solver", "glpk")
    assert run.returncode == 2 and len(run.stderr.decode().splitlines()) == 1
    assert run.stdout == b""


def test_stdin_and_cbc(tmp_path: Path) -> None:
    problem = json.dumps(instance(5, schools=8, services=6))
    run = cli("solve", "-", "--solver", "cbc", stdin=problem)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "optimal"
