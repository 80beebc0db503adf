from client.reproduce.main import main

raise SystemExit(main())
