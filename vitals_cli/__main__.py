"""``python -m vitals_cli``: the ``vitals`` console script."""

from vitals_cli.main import main

raise SystemExit(main())
