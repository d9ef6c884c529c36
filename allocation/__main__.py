"""``python -m allocation``: see `allocation.cli`."""

from allocation.cli import main

raise SystemExit(main())
