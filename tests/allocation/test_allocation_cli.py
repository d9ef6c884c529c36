"""The command line, exit codes, determinism, and that the package stays free of Flask."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    for args in (
        ["--objective", "fair"],
        ["--solver", "glpk"],
        ["--bogus"],
        ["--workers", "0"],
        ["--workers", "two"],
    ):
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


# --- issue 9: never a traceback, the default time limit, output as UTF-8 ------

ONE = (
    '{"schools": [{"id": "S1", "weight": 1}, {"id": "S2", "weight": 2}], "services": '
    '[{"id": "J1", "category": "t", "capacity": CAPACITY, "eligible": ["S1", "S2"]}]}'
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (ONE.replace("CAPACITY", "1" + "0" * 309), "capacity must be at most 1e15, got an integer"),
        (
            ONE.replace("CAPACITY", "5").replace('"weight": 2', '"weight": 3' + "0" * 309),
            'schools[1] (id "S2"): weight must be at most 1e15, got an integer of 310 digits',
        ),
        (
            ONE.replace("CAPACITY", "1" + "0" * 4300),
            'services[0] (id "J1"): capacity must be at most 1e15, got an integer of 4,301 digits',
        ),
        (
            ONE.replace("CAPACITY", "5").replace(
                '"weight": 1}', '"weight": 1, "x": 1' + "0" * 4400 + "}"
            ),
            "",  # an unknown key, ignored: solved (see the test below for the status)
        ),
        (
            ONE.replace("CAPACITY", "5").replace('"S2"', '"\\ud800"'),
            r'schools[1] (id "\ud800"): id must be a non-empty string of printable characters',
        ),
        (ONE.replace("CAPACITY", "NaN"), "capacity must be a finite number >= 0, got NaN"),
        (
            ONE.replace("CAPACITY", "Infinity"),
            "capacity must be a finite number >= 0, got Infinity",
        ),
        (ONE.replace("CAPACITY", "1e16"), "capacity must be at most 1e15, got 1e+16"),
        (
            ONE.replace("CAPACITY", "5").replace('["S1",', '[{"school": "S1", "max": -1},'),
            "eligible[0]: max must be a number >= 0, got -1",
        ),
        (
            ONE.replace("CAPACITY", "5").replace(
                '["S1", "S2"]', '["S1", {"school": "S2", "max": "20"}]'
            ),
            'eligible[1]: max must be a number >= 0, got "20"',
        ),
        ("[" * 100_000, "malformed JSON: nested too deeply"),
        ('"\\ud800"', "the problem must be a JSON object"),
        ("1" + "0" * 5000, "the problem must be a JSON object"),
        (b"\xef\xbb\xbf{}".decode("utf-8"), "schools is missing"),  # a UTF-8 BOM is fine
    ],
    ids=[
        "310-digit capacity",
        "310-digit weight",
        "4301-digit capacity",
        "4401-digit unknown key",
        "surrogate id",
        "NaN",
        "Infinity",
        "1e16",
        "site max -1",
        "site max string",
        "deep nesting",
        "surrogate string",
        "5000-digit number",
        "BOM",
    ],
)
def test_issue_9_inputs_exit_2_with_one_line(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "problem.json"
    path.write_bytes(content.encode("utf-8"))
    status, out, err = cli_here(capsys, "solve", str(path))
    if not message:  # the file is valid
        assert status == 0 and err == ""
        assert json.loads(out)["status"] == "optimal"
        return
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert lines[0].startswith(f"allocation: {path}: ")


def test_a_surrogate_in_the_path_or_a_nul_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for path in ("nope\udc80.json", "no\x00pe.json", "no\npe\x1b.json"):
        status, out, err = cli_here(capsys, "solve", path)
        assert status == 2 and out == ""
        assert len(err.splitlines()) == 1 and err.startswith("allocation: cannot read")
        err.encode("utf-8")
        assert all(char.isprintable() for char in err.rstrip("\n"))


def test_help_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", "--help"]) == 0
    assert "PROBLEM.json" in capsys.readouterr().out
    assert main([]) == 2  # usage error, returned rather than raised
    assert len(capsys.readouterr().err.splitlines()) == 1


def _spy_on_solve(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    import allocation.stages

    seen: list[float | None] = []
    real = allocation.stages.solve

    def spy(problem: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(problem.options.time_limit_s)
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(allocation.stages, "solve", spy)
    return seen


def test_the_command_line_solves_with_600_s_when_the_file_sets_no_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from allocation import load_problem
    from allocation.cli import DEFAULT_TIME_LIMIT_S

    assert DEFAULT_TIME_LIMIT_S == 600
    seen = _spy_on_solve(monkeypatch)
    problem = instance(2, schools=6, services=4)
    assert load_problem(problem).options.time_limit_s is None  # the library: no limit
    assert cli_here(capsys, "solve", write(tmp_path, problem))[0] == 0
    problem["options"] = {"time_limit_s": None}  # null: no limit set either
    assert cli_here(capsys, "solve", write(tmp_path, problem))[0] == 0
    problem["options"] = {"time_limit_s": 42}  # the file's own limit is kept
    assert cli_here(capsys, "solve", write(tmp_path, problem))[0] == 0
    assert seen == [600.0, 600.0, 42.0]


def test_workers_solve_categories_at_once_with_the_same_bytes(tmp_path: Path) -> None:
    problem = instance(7)
    for number, service in enumerate(problem["services"]):
        service["category"] = ["arts", "tutoring", "stem"][number % 3]
    path = write(tmp_path, problem)
    one = cli("solve", path, "--workers", "1")
    assert one.returncode == 0, one.stderr
    assert len(json.loads(one.stdout)["categories"]) == 3
    assert cli("solve", path, "--workers", "3").stdout == one.stdout


def test_an_internal_error_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import allocation.stages

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(allocation.stages, "solve", broken)
    path = write(tmp_path, instance(2, schools=6, services=4))
    status, out, err = cli_here(capsys, "solve", path)
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert "internal error" in err and "RuntimeError: boom second line at " in err
    assert re.search(r" at \w+\.py:\d+ ", err)  # the innermost frame of the package
    # A developer asks for the traceback; a test of the engine sees its bug as such.
    monkeypatch.setenv("ALLOCATION_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["solve", path])


def test_output_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    problem = instance(4, schools=6, services=4)
    problem["schools"][0]["name"] = "École Lincoln"
    problem["schools"][0]["id"] = "É1"
    for service in problem["services"]:
        service["eligible"] = ["É1" if s == "S000" else s for s in service["eligible"]]
    run = subprocess.run(
        [sys.executable, "-m", "allocation", "solve", write(tmp_path, problem)],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert run.returncode == 0, run.stderr
    assert '"É1"' in run.stdout.decode("utf-8")


def test_output_to_a_text_stream(tmp_path: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["solve", write(tmp_path, instance(2, schools=6, services=4))]) == 0
    assert json.loads(out.getvalue())["status"] == "optimal"


# --- whatever the file holds: hypothesis -------------------------------------

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

KEYS = [
    "objective", "schools", "services", "locks", "limits", "options", "id", "name",
    "weight", "category", "capacity", "integer", "max_per_school", "min_viable",
    "eligible", "school", "service", "amount", "min", "max", "time_limit_s",
]  # fmt: skip

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.integers(min_value=-3, max_value=70)
    | st.floats()
    | st.sampled_from([1e15, 1e16, 0.5, 5e-324, -0.0])
    | st.text(max_size=6)
    | st.sampled_from(["S1", "S2", "J1", "J2", "t", "", " ", "\ud800", "\x00", *KEYS])
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=10,
)


# Values of the kind already in place, so that many mutants stay valid and reach the solver.
NUMBERS = st.integers(min_value=0, max_value=20) | st.floats(min_value=0, max_value=50)
IDS = st.sampled_from(["S1", "S2", "S3", "J1", "J2", "t", "m", "maxmin"])
ENTRIES = st.fixed_dictionaries(
    {"service": st.sampled_from(["J1", "J2"]), "school": st.sampled_from(["S1", "S2", "S3"])},
    optional={"amount": st.integers(0, 9), "id": st.sampled_from(["K2", "K3"])},
) | st.fixed_dictionaries(
    {"school": st.sampled_from(["S1", "S2", "S3"])},
    optional={
        "category": st.sampled_from(["t", "m"]),
        "min": st.integers(0, 9),
        "max": st.floats(0, 9),
    },
)


def _like(value: Any) -> st.SearchStrategy[Any]:
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int | float):
        return NUMBERS
    if isinstance(value, str):
        return IDS
    return ENTRIES


def small_problem() -> dict[str, Any]:
    return {
        "objective": "proportional",
        "schools": [
            {"id": "S1", "weight": 3, "name": "Lincoln"},
            {"id": "S2", "weight": 1},
            {"id": "S3", "weight": 2},
        ],
        "services": [
            {
                "id": "J1",
                "category": "t",
                "capacity": 12,
                "integer": True,
                "min_viable": 2,
                "eligible": ["S1", {"school": "S2", "max": 4}, "S3"],
            },
            {
                "id": "J2",
                "category": "m",
                "capacity": 7.5,
                "max_per_school": 5,
                "eligible": [{"school": "S1", "max": 2.5}, "S3"],
            },
        ],
        "locks": [{"service": "J1", "school": "S3", "amount": 3, "id": "K1"}],
        "limits": [{"school": "S2", "category": "m", "max": 1, "id": "L1"}],
        "options": {"time_limit_s": 30},
    }


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (the root is ())."""
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _places(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _places(inner, (*path, index))
    return found


@st.composite
def mutated_problems(draw: st.DrawFn) -> Any:
    problem: Any = small_problem()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_places(problem)[1:]))  # the root: the test below
        old = problem
        for step in path:
            old = old[step]
        values = JSONISH if draw(st.integers(0, 3)) == 3 else _like(old)
        parent = problem
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = draw(values)
        else:
            parent.insert(path[-1], draw(values))
    return problem


def _check_run(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    status, out, err = cli_here(capsys, "solve", str(path))
    assert status in (0, 2, 3), err
    if status == 2:
        assert out == ""
        assert len(err.splitlines()) == 1 and err.startswith("allocation: "), err
    else:
        assert err == ""
        result = json.loads(out)
        assert result["status"] in (("infeasible",) if status == 3 else ("optimal", "time_limit"))


@settings(FUZZ, max_examples=80)
@given(problem=mutated_problems())
def test_whatever_the_file_holds_mutated(
    problem: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem))  # ASCII: NaN, Infinity and \ud800 as json writes them
    _check_run(capsys, path)


@FUZZ
@given(problem=JSONISH)
def test_whatever_the_file_holds_arbitrary(
    problem: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem))
    _check_run(capsys, path)


@FUZZ
@given(data=st.data())
def test_whatever_the_file_holds_bytes(
    data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(small_problem()).encode("utf-8")
    start = data.draw(st.integers(min_value=0, max_value=len(text)))
    end = data.draw(st.integers(min_value=start, max_value=min(len(text), start + 8)))
    patch = data.draw(
        st.binary(max_size=6) | st.sampled_from([b"\xed\xa0\x80", b"1" * 400, b"NaN"])
    )
    path = tmp_path / "problem.json"
    path.write_bytes(text[:start] + patch + text[end:])
    _check_run(capsys, path)
