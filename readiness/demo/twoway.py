"""The demo's two-way tools: one samples the client's LLM, one elicits from its user, one lists
its roots (on both protocol generations, through the SDK's resolvers), and a long tool that
reports progress and stops when cancelled."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Elicit, ListRoots, Resolve, Sample
from mcp_types import CreateMessageResult, ListRootsResult, SamplingMessage, TextContent
from pydantic import BaseModel, Field

MAX_STEPS = 50
MAX_STEP_MS = 1000.0  # with MAX_STEPS: at most 50 s, under the demo's 60 s bound


class Contact(BaseModel):
    """What ask_user asks the user for."""

    name: str = Field(min_length=1, description="your name")
    email: str = Field(description="your e-mail address", json_schema_extra={"format": "email"})
    age: int = Field(ge=18, le=130, description="your age")
    plan: str = Field(default="free", json_schema_extra={"enum": ["free", "pro"]})


def _question(question: str) -> Sample:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=question))
    return Sample([message], max_tokens=64)


def _roots() -> ListRoots:
    return ListRoots()


async def ask_llm(question: str, answer: Annotated[CreateMessageResult, Resolve(_question)]) -> str:
    """Ask the client's LLM a question (sampling/createMessage) and return its answer."""
    content = answer.content
    text = content.text if isinstance(content, TextContent) else ""
    return f"{answer.model}: {text}"


def _contact() -> Elicit[Contact]:
    return Elicit("Who are you?", Contact)


async def ask_user(contact: Annotated[ElicitationResult[Contact], Resolve(_contact)]) -> str:
    """Ask the user for contact details (elicitation/create) and return what they chose."""
    if not isinstance(contact, AcceptedElicitation):
        return contact.action
    data = contact.data
    return f"accept: {data.name} <{data.email}> {data.age} {data.plan}"


async def list_roots(roots: Annotated[ListRootsResult, Resolve(_roots)]) -> str:
    """List the client's roots (roots/list), one URI a line."""
    return "\n".join(str(root.uri) for root in roots.roots)


async def slow(
    ctx: Context,
    steps: Annotated[int, Field(ge=1, le=MAX_STEPS, description="progress steps")] = 5,
    step_ms: Annotated[float, Field(ge=0, le=MAX_STEP_MS, description="ms per step")] = 100.0,
) -> str:
    """Work `steps` × `step_ms`, reporting progress after each step; stops when cancelled."""
    for step in range(1, steps + 1):
        await anyio.sleep(step_ms / 1000)  # cancellation (notifications/cancelled) ends it here
        await ctx.report_progress(step, steps, f"step {step} of {steps}")
    return f"done {steps} steps"


def add_two_way_tools(server: MCPServer[Any]) -> None:
    for tool in (ask_llm, ask_user, list_roots, slow):
        server.add_tool(tool)
