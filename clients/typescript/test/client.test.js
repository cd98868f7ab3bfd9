// The TypeScript client against the real server (target/debug/promptrefine
// on a temporary SQLite database), with node's built-in test runner.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

import { Client, MissingVariables, Prompt, PromptRefineError } from "../src/index.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const binary = process.env.PROMPTREFINE_BIN ?? join(root, "target/debug/promptrefine");
const EMAIL = "admin@example.com";
const PASSWORD = "client-tests-password-42";

async function startServer() {
  if (!existsSync(binary)) throw new Error(`build the server first: ${binary} is missing`);
  const dir = mkdtempSync(join(tmpdir(), "pr-ts-"));
  const proc = spawn(binary, ["serve"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH, DATABASE_URL: `sqlite://${dir}/client-tests.db`, BIND: "127.0.0.1:0",
      LOG_FORMAT: "text", AUTH_ADMIN_EMAIL: EMAIL, AUTH_ADMIN_PASSWORD: PASSWORD,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const url = await new Promise((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`no listening line:\n${out}`)), 30_000);
    const read = (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    };
    proc.stdout.on("data", read);
    proc.stderr.on("data", read);
    proc.on("exit", () => fail(new Error(`the server exited:\n${out}`)));
  });
  const login = await fetch(`${url}/api/auth/login`, {
    method: "POST", headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
  });
  assert.equal(login.status, 200);
  const cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const made = await fetch(`${url}/api/tokens`, {
    method: "POST", headers: { "content-type": "application/json", origin: url, cookie },
    body: JSON.stringify({ name: "ts client tests" }),
  });
  assert.equal(made.status, 201, await made.clone().text());
  const token = (await made.json()).data.token;
  const stop = () => new Promise((r) => {
    if (proc.exitCode !== null) return r();
    proc.once("exit", r);
    proc.kill("SIGTERM");
  });
  return { url, token, stop, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); server.cleanup(); });

async function api(s, method, path, body) {
  const res = await fetch(`${s.url}${path}`, {
    method, headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

let n = 0;
async function makePrompt(s, content) {
  const r = await api(s, "POST", "/api/prompts", { title: `ts ${Date.now()} ${n++}`, type: "text", content });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.data;
}

const CASES = [
  ["Hello {{name}}!", { name: "Ada" }],
  ["{{ name }} and {{name}}", { name: "x" }],
  ["{{{name}}}", { name: "v" }],
  ["\\{{name}} stays", { name: "v" }],
  ["\\\\{{name}}", { name: "v" }],
  ['{"json": {{}}, "bad": {{ not valid! }}, "n": {{1st}}}', {}],
  ["{{customer.first_name}} {{_x}}", { "customer.first_name": "Bo", _x: "{{name}}" }],
  ["\\{{{name}}}", { name: "v" }],
  ["naïve {{ü}} {{a}}", { a: "ü" }],
];

test("render gives the server's answer for the same inputs", async () => {
  const c = new Client(server.url, server.token);
  for (const [template, values] of CASES) {
    const p = await makePrompt(server, template);
    const r = await api(server, "POST", `/api/prompts/${p.id}/render`, { variables: values });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const got = await c.getPrompt(p.slug);
    assert.equal(got.render(values), r.body.data.content, template);
  }
});

test("missing variables are named as the server names them", async () => {
  const p = await makePrompt(server, "{{b}} {{a}} {{b}} {{c}}");
  const r = await api(server, "POST", `/api/prompts/${p.id}/render`, { variables: { a: "1" } });
  assert.equal(r.status, 422);
  const serverNames = [...JSON.stringify(r.body).matchAll(/"variables\.([^"]+)"/g)].map((m) => m[1]);
  const got = await new Client(server.url, server.token).getPrompt(p.slug);
  assert.throws(() => got.render({ a: "1" }), (e) => e instanceof MissingVariables && e.names.join() === "b,c");
  assert.deepEqual([...new Set(serverNames)].sort(), ["b", "c"]);
});

test("getPrompt by label and by version, revalidated by ETag", async () => {
  const p = await makePrompt(server, "v1");
  await api(server, "POST", `/api/prompts/${p.id}/versions`, { content: "v2" });
  const put = await api(server, "PUT", `/api/prompts/${p.id}/labels/production`, { versionId: p.currentVersionId });
  assert.equal(put.status, 200);
  const c = new Client(server.url, server.token);
  assert.equal((await c.getPrompt(p.slug)).version, 2);
  const prod = await c.getPrompt(p.slug, { label: "production" });
  assert.deepEqual([prod.version, prod.label, prod.content], [1, "production", "v1"]);
  assert.equal((await c.getPrompt(p.slug, { version: 2 })).content, "v2");
  const again = await c.getPrompt(p.slug, { label: "production" });
  assert.equal(again.etag, prod.etag);
  await assert.rejects(c.getPrompt("no-such-prompt"), (e) => e instanceof PromptRefineError && e.status === 404);
});

test("stale on error within its bound, then the fallback on a cold start", async () => {
  const own = await startServer();
  const p = await makePrompt(own, "kept");
  const c = new Client(own.url, own.token, { staleFor: 2_000, timeout: 1_000 });
  await c.getPrompt(p.slug);
  await own.stop();
  own.cleanup();
  const stale = await c.getPrompt(p.slug);
  assert.deepEqual([stale.stale, stale.content], [true, "kept"]);
  c.cache.get(Client.key(p.slug)).fetchedAt -= 3_000;
  await assert.rejects(c.getPrompt(p.slug), PromptRefineError);
  const fallback = new Prompt({ slug: "greeting", content: "Hi {{name}}" });
  const cold = await c.getPrompt("greeting", { label: "production", fallback });
  assert.equal(cold.fromFallback, true);
  assert.equal(cold.render({ name: "Al" }), "Hi Al");
});

test("watch refreshes the cached copy on push", async () => {
  const p = await makePrompt(server, "w1");
  const c = new Client(server.url, server.token, { maxAge: 3_600_000 });
  assert.equal((await c.getPrompt(p.slug)).content, "w1");
  c.watch(p.slug);
  await new Promise((r) => setTimeout(r, 300));
  await api(server, "POST", `/api/prompts/${p.id}/versions`, { content: "w2" });
  const deadline = Date.now() + 5_000;
  while ((await c.getPrompt(p.slug)).content !== "w2") {
    assert.ok(Date.now() < deadline, "the push did not refresh the copy");
    await new Promise((r) => setTimeout(r, 50));
  }
  await c.close();
});
