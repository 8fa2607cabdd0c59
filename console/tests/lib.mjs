// Shared pieces of the console's browser tests: skipping with a reason (exit 77, ctest's
// SKIP_RETURN_CODE), chromium through playwright-core (never a browser download), processes
// that are always stopped, loopback ports, screenshots under <build>/console/screenshots.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const SOURCE_DIR = process.env.VIGIL_SOURCE_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BUILD_DIR = path.resolve(SOURCE_DIR, process.env.VIGIL_BUILD_DIR ?? "build");
export const CHROMIUM = process.env.VIGIL_CHROMIUM ?? "/usr/bin/chromium";
export const SHOTS = path.join(BUILD_DIR, "console", "screenshots");
export const VIEWPORTS = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
];
// The flags BUILD-MACHINE.md gives for headless chromium here (playwright adds --headless and
// its own --user-data-dir).
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const cleanups = [];
export function onExit(fn) {
  cleanups.push(fn);
}
let exiting = false;
export async function finish(code) {
  if (exiting) return;
  exiting = true;
  // Each step is bounded, so that one stuck step cannot keep the others (vigilctl down) from
  // running.
  for (const fn of cleanups.reverse()) {
    let timer;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("took over 100 s")), 100000))),
      ]);
    } catch (e) {
      console.error(`cleanup: ${e.message}`);
    } finally {
      clearTimeout(timer);
    }
  }
  process.exit(code);
}
export function skip(reason) {
  console.log(`SKIP: ${reason}`);
  return finish(77);
}
// The whole test is bounded: past `seconds` everything is stopped and the test fails.
export function watchdog(seconds) {
  setTimeout(() => {
    console.error(`FAIL: the test did not finish within ${seconds} s`);
    finish(1);
  }, seconds * 1000).unref();
}
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => finish(1));

export function log(msg) {
  console.log(`[${new Date().toISOString().slice(11, 23)}] ${msg}`);
}

// playwright-core from console/node_modules and chromium on disk, else a skip.
export async function launchChromium() {
  if (!fs.existsSync(CHROMIUM)) return skip(`no chromium at ${CHROMIUM} (apt-get install chromium fonts-dejavu-core)`);
  let pw;
  try {
    pw = await import("playwright-core");
  } catch {
    return skip("playwright-core is not installed (cmake --build <build> --target console runs npm ci)");
  }
  const browser = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 30000 });
  onExit(() => browser.close());
  return browser;
}

export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onExit(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Runs a command to its end (bounded); resolves with {code, stdout, stderr}.
export function run(cmd, args, { timeoutMs = 120000, env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: String(e) });
    });
  });
}

// A long-running process, stopped with SIGTERM (then SIGKILL) when the test ends.
export function startProcess(name, cmd, args, logFile) {
  const out = fs.openSync(logFile, "a");
  const child = spawn(cmd, args, { stdio: ["ignore", out, out] });
  fs.closeSync(out);
  let exited = false;
  child.on("exit", () => (exited = true));
  onExit(
    () =>
      new Promise((resolve) => {
        if (exited) return resolve();
        const kill = setTimeout(() => child.kill("SIGKILL"), 10000);
        child.on("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  );
  child.exitedEarly = () => exited;
  return child;
}

export async function waitFor(what, fn, { timeoutMs = 20000, intervalMs = 200 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${last.message})` : ""}`);
}

// The manager's API with a token (for setting up and checking what the browser did).
export async function apiCall(base, method, p, token, body) {
  const r = await fetch(base + p, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const env = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${env.msg ?? ""}`);
  return env.data;
}

export async function apiLogin(base, username, password) {
  return (await apiCall(base, "POST", "/api/v1/auth/login", null, { username, password })).token;
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

// Logs in through the login page.
export async function loginUi(page, base, username, password) {
  await page.goto(base + "/", { waitUntil: "domcontentloaded" });
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForSelector("header.topbar", { timeout: 15000 });
}

// Goes to a page of the console through its menu (opening it first on a phone).
export async function viaMenu(page, label) {
  const toggle = page.locator("button.menu-toggle");
  if (await toggle.isVisible()) await toggle.click();
  await page.click(`nav.menu a:text-is("${label}")`);
}

export function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Runs the test body; any error fails the test after cleaning up.
export async function main(body) {
  try {
    await body();
    log("PASS");
    await finish(0);
  } catch (e) {
    console.error(`FAIL: ${e.stack ?? e}`);
    await finish(1);
  }
}
