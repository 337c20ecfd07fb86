"""`python -m bench.mcp_http [--json-response] [--stdio] [--noop]`: the product server (`build_server`
with settings from the environment, as the CLI builds it) in its own process, for the transport rows.

HTTP: Streamable HTTP at `/mcp` on a free loopback port (`replicas_mcp.sandbox.serve.serving`), in SSE
mode (the default) or JSON-response mode (which the CLI does not expose); prints `{"url": ...}` when ready
and stops when stdin closes.
`--stdio` serves stdio (used only when the product CLI is missing from the checkout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from mcp.server import MCPServer

from bench.noop import build_noop_server
from bench.procs import wait_for_stdin_eof
from replicas_mcp.config import Settings
from replicas_mcp.sandbox.serve import serving
from replicas_mcp.server import build_server

MAX_LIFETIME = 1800.0


def _server(noop: bool) -> MCPServer[Any]:
    return build_noop_server() if noop else build_server(Settings())


async def serve_http(json_response: bool, noop: bool) -> None:
    server = _server(noop)
    app = server.streamable_http_app(json_response=json_response)
    async with serving(app) as base_url:
        print(json.dumps({"url": f"{base_url}/mcp"}), flush=True)
        await wait_for_stdin_eof(MAX_LIFETIME)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mcp_http")
    parser.add_argument("--json-response", action="store_true")
    parser.add_argument("--stdio", action="store_true")
    parser.add_argument("--noop", action="store_true", help="the SDK floor server (bench.noop) instead")
    args = parser.parse_args()
    if args.stdio:
        _server(args.noop).run("stdio")
        return
    asyncio.run(serve_http(args.json_response, args.noop))


if __name__ == "__main__":
    main()
