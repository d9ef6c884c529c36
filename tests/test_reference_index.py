"""Comparing with a reference index: reading the file, matching, agreement (worked by hand),
fitted weights, saving them as a definition, and who may do what."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import Workbook
from sqlalchemy import func, select

from registry.audit import SYSTEM, set_actor
from registry.equity import reference
from registry.equity.need_index import NeedSpec, need_scores, normalised_indicators
from registry.extensions import db
from registry.models import AuditEntry, NeedIndexDefinition
from registry.refusals import Refused

ECON, EL = "pct_econ_disadvantaged", "pct_english_learners"
SWD, HN, ABSENT = "pct_disabilities", "pct_high_needs", "pct_chronically_absent"
ALL_FIVE = (ECON, EL, SWD, HN, ABSENT)


@pytest.fixture(autouse=True)
def no_actor_left_from_an_earlier_test() -> None:
    set_actor(SYSTEM)


# ---- agreement, worked by hand -------------------------------------------------------------


def test_spearman_deciles_and_disagreements_worked_by_hand() -> None:
    # Ours ranks schools 1..5 in order. The reference scores 0.8, 0.9, 0.2, 0.4, 0.1:
    # reference ranks 2, 1, 4, 3, 5.
    # Rank differences d = −1, 1, −1, 1, 0 → Σd² = 4 → ρ = 1 − 6·4/(5·24) = 0.8.
    # n = 5 → a decile is ⌈5/10⌉ = 1 school: top ours 1, reference 2 → overlap 0;
    # bottom ours 5, reference 5 → overlap 1 (100 %).
    pairs = [
        reference.Pair(1, 0.9, 0.8),
        reference.Pair(2, 0.7, 0.9),
        reference.Pair(3, 0.5, 0.2),
        reference.Pair(4, 0.3, 0.4),
        reference.Pair(5, 0.1, 0.1),
    ]
    found = reference.agreement(pairs)
    assert found.n == 5
    assert found.spearman == pytest.approx(0.8)
    assert (found.top.count, found.top.size, found.top.share) == (0, 1, 0)
    assert (found.bottom.count, found.bottom.size, found.bottom.share) == (1, 1, 1)
    # School 5 agrees exactly and is not listed; the others differ by one place each.
    assert [(d.school_id, d.difference) for d in found.disagreements] == [
        (1, -1),
        (2, 1),
        (3, -1),
        (4, 1),
    ]
    assert (found.disagreements[1].rank_ours, found.disagreements[1].rank_reference) == (2, 1)


def test_deciles_of_twenty_hold_two_schools_and_ties_share_a_rank() -> None:
    assert [reference.decile_size(n) for n in (1, 5, 10, 11, 20, 105)] == [1, 1, 1, 2, 2, 11]
    # ours: 20 schools, 1 the neediest; the reference swaps the top two and the bottom two
    ours = {sid: 1 - sid / 20 for sid in range(1, 21)}
    theirs = dict(ours)
    theirs[2], theirs[3] = ours[3], ours[2]  # 3 joins the top two
    found = reference.agreement([reference.Pair(s, ours[s], theirs[s]) for s in sorted(ours)])
    assert found.top.count == 1 and found.top.size == 2 and found.top.share == 0.5
    assert found.bottom.count == 2
    assert reference.ranks_by_value({1: 0.5, 2: 0.9, 3: 0.5, 4: 0.1}) == {1: 2, 2: 1, 3: 2, 4: 4}


def test_disagreements_show_the_ten_largest() -> None:
    n = 30
    pairs = [reference.Pair(s, s / n, (n - s) / n) for s in range(1, n + 1)]  # reversed
    found = reference.agreement(pairs)
    assert found.spearman == pytest.approx(-1)
    assert len(found.disagreements) == 10
    assert abs(found.disagreements[0].difference) == n - 1


# ---- fitted weights ----------------------------------------------------------------------


def synthetic(n: int = 60, seed: int = 3) -> dict[int, dict[str, float]]:
    rng = random.Random(seed)
    return {sid: {name: rng.uniform(0, 100) for name in ALL_FIVE} for sid in range(1, n + 1)}


def test_fitted_weights_recover_known_weights() -> None:
    raw = synthetic()
    normalised = normalised_indicators(raw, ALL_FIVE)
    truth = {ECON: 0.5, EL: 0.3, SWD: 0.2}
    scores = {
        sid: 0.01 + 0.98 * sum(w * normalised[sid][name] for name, w in truth.items())
        for sid in raw
    }
    fit = reference.fit_weights(normalised, scores, list(ALL_FIVE))
    assert fit is not None and fit.n == 60
    assert set(fit.weights) == set(truth)
    for name, weight in truth.items():
        assert fit.weights[name] == pytest.approx(weight, abs=1e-6)
    # Scored with the fitted weights, the schools come out in the reference's order.
    needs = need_scores(raw, NeedSpec(fit.weights))
    assert reference.agreement(
        [reference.Pair(s, needs[s].value or 0, scores[s]) for s in raw]
    ).spearman == pytest.approx(1, abs=1e-3)  # float noise may swap two near-equal schools


def test_fit_with_noise_stays_close_and_never_negative() -> None:
    raw = synthetic(200, seed=9)
    normalised = normalised_indicators(raw, ALL_FIVE)
    rng = random.Random(1)
    scores = {
        sid: 0.7 * normalised[sid][HN] + 0.3 * normalised[sid][ABSENT] + rng.gauss(0, 0.02)
        for sid in raw
    }
    fit = reference.fit_weights(normalised, scores, list(ALL_FIVE))
    assert fit is not None
    assert all(w > 0 for w in fit.weights.values())
    assert fit.weights[HN] == pytest.approx(0.7, abs=0.05)
    assert fit.weights[ABSENT] == pytest.approx(0.3, abs=0.05)


def test_no_fit_against_every_indicator_or_on_too_few_schools() -> None:
    raw = synthetic(30)
    normalised = normalised_indicators(raw, [ECON])
    against = {sid: -normalised[sid][ECON] for sid in raw}
    assert reference.fit_weights(normalised, against, [ECON]) is None
    few = {sid: normalised[sid][ECON] for sid in list(raw)[:2]}
    assert reference.fit_weights(normalised, few, [ECON]) is None


def test_only_indicators_most_matched_schools_report_are_fitted() -> None:
    normalised = {1: {ECON: 0.1, EL: 0.3}, 2: {ECON: 0.5}, 3: {ECON: 0.9}, 4: {ECON: 0.2}}
    scores = {1: 0.1, 2: 0.5, 3: 0.9, 4: 0.3}
    assert reference.fit_indicators(normalised, scores, [ECON, EL]) == [ECON]


# ---- reading files -------------------------------------------------------------------------


def test_reads_a_csv_with_known_headers() -> None:
    raw = (
        b"School Name,School Code,Opportunity Index\n"
        b"Alder,350020,0.61\n"
        b"Birch,00350030,0.2\n"
        b"Cedar,350040,n/a\n"
        b",,\n"
        b"Alder again,350020,0.4\n"
    )
    parsed = reference.read_reference(raw)
    assert [(r.line, r.code, r.score) for r in parsed.rows] == [
        (2, "350020", 0.61),
        (3, "00350030", 0.2),
    ]
    assert [(s.line, s.reason) for s in parsed.skipped] == [
        (4, "the score is not a number"),
        (6, "a second row for this code"),
    ]
    assert reference.dese_key("350020") == "00350020" and reference.dese_key("K-8") is None


def test_reads_windows_excel_csv_semicolons_and_decimal_commas() -> None:
    raw = "Escuela;DESE Code;Score\nJosé Martí;350020;0,75\n".encode("cp1252")
    parsed = reference.read_reference(raw)
    assert [(r.code, r.score) for r in parsed.rows] == [("350020", 0.75)]


def test_reads_two_columns_without_a_header() -> None:
    parsed = reference.read_reference(b"350020,0.5\n350030,0.7\n")
    assert [(r.line, r.code, r.score) for r in parsed.rows] == [
        (1, "350020", 0.5),
        (2, "350030", 0.7),
    ]


def test_reads_the_first_sheet_of_an_xlsx() -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["DESE ID", "School", "OI Score"])
    sheet.append([350020, "Alder", 0.61])  # the code came as a number: its zeros are lost
    sheet.append(["00350030", "Birch", 0.2])
    buffer = io.BytesIO()
    book.save(buffer)
    parsed = reference.read_reference(buffer.getvalue())
    assert [(r.code, r.score) for r in parsed.rows] == [("350020", 0.61), ("00350030", 0.2)]


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"", "empty"),
        (b"a,b,c\n1,2,3\n", "No school code and score columns"),
        (b"x" * (reference.MAX_BYTES + 1), "larger than 2 MB"),
        (b"PK\x03\x04 not really a workbook", "could not be read as an XLSX"),
    ],
)
def test_unreadable_files_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(Refused, match=message):
        reference.read_reference(raw)


# ---- the page ------------------------------------------------------------------------------


def indicators(econ: float, el: float) -> dict[str, Any]:
    return {ECON: Decimal(str(econ)), EL: Decimal(str(el))}


@pytest.fixture
def six_schools(make_school: Callable[..., Any], definition_econ_el: Any) -> list[Any]:
    """Six schools coded 00350010 … 00350060; the last also has local code RC-6."""
    values = [(10, 5), (30, 15), (50, 25), (70, 35), (80, 45), (90, 55)]
    schools = []
    for i, (econ, el) in enumerate(values, 1):
        extra = {"local_code": "RC-6"} if i == 6 else {}
        schools.append(
            make_school(
                indicators=indicators(econ, el),
                dese_code=f"003500{i}0",
                name=f"Ref School {i}",
                **extra,
            )
        )
    return schools


@pytest.fixture
def definition_econ_el(app: Any) -> NeedIndexDefinition:
    from registry.equity.need_index import default_definition

    found = default_definition()
    db.session.commit()
    return found


def upload(
    client: FlaskClient,
    content: bytes,
    name: str = "oi.csv",
    query: str = "",
    **fields: Any,
) -> Any:
    from registry.equity.need_index import find_default_definition

    default = find_default_definition()
    data = {
        "file": (io.BytesIO(content), name),
        "label": "Boston Opportunity Index",
        "year": "2025-26",
        "definition": str(default.id if default else ""),
        **fields,
    }
    return client.post(
        f"/equity/need/reference{query}",
        data=data,
        content_type="multipart/form-data",
    )


# Scores follow ours except schools 2 and 3, swapped; row 5 matches by local code,
# 00350990 matches nothing, "ten" is not a number.
REFERENCE_CSV = (
    b"School Code,Opportunity Index\n"
    b"350010,0.05\n"
    b"350020,0.45\n"
    b"350030,0.30\n"
    b"350040,0.60\n"
    b"350050,0.80\n"
    b"RC-6,0.95\n"
    b"350990,0.50\n"
    b"350040,ten\n"
)


@pytest.mark.parametrize(
    "role, status", [("admin", 200), ("leader", 200), ("coordinator", 200), ("partner", 404)]
)
def test_who_may_compare(
    client: FlaskClient,
    login: Callable[..., Any],
    six_schools: list[Any],
    role: str,
    status: int,
) -> None:
    login(role)
    assert client.get("/equity/need/reference").status_code == status
    assert upload(client, REFERENCE_CSV).status_code == status


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/equity/need/reference")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def _page(response: Any) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return " ".join(unescape(response.get_data(as_text=True)).split())


def test_the_comparison_page_matches_rows_and_shows_agreement(
    client: FlaskClient, login: Callable[..., Any], six_schools: list[Any]
) -> None:
    login("leader")
    before = db.session.scalar(select(func.count(AuditEntry.id)))
    page = _page(upload(client, REFERENCE_CSV))
    assert "Rows read: 8. Matched a school: 6. Matched none: 1. Could not be used: 1." in page
    # One swap among six: Σd² = 2 → ρ = 1 − 12/210 = 0.943
    assert "0.943" in page and "n = 6 schools scored by both" in page
    assert "1 of 1 schools" in page  # top and bottom deciles (one school each) agree
    assert "Ref School 2" in page and "Ref School 3" in page
    assert "350990" in page and "no school has this DESE or local code" in page
    assert "the score is not a number" in page
    assert page.count('class="table-scroll"') >= 4
    assert "Save as a new definition" in page
    # The upload is read, never kept, and nothing is written.
    db.session.rollback()
    assert db.session.scalar(select(func.count(AuditEntry.id))) == before
    assert db.session.scalar(select(func.count(NeedIndexDefinition.id))) == 1


def test_a_coordinator_compares_but_cannot_save(
    client: FlaskClient, login: Callable[..., Any], six_schools: list[Any]
) -> None:
    login("coordinator")
    page = _page(upload(client, REFERENCE_CSV))
    assert "0.943" in page and "Save as a new definition" not in page


def test_numbers_are_in_the_readers_language(
    client: FlaskClient, login: Callable[..., Any], six_schools: list[Any]
) -> None:
    from flask_babel import refresh

    login("leader")
    refresh()  # the sign-in request's locale is cached on the test's shared `g`
    page = _page(upload(client, REFERENCE_CSV, query="?lang=es"))
    assert "0,943" in page


def test_higher_is_less_reverses_the_reference(
    client: FlaskClient, login: Callable[..., Any], six_schools: list[Any]
) -> None:
    login("leader")
    page = _page(upload(client, REFERENCE_CSV, higher_is_less="y"))
    assert "−0.943" in page or "-0.943" in page


def test_fitted_weights_are_saved_as_a_new_definition(
    client: FlaskClient, login: Callable[..., Any], make_school: Callable[..., Any], app: Any
) -> None:
    # Twelve schools; the reference follows econ alone.
    from registry.equity.need_index import default_definition

    default_definition()
    db.session.commit()
    rng = random.Random(4)
    rows = ["School Code,Score"]
    econs = [10 + 7 * k for k in range(12)]  # evenly spaced: the rank is linear in the value
    rng.shuffle(econs)
    for i, econ in enumerate(econs, 1):
        make_school(
            indicators={ECON: Decimal(econ), EL: Decimal(rng.randint(1, 60))},
            dese_code=f"0036{i:04d}",
        )
        rows.append(f"36{i:04d},{econ / 100}")
    leader = login("leader")
    page = upload(client, "\n".join(rows).encode()).get_data(as_text=True)
    form = re.search(
        r'<form method="post" action="/equity/need/definitions/new".*?</form>', page, re.S
    )
    assert form is not None
    fields = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', form.group(0)))
    assert fields["missing_policy"] == "renormalise" and fields[f"weight_{ECON}"] == "100.00"
    assert fields[f"weight_{EL}"] == "0.00"
    fields = {k: unescape(v) for k, v in fields.items()}
    fields["name"] = "Like Boston's"
    response = client.post("/equity/need/definitions/new", data=fields)
    assert response.status_code == 302
    saved = db.session.scalars(
        select(NeedIndexDefinition).where(NeedIndexDefinition.name == "Like Boston's")
    ).one()
    assert saved.weights == {ECON: 100.0} and saved.missing_policy.value == "renormalise"
    assert saved.created_by_id == leader.id and not saved.is_default
    assert "non-negative least squares" in saved.description
    audit = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity == "need_index_definition", AuditEntry.entity_id == saved.id
        )
    ).all()
    assert audit and audit[0].user_id == leader.id


def test_bad_uploads_are_refused_in_place(
    client: FlaskClient, login: Callable[..., Any], six_schools: list[Any]
) -> None:
    login("leader")
    response = upload(client, b"a,b,c\n1,2,3\n")
    assert response.status_code == 400
    assert "No school code and score columns" in response.get_data(as_text=True)
    response = upload(client, REFERENCE_CSV, name="oi.txt")
    assert response.status_code == 400
    assert "Only .csv and .xlsx" in response.get_data(as_text=True)
    response = client.post("/equity/need/reference", data={"year": "2025-26"})
    assert response.status_code == 400 and "Choose a CSV or XLSX file" in response.get_data(
        as_text=True
    )
