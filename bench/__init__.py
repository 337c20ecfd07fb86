"""Benchmarks of replicas-mcp against the sandbox on loopback: `python -m bench` (full) or `--short`.

One run on one machine measures, side by side: per-call overhead of get_replica over every path (raw
HTTP, client, in-memory MCP, stdio, Streamable HTTP in SSE and JSON-response mode), cold start, context
cost, result sizes, throughput and memory. See docs/performance.md for the method and the last results.
"""
