from replicas_mcp.cli import main

raise SystemExit(main())
