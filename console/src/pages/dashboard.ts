// Dashboard: hosts online/offline, alerts by severity over the last 24 h (chart), top rules and
// hosts, the newest alerts; new alerts and host changes arrive live.
import { Alert, ApiError, get } from "../api";
import { Bucket, severityChart } from "../chart";
import { SEVERITIES, clear, fmtTime, h, notice, sevBadge, statusBadge } from "../dom";
import { subscribe } from "../live";

interface Top {
  key: string;
  label: string;
  count: number;
}

interface Stats {
  by_severity: Record<string, number>;
  buckets: Bucket[];
  top_rules: Top[];
  top_hosts: Top[];
}

export function alertRow(a: Alert): HTMLElement {
  return h(
    "tr",
    { "data-alert": a.alert_id },
    h("td", null, sevBadge(a.severity)),
    h("td", null, h("a", { href: `/alerts/${encodeURIComponent(a.alert_id)}` }, a.rule_name || a.rule_id)),
    h("td", null, h("a", { href: `/hosts/${encodeURIComponent(a.agent_id)}` }, a.hostname || a.agent_id)),
    h("td", { class: "nowrap" }, fmtTime(a.time_ms)),
    h("td", null, statusBadge(a.status)),
  );
}

export function alertTable(alerts: Alert[], body: HTMLElement): HTMLElement {
  clear(body, alerts.map(alertRow));
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "list alerts" },
      h("thead", null, h("tr", null, h("th", null, "Severity"), h("th", null, "Rule"), h("th", null, "Host"), h("th", null, "Time"), h("th", null, "Status"))),
      body,
    ),
  );
}

export function dashboardPage(root: HTMLElement): () => void {
  const hostsBox = h("section", { class: "card stat hosts-stat" }, h("h2", null, "Hosts"), h("p", { class: "muted" }, "…"));
  const sevBox = h("section", { class: "card stat sev-stat" }, h("h2", null, "Alerts (24 h)"));
  const chartBox = h("section", { class: "card chart-card" }, h("h2", null, "Alerts by severity, last 24 h"));
  const rulesBox = h("section", { class: "card" }, h("h2", null, "Top rules"));
  const topHostsBox = h("section", { class: "card" }, h("h2", null, "Top hosts"));
  const recentBody = h("tbody");
  const recentBox = h("section", { class: "card wide" }, h("h2", null, "Newest alerts"), alertTable([], recentBody));
  clear(root, h("h1", null, "Dashboard"), h("div", { class: "grid" }, hostsBox, sevBox, chartBox, rulesBox, topHostsBox, recentBox));

  let stats: Stats | null = null;
  let counts = { online: 0, offline: 0 };

  const drawHosts = () =>
    clear(
      hostsBox,
      h("h2", null, "Hosts"),
      h(
        "div",
        { class: "figures" },
        h("a", { href: "/hosts?state=online", class: "figure online" }, h("b", { "data-testid": "hosts-online" }, counts.online), " online"),
        h("a", { href: "/hosts?state=offline", class: "figure offline" }, h("b", { "data-testid": "hosts-offline" }, counts.offline), " offline"),
      ),
    );
  const drawStats = () => {
    if (!stats) return;
    const total = SEVERITIES.reduce((n, s) => n + (stats!.by_severity[s] ?? 0), 0);
    clear(
      sevBox,
      h("h2", null, "Alerts (24 h)"),
      h("p", { class: "big", "data-testid": "alerts-24h" }, total),
      h(
        "ul",
        { class: "sev-list" },
        SEVERITIES.map((s) => h("li", null, h("a", { href: `/alerts?severity=${s}` }, sevBadge(s), " ", h("b", null, stats!.by_severity[s] ?? 0)))),
      ),
    );
    clear(chartBox, h("h2", null, "Alerts by severity, last 24 h"), severityChart(stats.buckets));
    const topList = (items: Top[], link: (t: Top) => string) =>
      items.length
        ? h("ol", { class: "top" }, items.map((t) => h("li", null, h("a", { href: link(t) }, t.label || t.key), h("span", { class: "count" }, t.count))))
        : h("p", { class: "muted" }, "No alerts.");
    clear(rulesBox, h("h2", null, "Top rules"), topList(stats.top_rules, (t) => `/alerts?rule_id=${encodeURIComponent(t.key)}`));
    clear(topHostsBox, h("h2", null, "Top hosts"), topList(stats.top_hosts, (t) => `/hosts/${encodeURIComponent(t.key)}`));
  };

  get<{ counts: { online: number; offline: number } }>("/api/v1/hosts?limit=1")
    .then((d) => {
      counts = d.counts;
      drawHosts();
    })
    .catch((e: ApiError) => clear(hostsBox, h("h2", null, "Hosts"), notice(e.message)));
  get<Stats>("/api/v1/alerts/stats?top=5")
    .then((d) => {
      stats = d;
      drawStats();
    })
    .catch((e: ApiError) => clear(chartBox, h("h2", null, "Alerts"), notice(e.message)));
  get<{ items: Alert[] }>("/api/v1/alerts?limit=10")
    .then((d) => clear(recentBody, d.items.map(alertRow)))
    .catch((e: ApiError) => clear(recentBox, h("h2", null, "Newest alerts"), notice(e.message)));

  const offAlert = subscribe("alert", (a: Alert) => {
    recentBody.insertBefore(alertRow(a), recentBody.firstChild);
    while (recentBody.children.length > 10) recentBody.lastElementChild!.remove();
    if (stats) {
      stats.by_severity[a.severity] = (stats.by_severity[a.severity] ?? 0) + 1;
      const last = stats.buckets[stats.buckets.length - 1];
      if (last && a.time_ms >= last.start_ms) last.counts[a.severity] = (last.counts[a.severity] ?? 0) + 1;
      drawStats();
    }
  });
  const known = new Map<string, boolean>();
  const offHost = subscribe("host", (host: { agent_id: string; online: boolean }) => {
    const before = known.get(host.agent_id);
    known.set(host.agent_id, host.online);
    if (before === host.online) return;
    // A change of state moves one host between the two figures; a new host adds one.
    get<{ counts: { online: number; offline: number } }>("/api/v1/hosts?limit=1").then((d) => {
      counts = d.counts;
      drawHosts();
    });
  });
  return () => {
    offAlert();
    offHost();
  };
}
