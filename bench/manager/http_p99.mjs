// Times the console's alert list requests through vigil-manager's HTTP API, one client with
// keep-alive: first pages under each filter and sort, pages 2-5 by cursor, a host's alerts, a
// rule's, a day's, a text search; and the dashboard's stats. Prints percentiles and METRIC lines.
//   node http_p99.mjs BASE PASSWORD REQUESTS SUFFIX
const [, , base, password, requestsArg, suffix = ""] = process.argv;
const requests = Number(requestsArg ?? 300);

async function call(path, token, init = {}) {
  const t0 = performance.now();
  const r = await fetch(base + path, { ...init, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });
  const body = await r.json();
  const ms = performance.now() - t0;
  if (!r.ok) throw new Error(`${path}: ${r.status} ${body.msg}`);
  return { ms, data: body.data };
}

const pct = (v, p) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : 0;
};

const token = (await call("/api/v1/auth/login", null, { method: "POST", body: JSON.stringify({ username: "admin", password }), headers: { "Content-Type": "application/json" } })).data.token;
const hosts = (await call("/api/v1/hosts?limit=200", token)).data.items.map((h) => h.agent_id);
const day = Date.now() - 24 * 3600 * 1000;
let seed = 7;
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
const kinds = {
  newest: () => "/api/v1/alerts?limit=50",
  severity_high_critical: () => "/api/v1/alerts?limit=50&severity=high,critical",
  critical_new: () => "/api/v1/alerts?limit=50&severity=critical&status=new",
  status_resolved: () => "/api/v1/alerts?limit=50&status=resolved",
  sort_severity: () => "/api/v1/alerts?limit=50&sort=severity",
  rule: () => `/api/v1/alerts?limit=50&rule_id=rule_${rnd(30)}`,
  host: () => `/api/v1/alerts?limit=50&agent_id=${hosts[rnd(hosts.length)]}`,
  last_day_open: () => `/api/v1/alerts?limit=50&from=${day}&status=new,confirmed&severity=medium,high`,
  text: () => `/api/v1/alerts?limit=50&q=${rnd(2) ? "curl" : "host-0001"}`,
};
const by = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
by.cursor_page = [];
by.stats_24h = [];
const all = [];
// One warm-up round (connections, the store's page cache), not counted.
for (const f of Object.values(kinds)) await call(f(), token);
let n = 0;
while (n < requests) {
  for (const [k, f] of Object.entries(kinds)) {
    const { ms, data } = await call(f(), token);
    by[k].push(ms);
    all.push(ms);
    n++;
    if (k === "newest") {
      let cursor = data.next_cursor;
      for (let p = 2; p <= 5 && cursor; p++) {
        const r = await call(`/api/v1/alerts?limit=50&cursor=${encodeURIComponent(cursor)}`, token);
        by.cursor_page.push(r.ms);
        all.push(r.ms);
        n++;
        cursor = r.data.next_cursor;
      }
    }
  }
  by.stats_24h.push((await call("/api/v1/alerts/stats", token)).ms);
}
console.log(`${"request (page of 50)".padEnd(26)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"max ms".padStart(8)} ${"n".padStart(5)}`);
for (const [k, v] of Object.entries(by)) {
  console.log(`${k.padEnd(26)} ${pct(v, 0.5).toFixed(2).padStart(8)} ${pct(v, 0.99).toFixed(2).padStart(8)} ${Math.max(...v).toFixed(2).padStart(8)} ${String(v.length).padStart(5)}`);
}
console.log(`METRIC manager_alert_list_p99_ms${suffix} ${pct(all, 0.99).toFixed(2)} ms`);
console.log(`METRIC manager_alert_list_p50_ms${suffix} ${pct(all, 0.5).toFixed(2)} ms`);
console.log(`METRIC manager_alert_stats_p99_ms${suffix} ${pct(by.stats_24h, 0.99).toFixed(2)} ms`);
