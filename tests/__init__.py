"""The test suites of replicas-mcp (a package, so every suite imports its helpers the same way)."""
