"""The read-only JSON API, /api/v1: personal tokens, cursor pages, ETags, OpenAPI."""
