"""replicas-mcp: an MCP server for the Replicas API, with an offline sandbox of that API."""

__version__ = "0.1.0"
