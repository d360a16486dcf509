// End-to-end test: the official MCP TypeScript SDK (@modelcontextprotocol/sdk 1.x) against
// notes-server over streamable HTTP, as an OAuth resource server.
//
// tests/http_clients.rs starts the server and mints the tokens; this script only reads them
// from the environment:
//   NOTES_MCP_URL                  the MCP endpoint, e.g. http://127.0.0.1:PORT/mcp
//   NOTES_ISSUER                   the issuer the metadata document must name
//   NOTES_TOKEN_READER             scope notes:read
//   NOTES_TOKEN_WRITER             scopes notes:read notes:write
//   NOTES_TOKEN_OUTSIDER           a valid token with no notes scope
//   NOTES_TOKEN_EXPIRED            expired an hour ago
//   NOTES_TOKEN_WRONG_AUDIENCE     issued for another resource
//
// It prints one line per check (`typescript: ok: ...`) and exits 1 at the first failed check.
// Run it alone: `npm ci` in this directory, then `node typescript_client.mjs` with the
// variables above.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from "@modelcontextprotocol/sdk/client/auth.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";

import { CheckFailed, expect, reporter } from "./checks.mjs";

const CLIENT = "typescript";
const REQUEST_TIMEOUT_MS = 30_000;

const { ok, env } = reporter(CLIENT, "tests/http_clients.rs");

const url = new URL(env("NOTES_MCP_URL"));
const issuer = env("NOTES_ISSUER");
const tokens = {
  reader: env("NOTES_TOKEN_READER"),
  writer: env("NOTES_TOKEN_WRITER"),
  outsider: env("NOTES_TOKEN_OUTSIDER"),
  expired: env("NOTES_TOKEN_EXPIRED"),
  wrongAudience: env("NOTES_TOKEN_WRONG_AUDIENCE"),
};


/** A fetch that keeps the last HTTP response the transport got, to read its headers. */
function recordingFetch() {
  const seen = { last: undefined };
  const fetchFn = async (input, init) => {
    const response = await fetch(input, init);
    seen.last = response;
    return response;
  };
  return { seen, fetchFn };
}

/** Connects with `token` (or none); returns the client, or the error and what the transport saw. */
async function connect(token) {
  const { seen, fetchFn } = recordingFetch();
  const transport = new StreamableHTTPClientTransport(url, {
    fetch: fetchFn,
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
  });
  const client = new Client({ name: "secure-tool-e2e-typescript", version: "0.1.0" });
  try {
    await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
    return { client, transport, seen };
  } catch (error) {
    await transport.close().catch(() => {});
    return { error, seen };
  }
}

/** The 401 a connection attempt with `token` must get: the transport's error and the challenge. */
async function expectUnauthorized(token, what) {
  const { client, error, seen } = await connect(token);
  if (client) {
    await client.close();
    throw new CheckFailed(`${what}: the handshake succeeded, expected HTTP 401`);
  }
  expect(
    error instanceof StreamableHTTPError && error.code === 401,
    `${what}: expected a StreamableHTTPError with code 401, got ${error}`,
  );
  const response = seen.last;
  expect(response?.status === 401, `${what}: the last response was ${response?.status}, not 401`);
  const challenge = response.headers.get("www-authenticate");
  expect(challenge?.startsWith("Bearer "), `${what}: no Bearer challenge, got ${challenge}`);
  return { params: extractWWWAuthenticateParams(response), challenge };
}

function structured(result, what) {
  expect(!result.isError, `${what}: expected success, got ${JSON.stringify(result)}`);
  expect(
    result.structuredContent && typeof result.structuredContent === "object",
    `${what}: no structuredContent in ${JSON.stringify(result)}`,
  );
  return result.structuredContent;
}

/** Lists the tools first, as hosts do: from then on the SDK validates every
 * structuredContent against the tool's output schema, and rejects a mismatch. */
async function listTools(client, what) {
  const { tools } = await client.listTools();
  expect(
    tools.some((tool) => tool.name === "create_note" && tool.outputSchema),
    `${what}: tools/list has no create_note with an output schema: ${JSON.stringify(tools)}`,
  );
  ok(`${what}: tools/list -> ${tools.length} tools`);
}

/** The step-up answer a create_note with `args` must get on `connection`: HTTP 403 with
 * `error="insufficient_scope"`, `scope="notes:write"` and the metadata document. */
async function stepUp(connection, args, what) {
  try {
    const result = await connection.client.callTool({ name: "create_note", arguments: args });
    throw new CheckFailed(`${what}: expected HTTP 403, got ${JSON.stringify(result)}`);
  } catch (error) {
    if (error instanceof CheckFailed) throw error;
    const response = connection.seen.last;
    expect(response?.status === 403, `${what}: the last response was ${response?.status}: ${error}`);
    const params = extractWWWAuthenticateParams(response);
    const challenge = response.headers.get("www-authenticate");
    expect(
      params.error === "insufficient_scope" && params.scope === "notes:write",
      `${what}: challenge ${challenge}`,
    );
    expect(
      params.resourceMetadataUrl?.href === new URL("/.well-known/oauth-protected-resource/mcp", url).href,
      `${what}: resource_metadata of ${challenge}`,
    );
    return `error="${params.error}" scope="${params.scope}"`;
  }
}

function denial(result, what) {
  const error = result._meta?.["io.github.secure-tool/error"];
  expect(
    result.isError === true && error?.category === "denied" && result.structuredContent === undefined,
    `${what}: expected the generic denial, got ${JSON.stringify(result)}`,
  );
  const { category, message, retryable, caller_fault } = error;
  return JSON.stringify({ category, message, retryable, caller_fault });
}

/** The JSON-RPC error a read of `uri` gets, as `code message` (a success fails the check). */
async function readError(client, uri, what) {
  try {
    const read = await client.readResource({ uri });
    throw new CheckFailed(`${what}: expected a JSON-RPC error, got ${JSON.stringify(read)}`);
  } catch (error) {
    if (error instanceof CheckFailed) throw error;
    return `${error.code} ${error.message}`;
  }
}

/** The JSON-RPC error a get of the prompt `name` gets, as `code message` (a success fails
 * the check). */
async function promptError(client, name, what) {
  try {
    const got = await client.getPrompt({ name, arguments: {} });
    throw new CheckFailed(`${what}: expected a JSON-RPC error, got ${JSON.stringify(got)}`);
  } catch (error) {
    if (error instanceof CheckFailed) throw error;
    return `${error.code} ${error.message}`;
  }
}

/** The completion of the variable `id` of the template `uri`, `typed` typed so far. */
async function completeId(client, uri, typed) {
  const { completion } = await client.complete({
    ref: { type: "ref/resource", uri },
    argument: { name: "id", value: typed },
  });
  return completion;
}

let noteId;

async function run() {
  // No token: 401, a challenge naming the metadata document, and the document itself.
  const anonymous = await expectUnauthorized(undefined, "no token");
  const metadataUrl = anonymous.params.resourceMetadataUrl;
  expect(metadataUrl, `no token: the challenge has no resource_metadata: ${anonymous.challenge}`);
  expect(
    metadataUrl.origin === url.origin &&
      metadataUrl.pathname === `/.well-known/oauth-protected-resource${url.pathname}`,
    `no token: resource_metadata ${metadataUrl} is not the well-known URL of ${url}`,
  );
  ok(`no token -> HTTP 401, WWW-Authenticate: ${anonymous.challenge}`);
  const metadata = await discoverOAuthProtectedResourceMetadata(url, {
    resourceMetadataUrl: metadataUrl,
  });
  expect(metadata.resource === url.href, `metadata: resource ${metadata.resource}, expected ${url.href}`);
  expect(
    JSON.stringify(metadata.authorization_servers) === JSON.stringify([issuer]),
    `metadata: authorization_servers ${JSON.stringify(metadata.authorization_servers)}`,
  );
  expect(
    JSON.stringify(metadata.scopes_supported) === JSON.stringify(["notes:read", "notes:write"]),
    `metadata: scopes_supported ${JSON.stringify(metadata.scopes_supported)}`,
  );
  ok(
    `metadata document: resource=${metadata.resource} authorization_servers=${JSON.stringify(metadata.authorization_servers)} scopes_supported=${JSON.stringify(metadata.scopes_supported)}`,
  );

  // Expired and wrong-audience tokens: 401 invalid_token.
  for (const [what, token] of [
    ["expired token", tokens.expired],
    ["wrong-audience token", tokens.wrongAudience],
  ]) {
    const { params } = await expectUnauthorized(token, what);
    expect(params.error === "invalid_token", `${what}: error=${params.error}, expected invalid_token`);
    ok(`${what} -> HTTP 401, error="invalid_token"`);
  }

  // A token with notes:read only: reads work; create_note is answered HTTP 403 with the
  // step-up challenge naming notes:write, the same whatever the arguments, before anything
  // runs: nothing is written.
  const reader = await connect(tokens.reader);
  expect(reader.client, `reader token: the handshake failed: ${reader.error}`);
  try {
    const version = reader.client.getServerVersion();
    const negotiated = reader.transport.protocolVersion;
    expect(
      negotiated === LATEST_PROTOCOL_VERSION,
      `reader token: negotiated protocol ${negotiated}, expected ${LATEST_PROTOCOL_VERSION}`,
    );
    ok(
      `reader token -> initialize handshake, protocol ${negotiated} (server ${version?.name} ${version?.version})`,
    );
    await listTools(reader.client, "reader token");
    const before = structured(
      await reader.client.callTool({ name: "list_notes", arguments: {} }),
      "reader list_notes",
    ).notes.length;
    ok(`reader token: list_notes -> ${before} notes`);
    const denied = await stepUp(reader, { title: "from a reader" }, "reader create_note");
    const deniedMalformed = await stepUp(
      reader,
      { title: 42 },
      "reader create_note with malformed arguments",
    );
    expect(
      denied === deniedMalformed,
      `the denial depends on the arguments: ${denied} vs ${deniedMalformed}`,
    );
    const after = structured(
      await reader.client.callTool({ name: "list_notes", arguments: {} }),
      "reader list_notes after the denial",
    ).notes.length;
    expect(after === before, `a denied create_note wrote: ${before} notes before, ${after} after`);
    ok(
      `reader token: create_note -> HTTP 403 ${denied}, identical for malformed arguments, nothing written`,
    );
  } finally {
    await reader.client.close();
  }

  // A token with notes:write: a write tool and a read tool succeed; delete_note (role admin)
  // is still denied.
  const writer = await connect(tokens.writer);
  expect(writer.client, `writer token: the handshake failed: ${writer.error}`);
  try {
    await listTools(writer.client, "writer token");
    const note = structured(
      await writer.client.callTool({
        name: "create_note",
        arguments: { title: "typescript", body: "over streamable HTTP" },
      }),
      "writer create_note",
    );
    expect(Number.isInteger(note.id) && note.title === "typescript", `create_note returned ${JSON.stringify(note)}`);
    ok(`writer token: create_note -> note ${note.id} ${JSON.stringify(note.title)}`);
    const read = structured(
      await writer.client.callTool({ name: "get_note", arguments: { id: note.id } }),
      "writer get_note",
    );
    expect(read.body === "over streamable HTTP", `get_note returned ${JSON.stringify(read)}`);
    ok(`writer token: get_note ${note.id} -> ${JSON.stringify(read.body)}`);
    // The note as a resource, listed through its template first, as hosts do.
    const { resourceTemplates } = await writer.client.listResourceTemplates();
    expect(
      resourceTemplates.some((t) => t.uriTemplate === "notes://{id}"),
      `writer token: no notes://{id} template in ${JSON.stringify(resourceTemplates)}`,
    );
    const resource = await writer.client.readResource({ uri: `notes://${note.id}` });
    expect(
      resource.contents[0]?.text === "# typescript\n\nover streamable HTTP" &&
        resource.contents[0]?.mimeType === "text/markdown",
      `writer token: notes://${note.id} read ${JSON.stringify(resource)}`,
    );
    ok(`writer token: resources/read notes://${note.id} -> Markdown`);
    noteId = note.id;
    const notAdmin = denial(
      await writer.client.callTool({ name: "delete_note", arguments: { id: note.id } }),
      "writer delete_note",
    );
    ok(`writer token: delete_note (role admin) -> denied ${notAdmin}`);

    // The writer's session is bound to the writer: the reader's token cannot use its id.
    const sessionId = writer.transport.sessionId;
    expect(sessionId, "writer token: the server gave the session no Mcp-Session-Id");
    const asReader = {
      Authorization: `Bearer ${tokens.reader}`,
      "Mcp-Session-Id": sessionId,
      "MCP-Protocol-Version": writer.transport.protocolVersion,
    };
    const post = await fetch(url, {
      method: "POST",
      headers: {
        ...asReader,
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
    });
    const stream = await fetch(url, {
      method: "GET",
      headers: { ...asReader, Accept: "text/event-stream" },
    });
    await Promise.all([post.body?.cancel(), stream.body?.cancel()]);
    expect(
      post.status === 404 && stream.status === 404,
      `reader token on the writer's session: POST ${post.status}, GET ${stream.status}, expected 404`,
    );
    const still = structured(
      await writer.client.callTool({ name: "get_note", arguments: { id: note.id } }),
      "writer get_note after the reader's attempt",
    );
    expect(still.id === note.id, `get_note returned ${JSON.stringify(still)}`);
    ok(
      `reader token on the writer's session ${sessionId.slice(0, 8)}...: POST -> HTTP ${post.status}, GET -> HTTP ${stream.status}; the writer's session goes on`,
    );
  } finally {
    await writer.client.close();
  }

  // The reader, now that a note exists: the prompt and the note template are listed, the
  // prompt names the note, and the template's `id` is completed with the note's id.
  const typed = String(noteId)[0];
  const readerAgain = await connect(tokens.reader);
  expect(readerAgain.client, `reader token: the handshake failed: ${readerAgain.error}`);
  try {
    const { prompts } = await readerAgain.client.listPrompts();
    const summarise = prompts.find((prompt) => prompt.name === "summarise_notes");
    expect(summarise, `reader token: no summarise_notes in ${JSON.stringify(prompts)}`);
    const { resourceTemplates } = await readerAgain.client.listResourceTemplates();
    expect(
      resourceTemplates.some((t) => t.uriTemplate === "notes://{id}"),
      `reader token: no notes://{id} template in ${JSON.stringify(resourceTemplates)}`,
    );
    ok(`reader token: prompts/list -> ${prompts.length} prompts; resources/templates/list -> notes://{id}`);
    const got = await readerAgain.client.getPrompt({
      name: "summarise_notes",
      arguments: { purpose: "a weekly review" },
    });
    const text = got.messages[0]?.content?.text ?? "";
    expect(
      text.includes("typescript") && text.includes("a weekly review"),
      `reader token: summarise_notes got ${JSON.stringify(got)}`,
    );
    ok(`reader token: prompts/get summarise_notes -> ${got.messages.length} message naming the note`);
    const completion = await completeId(readerAgain.client, "notes://{id}", typed);
    expect(
      completion.values.length > 0 && completion.values.includes(String(noteId)),
      `reader token: completing notes://{id}'s id from ${typed}: ${JSON.stringify(completion)}`,
    );
    ok(`reader token: completion/complete notes://{id} id=${typed} -> ${JSON.stringify(completion.values)}`);
  } finally {
    await readerAgain.client.close();
  }

  // A valid token without notes:read: no template or prompt listed; its read of the
  // writer's note is the answer to a read of a note that does not exist, which repeats no
  // URI; its get of the prompt is the answer to a prompt that does not exist; its
  // completion is the empty answer of a template that does not exist.
  const outsider = await connect(tokens.outsider);
  expect(outsider.client, `outsider token: the handshake failed: ${outsider.error}`);
  try {
    const { resourceTemplates } = await outsider.client.listResourceTemplates();
    expect(resourceTemplates.length === 0, `outsider token: templates ${JSON.stringify(resourceTemplates)}`);
    const denied = await readError(outsider.client, `notes://${noteId}`, "outsider read");
    const missing = await readError(outsider.client, "notes://987654321", "outsider read of a missing note");
    expect(denied === missing, `outsider token: ${denied} vs ${missing}`);
    expect(!denied.includes("notes://"), `outsider token: the URI is repeated: ${denied}`);
    ok(`outsider token: resources/templates/list -> none; notes://${noteId} -> ${denied}, as for a missing note`);

    const { prompts } = await outsider.client.listPrompts();
    expect(prompts.length === 0, `outsider token: prompts ${JSON.stringify(prompts)}`);
    const deniedPrompt = await promptError(outsider.client, "summarise_notes", "outsider prompts/get");
    const missingPrompt = await promptError(outsider.client, "no_such_prompt", "outsider prompts/get of a missing prompt");
    expect(deniedPrompt === missingPrompt, `outsider token: ${deniedPrompt} vs ${missingPrompt}`);
    expect(!deniedPrompt.includes("summarise"), `outsider token: the prompt's name is repeated: ${deniedPrompt}`);
    ok(`outsider token: prompts/list -> none; summarise_notes -> ${deniedPrompt}, as for a missing prompt`);

    const deniedCompletion = await completeId(outsider.client, "notes://{id}", typed);
    const missingCompletion = await completeId(outsider.client, "nothing://{id}", typed);
    expect(
      deniedCompletion.values.length === 0 &&
        JSON.stringify(deniedCompletion) === JSON.stringify(missingCompletion),
      `outsider token: completion ${JSON.stringify(deniedCompletion)} vs a missing template's ${JSON.stringify(missingCompletion)}`,
    );
    ok(`outsider token: completion/complete notes://{id} -> ${JSON.stringify(deniedCompletion)}, as for a missing template`);
  } finally {
    await outsider.client.close();
  }
}

try {
  await run();
  console.log(`${CLIENT}: all checks passed`);
} catch (error) {
  const message = error instanceof CheckFailed ? error.message : error?.stack ?? String(error);
  console.log(`${CLIENT}: FAILED: ${message}`);
  process.exit(1);
}
