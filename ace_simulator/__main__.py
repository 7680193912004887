"""``python -m ace_simulator``: same as ``vitals simulate``."""

from ace_simulator.cli import main

raise SystemExit(main())
