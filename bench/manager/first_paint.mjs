// The console's first paint in headless chromium: after a login, the dashboard is loaded RUNS
// times in fresh tabs; prints each load's first-contentful-paint and the time until its data
// are drawn, and METRIC console_first_paint_ms (the worst load, the first with a cold cache).
//   node first_paint.mjs SOURCE_DIR BASE PASSWORD [RUNS]
const [, , source, base, password, runsArg] = process.argv;
const runs = Number(runsArg ?? 5);
const { chromium } = await import(`${source}/console/node_modules/playwright-core/index.mjs`);
const browser = await chromium.launch({
  executablePath: process.env.VIGIL_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // The session comes from an API login, so that the first dashboard load is a cold one.
  const r = await fetch(`${base}/api/v1/auth/login`, { method: "POST", body: JSON.stringify({ username: "admin", password }) });
  const d = (await r.json()).data;
  const session = { token: d.token, expires_at_ms: d.expires_at_ms, username: d.user.username, role: d.user.role };
  await context.addInitScript((s) => localStorage.setItem("vigil.session", s), JSON.stringify(session));
  const fcps = [];
  for (let i = 0; i < runs; i++) {
    const page = await context.newPage();
    await page.goto(base + "/", { waitUntil: "domcontentloaded" });
    await page.waitForSelector("[data-testid=alerts-24h]", { timeout: 30000 });
    await page.waitForSelector("svg.chart", { timeout: 30000 });
    const t = await page.evaluate(() => ({
      fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1,
      ready: performance.now(),
      bytes: performance.getEntriesByType("resource").reduce((n, e) => n + (e.transferSize || 0), 0),
    }));
    console.log(`load ${i + 1}: first-contentful-paint ${t.fcp.toFixed(0)} ms, dashboard drawn ${t.ready.toFixed(0)} ms, ${t.bytes} bytes transferred`);
    fcps.push(t.fcp);
    await page.close();
  }
  console.log(`METRIC console_first_paint_ms ${Math.max(...fcps).toFixed(0)} ms`);
} finally {
  await browser.close();
}
