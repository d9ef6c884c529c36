"""The web load benchmark's pieces (bench/web.py): its form reading and its workload's tasks.

The load itself is never run here: performance targets live in the benchmark's results.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.web_forms import form_with

pytestmark = pytest.mark.nodb

ROOT = Path(__file__).resolve().parent.parent

PAGE = """
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="t1"></form>
<form method="post">
  <input type="hidden" name="csrf_token" value="t1">
  <input type="hidden" name="version" value="3">
  <input name="name" value="Ashbury &amp; Co">
  <textarea name="description">
Line one
line two</textarea>
  <input type="checkbox" name="languages" value="Spanish" checked>
  <input type="checkbox" name="languages" value="Somali">
  <input type="checkbox" name="district_wide" checked>
  <select name="partner_type"><option value="nonprofit">N</option>
    <option value="business" selected>B</option></select>
  <select name="status"><option value="approved">A</option></select>
  <input type="submit" name="submit" value="Save">
</form>
"""


def test_a_form_reads_as_a_browser_would_submit_it():
    assert form_with(PAGE, "description") == [
        ("csrf_token", "t1"),
        ("version", "3"),
        ("name", "Ashbury & Co"),
        ("description", "Line one\nline two"),
        ("languages", "Spanish"),
        ("district_wide", "on"),
        ("partner_type", "business"),
        ("status", "approved"),
    ]
    with pytest.raises(LookupError):
        form_with(PAGE, "password")


@pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="the bench extra")
def test_every_kind_of_visitor_has_tasks():
    # In a process of its own: importing locust patches the standard library for gevent.
    probe = (
        "import json, bench.web_workload as w;"
        "print(json.dumps({c.__name__: len(w.tasks_of(c))"
        " for c in (w.Staff, w.Family, w.PartnerContact)}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("BENCH_WEB_PLAN", None)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(counts) == {"Staff", "Family", "PartnerContact"}
    assert all(n > 0 for n in counts.values())
