"""Documents (issue 11, part 2): what an upload must be, where it is kept, who sees it."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import refresh
from pypdf import PdfWriter
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.http import parse_options_header
from werkzeug.test import encode_multipart

from registry.documents import services as document_services
from registry.extensions import db
from registry.models import MOU, Partner, User
from registry.models.audit import AuditEntry
from registry.models.document import Document, DocumentStatus, DocumentType

MB = 1024 * 1024


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    return {"DOCUMENTS_DIR": str(tmp_path / "documents")}


@pytest.fixture
def documents_dir(app: Flask) -> Path:
    return Path(app.config["DOCUMENTS_DIR"])


def make_pdf(pages: int = 1, encrypt: bool = False, pad_to: int = 0) -> bytes:
    """A real PDF made by pypdf; `pad_to` grows it with a metadata string to that many bytes."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    if pad_to:
        writer.add_metadata({"/Padding": "x" * pad_to})
    if encrypt:
        writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_png() -> bytes:
    """A real 1×1 PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def post_upload(
    client: FlaskClient,
    partner: Partner,
    content: bytes,
    filename: str = "insurance.pdf",
    **fields: str,
) -> Any:
    data: dict[str, Any] = {
        "doc_type": DocumentType.INSURANCE_CERTIFICATE.value,
        "mou_id": "",
        "effective_date": "2025-07-01",
        "expiry_date": "2026-08-31",
    }
    data.update(fields)
    data["file"] = FileStorage(io.BytesIO(content), filename, content_type="application/pdf")
    return post_multipart(client, f"/partners/{partner.id}/documents/new", data)


def post_multipart(client: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    """A multipart POST encoded in memory (the test client spools a large body to a temporary
    file that it never closes)."""
    boundary, body = encode_multipart(data)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def documents() -> list[Document]:
    return list(db.session.scalars(select(Document).order_by(Document.id)))


def audit_rows(action: str, document: Document) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "document",
                AuditEntry.entity_id == document.id,
                AuditEntry.action == action,
            )
        )
    )


@pytest.fixture
def partner_user(login: Callable[..., User], make_partner: Callable[..., Partner]) -> User:
    return login("partner")


@pytest.fixture
def make_document(app: Flask, make_user: Callable[..., User]) -> Callable[..., Document]:
    """A document uploaded through the service (its file stored), committed."""

    def make(partner: Partner, **overrides: Any) -> Document:
        values: dict[str, Any] = {
            "doc_type": DocumentType.INSURANCE_CERTIFICATE,
            "dates": document_services.DocumentDates(date(2025, 7, 1), date(2026, 8, 31)),
            "filename": "insurance.pdf",
            "content": make_pdf(),
            "by": make_user("coordinator"),
        }
        status = overrides.pop("status", None)
        values.update(overrides)
        with app.test_request_context(method="POST"):
            document = document_services.upload(partner, **values)
            if status == DocumentStatus.VERIFIED:
                document_services.verify(document, document.version, values["by"])
            db.session.commit()
        refresh()  # the locale cached on the app context now is this request's, not a page's
        return document

    return make


# ---- uploads: the checks on each file ----------------------------------------------------


def test_a_real_pdf_is_kept_outside_the_web_root_under_its_sha256(
    app: Flask, client: FlaskClient, partner_user: User, documents_dir: Path
) -> None:
    content = make_pdf()
    response = post_upload(client, partner_user.partner, content)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/partners/{partner_user.partner_id}#documents")
    (document,) = documents()
    assert document.status == DocumentStatus.PENDING
    assert document.filename == "insurance.pdf"
    assert document.size == len(content)
    assert document.uploaded_by_id == partner_user.id
    assert (document.effective_date, document.expiry_date) == (date(2025, 7, 1), date(2026, 8, 31))
    stored = documents_dir / f"{document_services.storage.sha256_of(content)}.pdf"
    assert document.sha256 == stored.stem
    assert stored.read_bytes() == content
    static = Path(app.static_folder or "").resolve()
    assert not stored.resolve().is_relative_to(static)
    assert [p.name for p in documents_dir.iterdir()] == [stored.name]  # no temporary left


def test_by_default_documents_live_in_the_instance_folder(app: Flask) -> None:
    from registry.config import Settings, build_config

    config = build_config("/srv/instance", Settings(None, None, None), {"TESTING": True})
    assert config["DOCUMENTS_DIR"] == "/srv/instance/documents"
    assert config["DOCUMENT_MAX_BYTES"] == 10 * MB


def test_the_same_file_twice_is_stored_once(
    client: FlaskClient, partner_user: User, documents_dir: Path
) -> None:
    content = make_pdf(pages=2)
    assert post_upload(client, partner_user.partner, content).status_code == 302
    assert post_upload(client, partner_user.partner, content, "copy.pdf").status_code == 302
    first, second = documents()
    assert first.sha256 == second.sha256
    assert len(list(documents_dir.iterdir())) == 1


REFUSED = [
    ("png", lambda: make_png(), "photo.pdf", "The file is not a PDF."),
    ("encrypted", lambda: make_pdf(encrypt=True), "locked.pdf", "protected with a password"),
    ("truncated", lambda: make_pdf()[:200], "cut.pdf", "damaged or incomplete"),
    ("no pages", lambda: make_pdf(pages=0), "empty.pdf", "damaged or incomplete"),
    ("11 MB", lambda: make_pdf(pad_to=11 * MB), "huge.pdf", "larger than 10 MB"),
    ("empty", lambda: b"", "nothing.pdf", "The file is empty."),
]


@pytest.mark.parametrize(
    "make_content, filename, message", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_a_file_that_is_not_a_readable_pdf_is_refused_on_the_form(
    client: FlaskClient,
    partner_user: User,
    documents_dir: Path,
    make_content: Callable[[], bytes],
    filename: str,
    message: str,
) -> None:
    response = post_upload(client, partner_user.partner, make_content(), filename)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'class="error-summary"' in page and 'href="#file"' in page
    assert documents() == []
    assert not documents_dir.exists() or list(documents_dir.iterdir()) == []


def test_an_eleven_megabyte_pdf_is_otherwise_valid(app: Flask) -> None:
    content = make_pdf(pad_to=11 * MB)
    assert len(content) > 11 * MB
    document_services.check_pdf(content, limit=len(content))  # refused for its size alone


def test_a_body_far_over_the_limit_is_a_413_that_names_the_document_limit(
    client: FlaskClient, partner_user: User
) -> None:
    response = post_upload(client, partner_user.partner, b"%PDF-" + b"0" * (13 * MB))
    assert response.status_code == 413
    assert "A document may be up to 10 MB" in response.get_data(as_text=True)
    assert documents() == []


def test_other_uploads_keep_their_own_5_mb_limit(
    app: Flask, client: FlaskClient, login: Callable[..., User]
) -> None:
    login("coordinator")
    assert app.config["MAX_CONTENT_LENGTH"] == 5 * MB
    response = post_multipart(
        client, "/schools/import", {"file": FileStorage(io.BytesIO(b"a" * (6 * MB)), "s.csv")}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"expiry_date": ""}, "Enter the date this document expires"),
        ({"effective_date": "2026-09-01"}, "on or after the date the document takes effect"),
        ({"doc_type": "signed_mou"}, "A signed MOU belongs to an MOU"),
    ],
)
def test_dates_and_kind_are_checked(
    client: FlaskClient, partner_user: User, fields: dict[str, str], message: str
) -> None:
    response = post_upload(client, partner_user.partner, make_pdf(), **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert documents() == []


def test_a_document_goes_to_one_of_the_partners_mous_never_anothers(
    client: FlaskClient,
    partner_user: User,
    make_mou: Callable[..., MOU],
) -> None:
    own = make_mou(partner=partner_user.partner)
    other = make_mou()
    refused = post_upload(
        client, partner_user.partner, make_pdf(), mou_id=str(other.id), doc_type="signed_mou"
    )
    assert refused.status_code == 400
    assert documents() == []
    response = post_upload(
        client, partner_user.partner, make_pdf(), mou_id=str(own.id), doc_type="signed_mou"
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/mous/{own.id}#documents")
    (document,) = documents()
    assert document.mou_id == own.id and document.partner_id == partner_user.partner_id


def test_an_upload_is_audited(client: FlaskClient, partner_user: User) -> None:
    post_upload(client, partner_user.partner, make_pdf())
    (document,) = documents()
    (row,) = audit_rows("create", document)
    assert row.user_id == partner_user.id
    assert row.after is not None and row.after["sha256"] == document.sha256


# ---- downloads ----------------------------------------------------------------------------


def test_a_download_is_an_attachment_named_per_rfc_5987_and_audited(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_document: Callable[..., Document],
) -> None:
    name = "Certificado de seguro – São Paulo “2026”.pdf"
    content = make_pdf(pages=3)
    document = make_document(make_partner(), filename=name, content=content)
    leader = login("leader")
    with client.post(f"/documents/{document.id}/download") as response:
        assert response.get_data() == content
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response.headers["Cache-Control"]
    header = response.headers["Content-Disposition"]
    fallback = 'filename="Certificado de seguro Sao Paulo 2026.pdf"'
    assert header == (
        f"attachment; {fallback}; filename*=UTF-8''"
        + quote(name.encode("utf-8"), safe="!#$&+-.^_`|~")
    )
    header.encode("ascii")  # a header value is ASCII
    kind, options = parse_options_header(header)
    assert kind == "attachment" and options["filename"] == name
    (row,) = audit_rows("download", document)
    assert row.user_id == leader.id and row.user_email == leader.email


def test_a_download_is_never_a_get(
    client: FlaskClient, partner_user: User, make_document: Callable[..., Document]
) -> None:
    document = make_document(partner_user.partner)
    assert client.get(f"/documents/{document.id}/download").status_code == 405
    assert audit_rows("download", document) == []


def test_a_name_without_pdf_is_sent_back_ending_in_pdf(app: Flask) -> None:
    assert document_services.content_disposition("scan") == (
        "attachment; filename=\"scan\"; filename*=UTF-8''scan"
    ).replace('"scan"', '"scan.pdf"')
    assert document_services.ascii_filename("Zoë's.pdf") == "Zoe_s.pdf"
    assert document_services.clean_filename("C:\\Users\\me\\cert.pdf") == "cert.pdf"
    assert document_services.clean_filename("../../etc/\x00x.pdf") == "x.pdf"


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/documents/{id}"),
        ("post", "/documents/{id}/download"),
        ("get", "/documents/{id}/edit"),
        ("post", "/documents/{id}/edit"),
        ("get", "/partners/{partner}/documents/new"),
    ],
)
def test_another_partners_documents_are_404_to_a_partner(
    client: FlaskClient,
    partner_user: User,
    make_partner: Callable[..., Partner],
    make_document: Callable[..., Document],
    method: str,
    path: str,
) -> None:
    other = make_partner()
    document = make_document(other)
    with getattr(client, method)(path.format(id=document.id, partner=other.id)) as response:
        assert response.status_code == 404
    assert audit_rows("download", document) == []


@pytest.mark.parametrize(
    "role, view, download, upload",
    [
        ("admin", 200, 200, 200),
        ("coordinator", 200, 200, 200),
        ("leader", 200, 200, 404),
        ("partner", 200, 200, 200),  # its own
    ],
)
def test_who_sees_downloads_and_uploads(
    client: FlaskClient,
    login: Callable[..., User],
    make_document: Callable[..., Document],
    make_partner: Callable[..., Partner],
    role: str,
    view: int,
    download: int,
    upload: int,
) -> None:
    partner = make_partner()
    document = make_document(partner)
    login(role, partner=partner) if role == "partner" else login(role)
    assert client.get(f"/documents/{document.id}").status_code == view
    with client.post(f"/documents/{document.id}/download") as response:
        assert response.status_code == download
    assert client.get(f"/partners/{partner.id}/documents/new").status_code == upload


# ---- verification -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["partner", "leader"])
def test_only_coordinators_verify_or_reject(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_document: Callable[..., Document],
    role: str,
) -> None:
    partner = make_partner()
    document = make_document(partner)
    login(role, partner=partner) if role == "partner" else login(role)
    verify = client.post(f"/documents/{document.id}/verify", data={"version": document.version})
    reject = client.post(
        f"/documents/{document.id}/reject", data={"version": document.version, "reason": "No"}
    )
    assert (verify.status_code, reject.status_code) == (404, 404)
    db.session.refresh(document)
    assert document.status == DocumentStatus.PENDING


def test_a_coordinator_verifies_and_the_partner_page_says_by_whom(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_document: Callable[..., Document],
) -> None:
    partner = make_partner()
    document = make_document(partner)
    coordinator = login("coordinator", name="Dana Reviewer")
    response = client.post(
        f"/documents/{document.id}/verify", data={"version": document.version, "back": "owner"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/partners/{partner.id}#documents")
    db.session.refresh(document)
    assert document.status == DocumentStatus.VERIFIED
    assert document.reviewed_by_id == coordinator.id and document.reviewed_at is not None
    (row,) = audit_rows("status", document)
    assert row.before is not None and row.before["status"] == "pending"
    assert row.after is not None and row.after["status"] == "verified"
    page = client.get(f"/partners/{partner.id}").get_data(as_text=True)
    assert "Dana Reviewer" in page and "Verified" in page


def test_a_stale_verify_is_refused(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_document: Callable[..., Document],
) -> None:
    document = make_document(make_partner())
    login("coordinator")
    response = client.post(
        f"/documents/{document.id}/verify", data={"version": document.version - 1}
    )
    assert response.status_code == 409
    db.session.refresh(document)
    assert document.status == DocumentStatus.PENDING


def test_a_rejection_needs_a_reason_and_the_partner_reads_it(
    client: FlaskClient,
    login: Callable[..., User],
    make_user: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_document: Callable[..., Document],
) -> None:
    partner = make_partner()
    document = make_document(partner)
    login("coordinator")
    blank = client.post(
        f"/documents/{document.id}/reject", data={"version": document.version, "reason": "  "}
    )
    assert blank.status_code == 400
    assert "Say why the document is rejected." in blank.get_data(as_text=True)
    response = client.post(
        f"/documents/{document.id}/reject",
        data={"version": document.version, "reason": "The certificate names another insurer."},
    )
    assert response.status_code == 302
    db.session.refresh(document)
    assert document.status == DocumentStatus.REJECTED
    assert audit_rows("status", document)[0].after["status"] == "rejected"  # type: ignore[index]
    client.post("/logout")
    login(user=make_user("partner", partner=partner))
    for path in (f"/documents/{document.id}", f"/partners/{partner.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "Rejected" in page and "The certificate names another insurer." in page


def test_a_partner_changing_a_date_makes_a_verified_document_pending_again(
    client: FlaskClient,
    partner_user: User,
    make_document: Callable[..., Document],
) -> None:
    document = make_document(partner_user.partner, status=DocumentStatus.VERIFIED)
    assert document.status == DocumentStatus.VERIFIED
    same = client.post(
        f"/documents/{document.id}/edit",
        data={
            "version": document.version,
            "effective_date": "2025-07-01",
            "expiry_date": "2026-08-31",
        },
    )
    assert same.status_code == 302
    db.session.refresh(document)
    assert document.status == DocumentStatus.VERIFIED
    response = client.post(
        f"/documents/{document.id}/edit",
        data={
            "version": document.version,
            "effective_date": "2025-07-01",
            "expiry_date": "2027-08-31",
        },
    )
    assert response.status_code == 302
    db.session.refresh(document)
    assert document.expiry_date == date(2027, 8, 31)
    assert document.status == DocumentStatus.PENDING
    assert document.reviewed_by_id is None and document.reviewed_at is None
    rows = audit_rows("status", document)
    assert rows[-1].user_id == partner_user.id
    assert rows[-1].after is not None and rows[-1].after["status"] == "pending"


def test_a_partner_cannot_verify_through_a_date_edit(
    client: FlaskClient, partner_user: User, make_document: Callable[..., Document]
) -> None:
    document = make_document(partner_user.partner)
    client.post(
        f"/documents/{document.id}/edit",
        data={
            "version": document.version,
            "effective_date": "",
            "expiry_date": "2026-08-31",
            "status": "verified",
        },
    )
    db.session.refresh(document)
    assert document.status == DocumentStatus.PENDING and document.effective_date is None


# ---- the gate query -----------------------------------------------------------------------


def test_only_a_verified_document_covering_the_term_satisfies_a_gate(
    app: Flask,
    make_partner: Callable[..., Partner],
    make_mou: Callable[..., MOU],
    make_document: Callable[..., Document],
) -> None:
    partner = make_partner()
    mou = make_mou(partner=partner)
    other_mou = make_mou(partner=partner, school_year="2026-27")
    first, last = date(2025, 9, 1), date(2026, 6, 30)
    insurance = DocumentType.INSURANCE_CERTIFICATE

    def found(mou_: MOU | None = None) -> Document | None:
        return document_services.verified_document(partner, insurance, first, last, mou=mou_)

    make_document(partner)  # pending: never counts
    assert found() is None and found(mou) is None
    short = document_services.DocumentDates(date(2025, 7, 1), date(2026, 5, 31))
    make_document(partner, dates=short, content=make_pdf(2), status=DocumentStatus.VERIFIED)
    assert found() is None  # expires before the term ends
    elsewhere = make_document(
        partner, mou=other_mou, content=make_pdf(3), status=DocumentStatus.VERIFIED
    )
    assert found(mou) is None and found(other_mou) == elsewhere and found() is None
    own = make_document(partner, mou=mou, content=make_pdf(4), status=DocumentStatus.VERIFIED)
    assert found(mou) == own
    wide = make_document(
        partner,
        dates=document_services.DocumentDates(None, date(2027, 6, 30)),
        content=make_pdf(5),
        status=DocumentStatus.VERIFIED,
    )
    assert found() == wide and found(mou) == wide  # the one that runs longest
    assert wide.covers(first, last) and own.covers(first, last)
    assert (
        document_services.verified_document(
            partner, DocumentType.DATA_PRIVACY_AGREEMENT, first, last, mou=mou
        )
        is None
    )


# ---- the panels ---------------------------------------------------------------------------


def test_the_mou_page_lists_its_documents_with_dates_in_the_readers_language(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_mou: Callable[..., MOU],
    make_document: Callable[..., Document],
) -> None:
    from babel.dates import format_date

    partner = make_partner()
    mou = make_mou(partner=partner)
    make_document(
        partner,
        mou=mou,
        doc_type=DocumentType.SIGNED_MOU,
        filename="signed-2025.pdf",
        dates=document_services.DocumentDates(date(2025, 9, 1), date(2026, 6, 30)),
    )
    make_document(partner, filename="partner-wide.pdf", content=make_pdf(2))
    login("coordinator")
    refresh()  # the sign-in request's locale is cached on the test's shared `g`
    page = client.get(f"/mous/{mou.id}?lang=es").get_data(as_text=True)
    assert "signed-2025.pdf" in page and "partner-wide.pdf" not in page
    assert '<html lang="es">' in page
    assert format_date(date(2026, 6, 30), "medium", locale="es") in page
    assert f"/partners/{partner.id}/documents/new?mou={mou.id}" in page
    refresh()
    partner_page = client.get(f"/partners/{partner.id}?lang=en").get_data(as_text=True)
    assert "signed-2025.pdf" in partner_page and "partner-wide.pdf" in partner_page
    assert 'class="table-scroll" tabindex="0" role="region"' in partner_page


def test_a_leader_sees_documents_but_no_upload_or_verify(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_document: Callable[..., Document],
) -> None:
    partner = make_partner()
    document = make_document(partner)
    login("leader")
    page = client.get(f"/partners/{partner.id}").get_data(as_text=True)
    assert document.filename in page
    assert f"/documents/{document.id}/download" in page
    assert "/documents/new" not in page and f"/documents/{document.id}/verify" not in page


# ---- storage, and the download's form -----------------------------------------------------


def test_a_failed_write_leaves_neither_a_file_nor_a_temporary(
    app: Flask, documents_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry.documents import storage

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        storage.store(make_pdf())
    assert list(documents_dir.iterdir()) == []


def test_a_stored_file_is_never_rewritten(app: Flask, documents_dir: Path) -> None:
    from registry.documents import storage

    content = make_pdf()
    sha256 = storage.store(content)
    stored = storage.path_for(sha256)
    before = stored.stat().st_mtime_ns
    assert storage.store(content) == sha256
    assert stored.stat().st_mtime_ns == before
    assert storage.read(sha256) == content
    with pytest.raises(ValueError):
        storage.path_for("../../etc/passwd")


def test_an_upload_with_nobody_signed_in_has_no_uploader(
    app: Flask, make_partner: Callable[..., Partner]
) -> None:
    with app.test_request_context(method="POST"):
        document = document_services.upload(
            make_partner(),
            doc_type=DocumentType.OTHER,
            dates=document_services.DocumentDates(None, None),
            filename=None,
            content=make_pdf(),
            by=None,
        )
        assert document.uploaded_by_id is None and document.filename == "document.pdf"


def test_the_upload_form_starts_on_the_mou_it_was_opened_from(
    client: FlaskClient, partner_user: User, make_mou: Callable[..., MOU]
) -> None:
    mou = make_mou(partner=partner_user.partner)
    page = client.get(f"/partners/{partner_user.partner_id}/documents/new?mou={mou.id}").get_data(
        as_text=True
    )
    assert f'<option selected value="{mou.id}">' in page
    assert 'enctype="multipart/form-data"' in page


def test_a_download_without_the_forms_token_is_refused_and_not_audited(
    app: Flask,
    client: FlaskClient,
    partner_user: User,
    make_document: Callable[..., Document],
) -> None:
    document = make_document(partner_user.partner)
    app.config["WTF_CSRF_ENABLED"] = True  # after signing in: the sign-in form sent none
    with client.post(f"/documents/{document.id}/download") as response:
        assert response.status_code == 400
    assert audit_rows("download", document) == []


def test_district_staff_read_a_documents_history_in_words_a_partner_does_not(
    client: FlaskClient,
    login: Callable[..., User],
    make_user: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_document: Callable[..., Document],
) -> None:
    partner = make_partner()
    document = make_document(partner)
    coordinator = login("coordinator")
    client.post(f"/documents/{document.id}/download").close()
    client.post(
        f"/documents/{document.id}/reject",
        data={"version": document.version, "reason": "Wrong year."},
    )
    page = client.get(f"/documents/{document.id}").get_data(as_text=True)
    for words in ("Uploaded", "Downloaded", "Rejected: Wrong year.", coordinator.email):
        assert words in page
    client.post("/logout")
    login(user=make_user("partner", partner=partner))
    page = client.get(f"/documents/{document.id}").get_data(as_text=True)
    assert "Wrong year." in page and coordinator.email not in page


def test_an_upload_without_a_file_says_so(client: FlaskClient, partner_user: User) -> None:
    response = client.post(
        f"/partners/{partner_user.partner_id}/documents/new",
        data={"doc_type": "other", "mou_id": ""},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Choose the PDF file to upload." in response.get_data(as_text=True)
