// Browser test (a): vigil-manager on a temp SQLite store seeded with synthetic hosts and alerts
// (vigil-manager-seed), the console in headless chromium at 1280x800 and 390x844: log in,
// dashboard (figures, chart), hosts (filter, search, detail), alerts (filter, detail with the
// process tree, MITRE link), resolve an alert (checked through the API and the audit log), a
// reload on a client-side route. Screenshots: <build>/console/screenshots/<viewport>-*.png.
import fs from "node:fs";
import path from "node:path";
import {
  BUILD_DIR,
  VIEWPORTS,
  apiCall,
  apiLogin,
  check,
  freePort,
  launchChromium,
  log,
  loginUi,
  main,
  run,
  shot,
  startProcess,
  tempDir,
  viaMenu,
  waitFor,
  watchdog,
} from "./lib.mjs";

const PASSWORD = "console-test-pw-1";

main(async () => {
  watchdog(240);
  const bin = path.join(BUILD_DIR, "bin");
  for (const f of [path.join(bin, "vigil-manager"), path.join(bin, "vigil-manager-seed"), path.join(BUILD_DIR, "console/dist/index.html")]) {
    check(fs.existsSync(f), `${f} is missing: build the targets vigil-manager, vigil-manager-seed and console`);
  }
  const browser = await launchChromium();
  const dir = tempDir("vigil-console-test-");
  const store = `sqlite://${dir}/manager.db`;
  log("seeding the store");
  const seeded = await run(path.join(bin, "vigil-manager-seed"), ["--url", store, "--alerts", "5000", "--hosts", "60", "--days", "2"]);
  check(seeded.code === 0, `vigil-manager-seed failed: ${seeded.stderr}`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const manager = startProcess("manager", path.join(bin, "vigil-manager"), ["--store", store, "--listen", `127.0.0.1:${port}`, "--admin-password", PASSWORD], path.join(dir, "manager.log"));
  await waitFor("the manager's /healthz", async () => {
    check(!manager.exitedEarly(), `vigil-manager exited: ${fs.readFileSync(path.join(dir, "manager.log"), "utf8")}`);
    return (await fetch(base + "/healthz")).ok;
  });
  const token = await apiLogin(base, "admin", PASSWORD);

  // The console's files as served: HTML at /, hashed assets cached for good, JSON 404 under /api.
  const index = await fetch(base + "/hosts/some-host");
  check(index.status === 200 && index.headers.get("content-type").startsWith("text/html"), "client routes are index.html");
  const html = await index.text();
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  check(asset, "index.html names its script");
  const js = await fetch(base + asset);
  check(js.headers.get("content-type").startsWith("text/javascript"), `content type of ${asset}`);
  check(/immutable/.test(js.headers.get("cache-control") ?? ""), "hashed assets are immutable");
  check((await fetch(base + "/api/v1/nothing")).status === 404, "no index.html under /api");

  const counts = (await apiCall(base, "GET", "/api/v1/hosts?limit=1", token)).counts;
  const target = (await apiCall(base, "GET", "/api/v1/alerts?severity=critical&status=new&limit=2", token)).items;
  check(target.length === 2, "the seeded store has new critical alerts");

  for (const [i, vp] of VIEWPORTS.entries()) {
    log(`viewport ${vp.name} ${vp.width}x${vp.height}`);
    const context = await browser.newContext({ viewport: { width: vp.width, height: vp.height } });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));

    // Login (a wrong password first: the form says so).
    await page.goto(base + "/", { waitUntil: "domcontentloaded" });
    await page.fill("input[name=username]", "admin");
    await page.fill("input[name=password]", "wrong-password");
    await page.click("button[type=submit]");
    await page.waitForSelector(".notice.error");
    await loginUi(page, base, "admin", PASSWORD);

    // Dashboard: the host figures match the API, the chart has bars, top rules are listed.
    await page.waitForSelector("[data-testid=hosts-online]");
    const online = Number(await page.textContent("[data-testid=hosts-online]"));
    const offline = Number(await page.textContent("[data-testid=hosts-offline]"));
    check(online === counts.online && offline === counts.offline, `dashboard hosts ${online}/${offline}, API ${counts.online}/${counts.offline}`);
    await page.waitForSelector("svg.chart rect.bar");
    check((await page.locator("svg.chart rect.bar").count()) > 5, "the chart has bars");
    check((await page.locator("ol.top li").count()) > 0, "top rules and hosts are listed");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `no horizontal scrolling on the dashboard (${overflow}px too wide)`);
    await shot(page, `${vp.name}-dashboard`);

    // Hosts: offline filter, search, a host's detail.
    await viaMenu(page, "Hosts");
    await page.waitForSelector("table.hosts tbody tr[data-host]");
    await page.selectOption("select[name=state]", "offline");
    await waitFor("offline hosts only", async () => {
      const states = await page.locator("table.hosts tbody tr[data-host] .state").allTextContents();
      return states.length > 0 && states.every((s) => s === "offline");
    });
    await page.selectOption("select[name=state]", "any");
    await page.fill("input[name=prefix]", "host-0000");
    await waitFor("the search result", async () => {
      const names = await page.locator("table.hosts tbody tr[data-host] td:first-child").allTextContents();
      return names.length > 0 && names.every((n) => n.startsWith("host-0000"));
    });
    await shot(page, `${vp.name}-hosts`);
    await page.click("table.hosts tbody tr[data-host] a");
    await page.waitForSelector("h1 .badge");
    check((await page.textContent("main")).includes("driver"), "the host page lists its plugins");
    await shot(page, `${vp.name}-host`);

    // Alerts: filter by severity, open one, its process tree, MITRE id.
    await viaMenu(page, "Alerts");
    await page.waitForSelector("table.alerts tbody tr[data-alert]");
    await page.selectOption("select[name=severity]", "critical");
    await waitFor("critical alerts only", async () => {
      const sev = await page.locator("table.alerts tbody tr[data-alert] td:first-child").allTextContents();
      return sev.length > 0 && sev.every((s) => s === "critical");
    });
    check(page.url().includes("severity=critical"), "the filter is in the address");
    await shot(page, `${vp.name}-alerts`);
    const alert = target[i];
    await page.goto(`${base}/alerts/${encodeURIComponent(alert.alert_id)}`);  // a reload on a client route
    await page.waitForSelector("[data-testid=process-tree]");
    const tree = page.locator("[data-testid=process-tree] li");
    check((await tree.count()) === 3, "the process tree has 3 processes");
    check((await page.textContent("[data-testid=process-tree] li.culprit .node")).includes("/usr/bin/bash"), "the alerting process is marked");
    check((await page.textContent("[data-testid=process-tree] > li > .node")).includes("systemd"), "the tree is rooted at the oldest ancestor");
    check(await page.locator("a.mitre:text-is('T1059.004')").count(), "MITRE id linked");
    check((await page.textContent("main")).includes("A shell or network tool"), "description shown");
    await shot(page, `${vp.name}-alert`);

    // Resolve it with a comment.
    await page.selectOption("form.workflow select[name=status]", "resolved");
    await page.fill("form.workflow input[name=comment]", `checked from the ${vp.name} test`);
    await page.click("form.workflow button[type=submit]");
    await page.waitForSelector("[data-testid=alert-status] .st-resolved");
    const after = await apiCall(base, "GET", `/api/v1/alerts/${encodeURIComponent(alert.alert_id)}`, token);
    check(after.status === "resolved" && after.status_comment === `checked from the ${vp.name} test`, `alert resolved through the API view: ${after.status}`);
    const audit = await apiCall(base, "GET", "/api/v1/audit?action=alert.status&limit=10", token);
    check(audit.items.some((e) => e.target === alert.alert_id), "the change is in the audit log");
    await shot(page, `${vp.name}-alert-resolved`);

    check(errors.length === 0, `page errors: ${errors.join("; ")}`);
    await context.close();
  }
  log(`screenshots in ${path.join(BUILD_DIR, "console/screenshots")}`);
});
