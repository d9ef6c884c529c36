"""A finished scenario run's pages, timed with the Flask test client: wall, CPU, size.

Run it as a module (this folder's allocation.py would hide the engine's package), on a
registry with finished runs, like seed-scale's, with its admin's password::

    DATABASE_URL=postgresql+psycopg://... SECRET_KEY=x \\
        python -m bench.run_pages RUN_ID [OTHER_RUN_ID] [--email admin@state.example]
        [--password state-pass] [--save DIR]

For the run page, its page 2, its status.json and its compare page (and compare with
another run) it prints the first request's and the best of three's wall and CPU time
(`time.process_time`: the figure that matters on a busy machine) and the page's size.
`--save DIR` keeps each page (the form token removed) to compare two versions' output.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from registry import create_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id", type=int)
    parser.add_argument("other_id", type=int, nargs="?")
    parser.add_argument("--email", default="admin@state.example")
    parser.add_argument("--password", default="state-pass")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    app = create_app({"WTF_CSRF_ENABLED": False, "MFA_REQUIRED_ROLES": ()})
    client = app.test_client()
    signed_in = client.post("/login", data={"email": args.email, "password": args.password})
    assert signed_in.status_code == 302, "sign-in refused"
    client.get("/")  # the sign-in message, shown
    base = f"/scenarios/runs/{args.run_id}"
    urls = {
        "run": base,
        "run_page2": f"{base}?page=2",
        "status": f"{base}/status.json",
        "compare": f"{base}/compare",
    }
    if args.other_id:
        urls["compare_with"] = f"{base}/compare?with={args.other_id}"
    for name, url in urls.items():
        times = []
        for _ in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append((time.perf_counter() - wall, time.process_time() - cpu))
            assert response.status_code == 200, (url, response.status_code)
        body = re.sub(rb'name="csrf_token" value="[^"]*"', b"", response.get_data())
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"{name}.html").write_bytes(body)
        best = min(times, key=lambda t: t[1])
        print(
            f"{name:13} first: wall {times[0][0]:6.3f} s, CPU {times[0][1]:6.3f} s | "
            f"best of 3: wall {best[0]:6.3f} s, CPU {best[1]:6.3f} s | {len(body) / 1024:7.1f} KB"
        )


if __name__ == "__main__":
    main()
