"""Client tests (a package, so its conftest and helpers do not clash with other test directories)."""
