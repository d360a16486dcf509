// Every kind of answer of answers-server, through the official MCP TypeScript SDK
// (@modelcontextprotocol/sdk 1.x), the way hosts use it: `tools/list` first (after which
// the SDK validates every structuredContent against the tool's output schema), then each
// call of ../answers.json. An answer the SDK rejects (`MCP error -32602: Structured
// content does not match the tool's output schema`) or a schema it warns about
// (`unknown format "uint64" ignored`) fails the run.
//
//   node answers.mjs stdio <answers-server binary>
//   node answers.mjs http <MCP endpoint URL>
//
// It prints one line per answer (`typescript/<transport>: ok: ...`) and exits 1 at the
// first failed check.

import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const ERROR_META_KEY = "io.github.secure-tool/error";
const REQUEST_TIMEOUT_MS = 30_000;
const [mode, target] = process.argv.slice(2);
const CLIENT = `typescript/${mode}`;
const expected = JSON.parse(readFileSync(new URL("../answers.json", import.meta.url), "utf8"));

// What the SDK's validator says about the schemas it compiles goes to the console.
const warnings = [];
for (const level of ["warn", "error", "log"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    warnings.push(args.map(String).join(" "));
    original(...args);
  };
}

class CheckFailed extends Error {}

function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function transport() {
  if (mode === "stdio") return new StdioClientTransport({ command: target, stderr: "ignore" });
  if (mode === "http") return new StreamableHTTPClientTransport(new URL(target));
  throw new CheckFailed(`usage: node answers.mjs stdio BINARY | http URL (got ${mode})`);
}

function text(result) {
  return result.content.filter((block) => block.type === "text").map((block) => block.text).join("\n");
}

async function check(client, answer) {
  const what = `${answer.tool} (${answer.kind})`;
  let result;
  try {
    result = await client.callTool(
      { name: answer.tool, arguments: answer.arguments },
      undefined,
      { timeout: REQUEST_TIMEOUT_MS },
    );
  } catch (error) {
    throw new CheckFailed(`${what}: the SDK rejected the answer: ${error}`);
  }
  const wire = JSON.stringify(result);
  for (const secret of expected.never) {
    expect(!wire.includes(secret), `${what}: the answer holds ${JSON.stringify(secret)}: ${wire}`);
  }
  const shown = text(result);
  expect(shown.includes(answer.text), `${what}: the text does not say ${JSON.stringify(answer.text)}: ${shown}`);
  if (answer.category === undefined) {
    expect(result.isError !== true, `${what}: expected a success, got ${wire}`);
    for (const [field, value] of Object.entries(answer.structured)) {
      expect(result.structuredContent?.[field] === value, `${what}: structuredContent.${field} in ${wire}`);
    }
    return `${what} -> success, structuredContent ${JSON.stringify(result.structuredContent)}`;
  }
  expect(result.isError === true, `${what}: expected isError, got ${wire}`);
  expect(result.structuredContent === undefined, `${what}: an error with structuredContent: ${wire}`);
  const facts = result._meta?.[ERROR_META_KEY];
  expect(facts?.category === answer.category, `${what}: _meta category, expected ${answer.category}: ${wire}`);
  expect(
    typeof facts.incident_id === "string" && shown.includes(`incident ${facts.incident_id}`),
    `${what}: the text does not name the incident ${facts?.incident_id}: ${shown}`,
  );
  expect(
    typeof facts.retryable === "boolean" && typeof facts.caller_fault === "boolean",
    `${what}: retryable and caller_fault in ${wire}`,
  );
  if (answer.degraded) {
    expect(
      facts.degraded === true && Array.isArray(facts.available_tools) && facts.available_tools.includes("succeed"),
      `${what}: degraded and the read tools in ${wire}`,
    );
    expect(facts.retry_after_secs >= 1, `${what}: retry_after_secs in ${wire}`);
  }
  return `${what} -> isError, category ${facts.category}, text ${JSON.stringify(shown.slice(0, 90))}`;
}

async function run() {
  const client = new Client({ name: "secure-tool-answers-typescript", version: "0.1.0" });
  await client.connect(transport(), { timeout: REQUEST_TIMEOUT_MS });
  try {
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name).sort();
    const wanted = expected.answers.map((answer) => answer.tool).sort();
    expect(JSON.stringify(names) === JSON.stringify(wanted), `tools/list: ${names}, expected ${wanted}`);
    expect(tools.every((tool) => tool.outputSchema), "tools/list: every tool has an output schema");
    console.log(`${CLIENT}: ok: tools/list -> ${names.length} tools, each with an output schema`);
    for (const answer of expected.answers) {
      console.log(`${CLIENT}: ok: ${await check(client, answer)}`);
    }
    const noise = warnings.filter((line) => /unknown format|schema/i.test(line) && !line.startsWith(CLIENT));
    expect(noise.length === 0, `the SDK warned about the published schemas: ${noise.join(" | ")}`);
    console.log(`${CLIENT}: ok: no schema warning from the SDK's validator`);
  } finally {
    await client.close();
  }
}

try {
  await run();
  console.log(`${CLIENT}: all checks passed`);
} catch (error) {
  const message = error instanceof CheckFailed ? error.message : (error?.stack ?? String(error));
  console.log(`${CLIENT}: FAILED: ${message}`);
  process.exit(1);
}
