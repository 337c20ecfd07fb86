import sys

# Before importing anything that needs 3.11 (a source checkout run with an older python3).
if sys.version_info < (3, 11):  # noqa: UP036
    sys.exit(f"replicas-mcp: needs Python 3.11 or newer; this is Python {sys.version.split()[0]}.")

from replicas_mcp.cli import main

raise SystemExit(main())
