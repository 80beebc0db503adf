from reproduce.main import main

raise SystemExit(main())
