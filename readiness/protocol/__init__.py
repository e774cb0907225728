"""The lean MCP client for the hot path: JSON-RPC framing (jsonrpc), stdio and Streamable HTTP
transports (stdio, http), the lifecycle of both protocol generations (session), and
`open_connection` / `McpClient` (client). Import the submodules; this package imports nothing.
"""
