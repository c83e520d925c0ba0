from rioagent.cli import main

raise SystemExit(main())
