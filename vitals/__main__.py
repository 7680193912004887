from vitals.cli import main

raise SystemExit(main())
