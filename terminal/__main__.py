"""``python -m terminal``: same as the ``terminal`` console script."""

from terminal.cli import main

raise SystemExit(main())
