// End-to-end test: step-up authorization (a 403 insufficient_scope, then a token with more
// scopes) with the official MCP TypeScript SDK (@modelcontextprotocol/sdk 1.x) and its
// client-credentials OAuth provider, against notes-server and a real OpenID provider
// (tests/oidc.rs starts both).
//
// Environment:
//   NOTES_MCP_URL             the MCP endpoint, e.g. http://127.0.0.1:PORT/mcp
//   NOTES_ISSUER              the OpenID provider's issuer, which the server trusts
//   NOTES_OIDC_CLIENT_ID      the provider's client_credentials client
//   NOTES_OIDC_CLIENT_SECRET  its secret
//
// Two clients, each starting with scope notes:read only, and no token: the SDK gets its
// tokens itself (the server's 401, its protected resource metadata, the provider's
// metadata, a client_credentials grant with the resource indicator).
//
//  1. `native`: the SDK's ClientCredentialsProvider as it is. tools/list and list_notes
//     work; create_note gets 403 insufficient_scope scope="notes:write", and the SDK's
//     transport re-authorizes (StreamableHTTPClientTransport.send, the 403 branch), but
//     asks the provider for notes:read again: auth() resolves the challenge's scope but
//     fetchToken() (dist/esm/client/auth.js) passes `provider.clientMetadata.scope` to
//     prepareTokenRequest(), never the challenge's. The same 403 again, and the transport
//     gives up ("Server returned 403 after trying upscoping"). This is checked, so that an
//     SDK that steps up on its own is noticed.
//  2. `step-up`: the same provider, its scope settable, and the transport's `fetch` reading
//     each 403 of the MCP endpoint: on insufficient_scope, the challenge is parsed with the
//     SDK's extractWWWAuthenticateParams(), and the provider's scope becomes the union of
//     the scopes granted so far and those the challenge names (the MCP authorization
//     specification's step-up). Everything else is the SDK's: its transport's 403 branch
//     calls auth(), which discovers the protected resource metadata (from the challenge's
//     resource_metadata), then the provider's metadata and its token endpoint, gets the
//     token, and retries the call. create_note then succeeds; delete_note (role admin, a
//     token with both scopes) gets the generic denial in a 200, no 403.
//
// Every HTTP exchange of the transport and of the SDK's auth flow is recorded and the
// checks read from it: which requests got 403 with which challenge, which scopes each
// token request asked for and got. Prints one line per check (`step-up: ok: ...`), then
// `step-up: all checks passed`; exits 1 at the first failed check, 2 on a usage error.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { extractWWWAuthenticateParams } from "@modelcontextprotocol/sdk/client/auth.js";

import { CheckFailed, expect, reporter } from "./checks.mjs";

const CLIENT = "step-up";
const REQUEST_TIMEOUT_MS = 30_000;
const SCENARIO_TIMEOUT_MS = 120_000;

const { ok, env } = reporter(CLIENT, "tests/oidc.rs");

const url = new URL(env("NOTES_MCP_URL"));
const issuer = env("NOTES_ISSUER");
const clientId = env("NOTES_OIDC_CLIENT_ID");
const clientSecret = env("NOTES_OIDC_CLIENT_SECRET");


/** The claims of a JWT, not verified (the server verifies them). */
function claims(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
}

function scopes(text) {
  return (text ?? "").split(/\s+/).filter(Boolean);
}

/** The SDK's client-credentials provider, whose scope the script may widen. */
class ScopedClientCredentialsProvider extends ClientCredentialsProvider {
  constructor(scope) {
    super({ clientId, clientSecret, scope, expectedIssuer: issuer });
    this.scope = scope;
  }

  get clientMetadata() {
    return { ...super.clientMetadata, scope: this.scope };
  }
}

/**
 * A fetch for the transport (and, through it, the SDK's auth flow) that records every
 * exchange; with `provider`, it also widens the provider's scope on each 403
 * insufficient_scope of the MCP endpoint, before the SDK sees the response.
 */
function recordingFetch(exchanges, provider) {
  return async (input, init) => {
    const target = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    const exchange = { method, path: target.pathname, status: 0 };
    if (target.pathname.endsWith("/token") && init?.body !== undefined) {
      exchange.asked = new URLSearchParams(init.body).get("scope") ?? "";
      exchange.resource = new URLSearchParams(init.body).get("resource") ?? "";
    }
    const response = await fetch(input, init);
    exchange.status = response.status;
    if (exchange.asked !== undefined && response.ok) {
      const answer = await response.clone().json();
      exchange.granted = claims(answer.access_token).scope ?? "";
      exchange.kid = JSON.parse(
        Buffer.from(answer.access_token.split(".")[0], "base64url").toString("utf8"),
      ).kid;
      exchange.aud = claims(answer.access_token).aud;
    }
    if (target.href.split("?")[0] === url.href && response.status === 403) {
      exchange.challenge = response.headers.get("www-authenticate");
      const { error, scope } = extractWWWAuthenticateParams(response);
      if (provider && error === "insufficient_scope" && scope) {
        const granted = scopes(provider.tokens()?.scope);
        const union = [...new Set([...granted, ...scopes(provider.scope), ...scopes(scope)])];
        exchange.widened = union.join(" ");
        provider.scope = union.join(" ");
      }
    }
    exchanges.push(exchange);
    return response;
  };
}

function describe(exchanges) {
  return exchanges
    .map((e) => {
      let line = `${e.method} ${e.path} ${e.status}`;
      if (e.asked !== undefined) line += ` asked="${e.asked}" granted="${e.granted ?? ""}"`;
      if (e.challenge) line += ` [${e.challenge}]`;
      return line;
    })
    .join("; ");
}

function structured(result, what) {
  expect(!result.isError, `${what}: expected success, got ${JSON.stringify(result)}`);
  expect(
    result.structuredContent && typeof result.structuredContent === "object",
    `${what}: no structuredContent in ${JSON.stringify(result)}`,
  );
  return result.structuredContent;
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

/** A client whose provider starts with notes:read and no token: connect, tools/list, list_notes. */
async function connectAsReader(name, widen) {
  const provider = new ScopedClientCredentialsProvider("notes:read");
  const exchanges = [];
  const transport = new StreamableHTTPClientTransport(url, {
    authProvider: provider,
    fetch: recordingFetch(exchanges, widen ? provider : undefined),
  });
  const client = new Client({ name: `secure-tool-e2e-${name}`, version: "0.1.0" });
  await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
  const tokenRequests = exchanges.filter((e) => e.asked !== undefined);
  expect(
    tokenRequests.length === 1 && tokenRequests[0].status === 200,
    `${name}: connecting made ${tokenRequests.length} token requests: ${describe(exchanges)}`,
  );
  expect(
    exchanges[0].path === url.pathname && exchanges[0].status === 401,
    `${name}: the first request was not the MCP endpoint's 401: ${describe(exchanges)}`,
  );
  const first = tokenRequests[0];
  expect(
    first.granted === "notes:read" && first.aud === url.href,
    `${name}: the first token has scope "${first.granted}" and aud ${first.aud}, expected notes:read for ${url.href}`,
  );
  ok(
    `${name}: connected; the SDK got a token after the 401 (${describe(exchanges)}), ` +
      `scope "${first.granted}", kid ${first.kid}, aud ${first.aud}`,
  );
  const { tools } = await client.listTools({}, { timeout: REQUEST_TIMEOUT_MS });
  expect(tools.some((tool) => tool.name === "create_note"), `${name}: tools/list -> ${JSON.stringify(tools)}`);
  const listed = structured(await client.callTool({ name: "list_notes", arguments: {} }), `${name} list_notes`);
  ok(`${name}: tools/list -> ${tools.length} tools; list_notes -> ${listed.notes.length} notes (no 403)`);
  return { client, transport, provider, exchanges };
}

async function native() {
  const { client, exchanges } = await connectAsReader("native", false);
  try {
    const before = exchanges.length;
    let outcome;
    try {
      outcome = await client.callTool(
        { name: "create_note", arguments: { title: "native step-up" } },
        undefined,
        { timeout: REQUEST_TIMEOUT_MS },
      );
    } catch (error) {
      outcome = error;
    }
    const during = exchanges.slice(before);
    if (!(outcome instanceof Error)) {
      throw new CheckFailed(
        `native: create_note answered ${JSON.stringify(outcome)} (${describe(during)}): if the SDK ` +
          "now steps up on its own, the scripted step-up of this test can go",
      );
    }
    const forbidden = during.filter((e) => e.status === 403);
    const retried = during.filter((e) => e.asked !== undefined);
    expect(
      outcome instanceof StreamableHTTPError &&
        outcome.code === 403 &&
        /after trying upscoping/.test(outcome.message) &&
        forbidden.length === 2 &&
        forbidden.every((e) => /error="insufficient_scope"/.test(e.challenge) && /scope="notes:write"/.test(e.challenge)) &&
        retried.length === 1 &&
        retried[0].asked === "notes:read",
      `native: expected two 403 insufficient_scope around one token request for notes:read again, ` +
        `got ${outcome} (${describe(during)})`,
    );
    ok(
      `native: create_note -> ${describe(during)} -> ${outcome.message}: the SDK re-authorized ` +
        "but asked for its configured scope again, not the challenge's (fetchToken uses clientMetadata.scope)",
    );
  } finally {
    await client.close();
  }
}

async function stepUp() {
  const { client, exchanges, provider } = await connectAsReader("step-up", true);
  try {
    const before = exchanges.length;
    const note = structured(
      await client.callTool(
        { name: "create_note", arguments: { title: "after step-up", body: "notes:write on demand" } },
        undefined,
        { timeout: REQUEST_TIMEOUT_MS },
      ),
      "step-up create_note",
    );
    const during = exchanges.slice(before);
    const shape = during.map((e) => (e.asked !== undefined ? `token ${e.status}` : `${e.method} ${e.path} ${e.status}`));
    const forbidden = during.find((e) => e.status === 403);
    const token = during.find((e) => e.asked !== undefined);
    expect(
      forbidden &&
        /^Bearer /.test(forbidden.challenge) &&
        /error="insufficient_scope"/.test(forbidden.challenge) &&
        /scope="notes:write"/.test(forbidden.challenge) &&
        /resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp"/.test(forbidden.challenge),
      `step-up: no 403 insufficient_scope naming notes:write and the metadata document: ${describe(during)}`,
    );
    expect(
      token &&
        token.status === 200 &&
        scopes(token.asked).sort().join(" ") === "notes:read notes:write" &&
        scopes(token.granted).sort().join(" ") === "notes:read notes:write" &&
        token.resource === url.href &&
        token.aud === url.href,
      `step-up: expected a token request for notes:read notes:write for ${url.href}: ${describe(during)}`,
    );
    const last = during[during.length - 1];
    expect(
      during.indexOf(forbidden) < during.indexOf(token) &&
        last.path === url.pathname &&
        last.status === 200 &&
        during.filter((e) => e.status === 403).length === 1,
      `step-up: expected 403, a new token, then the call again answered 200: ${shape.join(", ")}`,
    );
    expect(typeof note.id === "number" && note.title === "after step-up", `step-up: create_note -> ${JSON.stringify(note)}`);
    ok(
      `step-up: create_note -> ${shape.join(", ")}: challenge [${forbidden.challenge}], new token asked ` +
        `"${token.asked}" granted "${token.granted}" (kid ${token.kid}), note ${note.id} created`,
    );
    ok(`step-up: token requests in all: ${exchanges.filter((e) => e.asked !== undefined).length}; the provider's scope is now "${provider.scope}"`);

    const beforeDelete = exchanges.length;
    const notAdmin = denial(
      await client.callTool({ name: "delete_note", arguments: { id: note.id } }, undefined, { timeout: REQUEST_TIMEOUT_MS }),
      "step-up delete_note",
    );
    const deleting = exchanges.slice(beforeDelete);
    expect(
      deleting.length >= 1 && deleting.every((e) => e.status === 200 && e.asked === undefined),
      `step-up: delete_note (role admin) must not get a 403 nor a new token: ${describe(deleting)}`,
    );
    ok(`step-up: delete_note (role admin) with notes:read notes:write -> HTTP 200, generic denial ${notAdmin}; no 403, no new token`);
  } finally {
    await client.close();
  }
}

try {
  const timer = setTimeout(() => {
    console.log(`${CLIENT}: FAILED: the scenario took more than ${SCENARIO_TIMEOUT_MS} ms`);
    process.exit(1);
  }, SCENARIO_TIMEOUT_MS);
  const started = performance.now();
  await native();
  await stepUp();
  clearTimeout(timer);
  ok(`both clients in ${Math.round(performance.now() - started)} ms`);
  console.log(`${CLIENT}: all checks passed`);
} catch (error) {
  const message = error instanceof CheckFailed ? error.message : error?.stack ?? String(error);
  console.log(`${CLIENT}: FAILED: ${message}`);
  process.exit(1);
}
