// A real service for the tests: gunicorn from the repository's virtual environment (or the one
// NSFW_TEST_GUNICORN names), on loopback, with the thresholds tests/clients/conftest.py explains:
// chelsea.png is adult, camera_gray.png unknown, coffee_224x224.png safe. NSFW_MAX_BATCH=3.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const IMAGES = join(ROOT, "tests", "data", "images");
export const ADULT = join(IMAGES, "chelsea.png");
export const UNKNOWN = join(IMAGES, "camera_gray.png");
export const SAFE = join(IMAGES, "coffee_224x224.png");
export const MAX_BATCH = 3;

export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A loopback address where nothing listens: the service is down. */
export async function nowhere() {
  return `http://127.0.0.1:${await freePort()}`;
}

async function waitUntilReady(proc, base, output) {
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`gunicorn exited: ${output.join("")}`);
    try {
      if ((await fetch(`${base}/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  proc.kill("SIGKILL");
  throw new Error(`gunicorn did not become ready: ${output.join("")}`);
}

/** Starts the service; `stop()` stops it and removes its temporary directory. */
export async function startService({ env = {}, fetchPort = null, apiKey = null } = {}) {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "nsfw-client-js-"));
  const tmp = join(dir, "spool");
  await mkdir(tmp);
  const environ = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NSFW_")));
  Object.assign(environ, {
    PORT: String(port),
    WEB_CONCURRENCY: "1",
    NSFW_DECODERS: "1",
    NSFW_TMP_DIR: tmp,
    NSFW_ADULT_THRESHOLD: "0.05",
    NSFW_SAFE_THRESHOLD: "0.02",
    NSFW_MAX_BATCH: String(MAX_BATCH),
  });
  Object.assign(environ, env);
  if (fetchPort !== null) Object.assign(environ, { NSFW_FETCH_ALLOW_NETS: "127.0.0.1/32", NSFW_FETCH_ALLOW_PORTS: String(fetchPort) });
  const keys = join(dir, "keys");
  if (apiKey) {
    await writeFile(keys, `tests:${createHash("sha256").update(apiKey).digest("hex")}\n`);
    environ.NSFW_API_KEYS_FILE = keys;
  }
  const gunicorn = process.env.NSFW_TEST_GUNICORN ?? join(ROOT, ".venv", "bin", "gunicorn");
  const proc = spawn(gunicorn, ["app:app"], { cwd: ROOT, env: environ, stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  proc.stdout.on("data", (chunk) => output.push(chunk));
  proc.stderr.on("data", (chunk) => output.push(chunk));
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  const base = `http://127.0.0.1:${port}`;
  await waitUntilReady(proc, base, output);
  return {
    base,
    async stop() {
      proc.kill("SIGTERM");
      const code = await exited;
      const left = await readdir(tmp);
      await rm(dir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`gunicorn exited ${code}: ${output.join("")}`);
      if (left.length) throw new Error(`the service left files behind: ${left}`);
    },
  };
}

/** An HTTP server on loopback serving the three images at /adult.png, /unknown.png and /safe.png. */
export async function imageServer() {
  const files = { "/adult.png": ADULT, "/unknown.png": UNKNOWN, "/safe.png": SAFE };
  const server = createServer(async (req, res) => {
    const path = files[req.url];
    if (!path) return res.writeHead(404).end();
    res.writeHead(200, { "Content-Type": "image/png" }).end(await readFile(path));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { port, url: (path) => `http://127.0.0.1:${port}${path}`, close: () => new Promise((r) => server.close(r)) };
}
