"""How long the "run a scenario" request takes (issue 13: under 100 ms at any size).

Run it as a module (`python -m bench.run_request`): this folder's allocation.py would
hide the engine from a script run by path.

Against a running app (the README's gunicorn command) over HTTP: signs in, stores a
scenario of all categories for the newest school year (straight in the database named by
DATABASE_URL, once), then POSTs "Run now" `--runs` times, `--pause` seconds apart, and
prints each request's wall time and the median and the largest. The runs are built and
solved by whatever worker serves the app's queue (or by the app's threads without Redis);
the request only records and queues them, so its time should not depend on the district.

    DATABASE_URL=postgresql+psycopg://... SECRET_KEY=... \\
      python -m bench.run_request --base http://127.0.0.1:8000 \\
        --email leader@demo.example --password ... --runs 10
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

import requests
from sqlalchemy import func, select


def _scenario_id() -> int:
    from registry import create_app
    from registry.extensions import db
    from registry.models import MOU
    from registry.models.scenario import Scenario

    app = create_app()
    with app.app_context():
        year = db.session.scalar(select(func.max(MOU.school_year)))
        name = f"Request timing {year}"
        found = db.session.scalar(select(Scenario).where(Scenario.name == name))
        if found is None:
            found = Scenario(name=name, school_year=year, time_limit_s=60)
            db.session.add(found)
            db.session.commit()
        return int(found.id)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    if not match:
        raise SystemExit("no CSRF token on the page: " + html[:300])
    return match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--email", default="leader@demo.example")
    parser.add_argument("--password", required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pause", type=float, default=2.0)
    args = parser.parse_args()

    scenario_id = _scenario_id()
    session = requests.Session()
    form = session.get(f"{args.base}/login", timeout=30)
    signed = session.post(
        f"{args.base}/login",
        data={"email": args.email, "password": args.password, "csrf_token": _csrf(form.text)},
        allow_redirects=False,
        timeout=30,
    )
    if signed.status_code != 302:
        raise SystemExit(f"sign-in failed ({signed.status_code}); MFA_REQUIRED_ROLES= set?")
    times: list[float] = []
    for _ in range(args.runs):
        token = _csrf(session.get(f"{args.base}/scenarios/{scenario_id}", timeout=30).text)
        started = time.perf_counter()
        answer = session.post(
            f"{args.base}/scenarios/{scenario_id}/run",
            data={"csrf_token": token},
            allow_redirects=False,
            timeout=120,
        )
        took = time.perf_counter() - started
        if answer.status_code != 302:
            raise SystemExit(f"run request answered {answer.status_code}")
        times.append(took)
        print(f"{answer.headers['Location']}: {took * 1000:.1f} ms", flush=True)
        time.sleep(args.pause)
    print(
        f"run requests: {len(times)}, median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
