"""What every end-to-end script needs to read of a tool's result, in one place.

secure-tool puts the machine-readable facts of a failed call (category, retryable,
caller_fault, incident_id, retry_after_secs, and for a degraded write `degraded` and
`available_tools`) under one namespaced key of the result's `_meta`, and never in
`structuredContent`: clients that listed the tools validate any `structuredContent`
against the tool's output schema, the way the official TypeScript SDK does.
"""

from __future__ import annotations

from typing import Any

import jsonschema

ERROR_META_KEY = "io.github.secure-tool/error"


def error_facts(result: Any) -> dict[str, Any]:
    """The facts of an error result (`_meta["io.github.secure-tool/error"]`), or {}."""
    if not result.is_error:
        return {}
    facts = (result.meta or {}).get(ERROR_META_KEY)
    return facts if isinstance(facts, dict) else {}


def rejection_by_validating_clients(result: Any, output_schema: dict[str, Any] | None) -> str | None:
    """Why a client that validates results as the TypeScript SDK does would reject `result`
    of a tool advertising `output_schema`, or None if every client accepts it.

    The SDK (`Client.callTool`, after `tools/list`): a tool with an output schema must answer
    a success with `structuredContent`; any `structuredContent` present, on a success or an
    error, must validate against the output schema.
    """
    structured = result.structured_content
    if output_schema is None:
        return None
    if structured is None:
        return None if result.is_error else "a success without structuredContent"
    try:
        jsonschema.validate(structured, output_schema, cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError as error:
        return f"structuredContent does not match the output schema: {error.message}"
    return None
