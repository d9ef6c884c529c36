"""Page sizes and CPU per page, per role, on a registry already seeded (e.g. `seed-scale`).

    createdb -h 127.0.0.1 -U postgres NAME_state
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/NAME_state \\
        flask --app registry db upgrade
    DATABASE_URL=... flask --app registry seed-scale --password PW
    python bench/page_sizes.py postgresql+psycopg://postgres@127.0.0.1:5432/NAME_state PW

Signs in as the seed's admin@, coordinator@, leader@ and partner1@state.example, opens the
pages that used to embed menus of every school, partner and service, and prints each page's
bytes and the CPU time of serving it once warm (`time.process_time`, this process only).
The target (issue 13): no page over 300 KB at state scale.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

# The repository first, not bench/ (whose allocation.py would hide the engine's package).
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from registry import create_app  # noqa: E402
from registry.extensions import db  # noqa: E402
from registry.models import MOU, Service  # noqa: E402
from registry.vocabulary import MOUStatus  # noqa: E402

LIMIT_BYTES = 300_000


def main(url: str, password: str) -> int:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_ENABLED": False,
            "SERVER_NAME": "registry.test",
            "MFA_REQUIRED_ROLES": (),
        }
    )
    over = 0
    with app.app_context():
        draft = db.session.scalars(
            select(MOU.id).where(MOU.status == MOUStatus.DRAFT).order_by(MOU.id)
        ).first()
        service = db.session.scalars(select(Service.id).order_by(Service.id)).first()
        pages = {
            "admin": ["/users/new"],
            "coordinator": [
                "/",
                "/mous/",
                "/mous/new",
                f"/mous/{draft}",
                f"/mous/{draft}/edit",
                "/services/",
                "/services/new",
                f"/services/{service}/edit",
                f"/services/{service}/offerings/new",
                "/pick/schools?q=elem",
                "/pick/services?q=tutor&usable=1",
            ],
            "leader": ["/scenarios/new"],
            "partner1": ["/mous/", "/services/", "/pick/schools?q=a"],
        }
        print(f"{'account':12s} {'page':36s} status      bytes   CPU ms")
        for account, urls in pages.items():
            client = app.test_client()
            email = f"{account}@state.example"
            signed = client.post("/login", data={"email": email, "password": password})
            if signed.status_code != 302:
                print(f"{email}: sign-in answered {signed.status_code}", file=sys.stderr)
                return 2
            for path in urls:
                client.get(path)  # warm: templates compiled, caches filled
                started = time.process_time()
                response = client.get(path)
                cpu_ms = 1000 * (time.process_time() - started)
                size = len(response.get_data())
                over += size > LIMIT_BYTES
                status = response.status_code
                print(f"{account:12s} {path:36s} {status:6d} {size:10,d} {cpu_ms:8.0f}")
    print(f"pages over {LIMIT_BYTES:,d} bytes: {over}")
    return 1 if over else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
