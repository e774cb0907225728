"""An HTTP MCP server for the security tests with DNS-rebinding protection turned off: any
Host and Origin are served, which the security scenario must find (high).

    python tests/vulnerable_http_server.py --port PORT
"""

from __future__ import annotations

import sys

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings


def main() -> None:
    port = int(sys.argv[sys.argv.index("--port") + 1])
    server: MCPServer[object] = MCPServer(name="no-host-check", log_level="WARNING")

    async def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    server.add_tool(echo, structured_output=False)
    app = server.streamable_http_app(
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
