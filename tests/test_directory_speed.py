"""What keeps a cold directory page cheap: statements built once, start-up warming.

(The latencies themselves are measured by bench/directory.py and bench/directory_cpu.py.)
"""

from __future__ import annotations

from datetime import date

from flask import Flask

from registry.directory import caching, listing
from tests.conftest import make_app


def test_the_listing_statements_are_built_once(app: Flask) -> None:
    assert listing.placements() is listing.placements()
    assert listing.placements("service") is not listing.placements()
    search = listing.Search(text="club", grade="3")
    other = listing.Search(text="reading", grade="5")
    assert search != other
    listing.search_services(search, date(2026, 3, 2), 1)
    listing.search_services(other, date(2026, 3, 2), 1)
    info = listing._search_statements.cache_info()
    assert info.hits >= 1  # the second search, of the same shape, reused the first's statements


def test_the_search_values_are_parameters_not_sql() -> None:
    # A value never becomes SQL text: a LIKE pattern takes % and _ literally.
    assert listing._like_pattern("100%_x/") == "%100/%/_x//%"
    assert listing._like_pattern("ÉCOLE") == "%école%"


def test_start_up_warms_the_directory_templates(test_database, tmp_path) -> None:
    app = make_app(test_database.url, WARM_AT_START=True)
    cache = app.jinja_env.cache
    assert cache is not None
    names = {key[1] for key in cache.keys()}  # noqa: SIM118 (a jinja LRUCache, not a dict)
    assert {f"directory/{t}.html" for t in caching.DIRECTORY_TEMPLATES} <= names
    caching.warm(app)  # twice is harmless


def test_a_testing_app_does_not_warm(test_database) -> None:
    app = make_app(test_database.url)
    cache = app.jinja_env.cache
    assert cache is None or not any(key[1].startswith("directory/") for key in cache.keys())  # noqa: SIM118
