from sitcen.cli import main

raise SystemExit(main())
