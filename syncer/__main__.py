from syncer.cli.app import main

raise SystemExit(main())
