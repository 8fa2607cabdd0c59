// Alerts: the list (filters, pages, export, new alerts live) and one alert (raw record, process
// tree, MITRE ids, description and suggestion, status workflow, whitelist from the alert).
import { Alert, ApiError, List, api, canOperate, get, query, request } from "../api";
import { SEVERITIES, STATUSES, clear, field, fmtTime, h, kv, notice, sevBadge, statusBadge } from "../dom";
import { subscribe } from "../live";
import { Pager } from "../pager";
import { alertRow, alertTable } from "./dashboard";

function toMs(local: string): string {
  const t = local ? new Date(local).getTime() : NaN;
  return Number.isFinite(t) ? String(t) : "";
}

function toLocal(ms: string | null): string {
  if (!ms) return "";
  const d = new Date(Number(ms));
  if (!Number.isFinite(d.getTime())) return "";
  const z = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return z.toISOString().slice(0, 16);
}

function choice(name: string, values: readonly string[], current: string | null): HTMLSelectElement {
  const s = h("select", { name }, h("option", { value: "" }, "any"), values.map((v) => h("option", { value: v }, v.replace("_", " "))));
  s.value = current ?? "";
  return s;
}

async function download(path: string, name: string, msg: HTMLElement): Promise<void> {
  const r = await request("GET", path);
  if (!r.ok) {
    let text = `${r.status} ${r.statusText}`;
    try {
      text = (await r.json()).msg ?? text;
    } catch {
      /* keep the status */
    }
    clear(msg, notice(r.status === 404 ? "Export is not available on this manager." : text));
    return;
  }
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function alertsPage(root: HTMLElement, _p: string[], q: URLSearchParams): () => void {
  const severity = choice("severity", SEVERITIES, q.get("severity"));
  const status = choice("status", STATUSES, q.get("status"));
  const rule = h("input", { name: "rule_id", placeholder: "rule id", value: q.get("rule_id") ?? "" });
  const host = h("input", { name: "agent_id", placeholder: "agent id", value: q.get("agent_id") ?? "" });
  const from = h("input", { name: "from", type: "datetime-local", value: toLocal(q.get("from")) });
  const to = h("input", { name: "to", type: "datetime-local", value: toLocal(q.get("to")) });
  const search = h("input", { name: "q", type: "search", placeholder: "rule, host, command line", value: q.get("q") ?? "" });
  const body = h("tbody");
  const pager = new Pager();
  const pagerBox = h("div");
  const msg = h("div");
  const filters = () => ({
    severity: severity.value,
    status: status.value,
    rule_id: rule.value.trim(),
    agent_id: host.value.trim(),
    from: toMs(from.value),
    to: toMs(to.value),
    q: search.value.trim(),
  });
  const load = async () => {
    clear(msg);
    history.replaceState(null, "", "/alerts" + query(filters()));
    try {
      const d = await get<List<Alert>>("/api/v1/alerts" + query({ ...filters(), limit: 50, cursor: pager.cursor }));
      pager.next = d.next_cursor ?? "";
      clear(body, d.items.length ? d.items.map(alertRow) : h("tr", { class: "empty" }, h("td", { colspan: 5, class: "muted" }, "No alerts.")));
      clear(pagerBox, pager.controls(load));
    } catch (e) {
      clear(msg, notice((e as ApiError).message));
    }
  };
  const stopWatching = pager.watch(load, [severity, status, from, to], [rule, host, search]);
  const exportBtn = (format: string) =>
    h(
      "button",
      { class: "btn", onclick: () => download(`/api/v1/alerts/export${query({ ...filters(), format })}`, `alerts.${format}`, msg) },
      `Export ${format.toUpperCase()}`,
    );
  clear(
    root,
    h("h1", null, "Alerts"),
    h(
      "div",
      { class: "filters" },
      field("Severity", severity),
      field("Status", status),
      field("Rule", rule),
      field("Host", host),
      field("From", from),
      field("To", to),
      field("Search", search),
    ),
    h("div", { class: "actions" }, exportBtn("csv"), exportBtn("json")),
    msg,
    alertTable([], body),
    pagerBox,
  );
  load();
  const off = subscribe("alert", (a: Alert) => {
    // New alerts go on top of the first page when they pass the filters that can be checked here.
    const f = filters();
    if (pager.page !== 1 || f.q || f.from || f.to) return;
    if ((f.severity && f.severity !== a.severity) || (f.status && f.status !== a.status)) return;
    if ((f.rule_id && f.rule_id !== a.rule_id) || (f.agent_id && f.agent_id !== a.agent_id)) return;
    if (body.querySelector(`tr[data-alert="${CSS.escape(a.alert_id)}"]`)) return;
    body.querySelector("tr.empty")?.remove();
    const row = alertRow(a);
    row.classList.add("fresh");
    body.insertBefore(row, body.firstChild);
  });
  return () => {
    off();
    stopWatching();
  };
}

// The lineage from the alerting process (first) to its oldest ancestor, drawn as a tree rooted
// at the ancestor.
function processTree(nodes: { pid: string; exe: string; argv: string }[]): HTMLElement {
  if (!nodes.length) return h("p", { class: "muted" }, "No process tree in this alert.");
  let inner: HTMLElement | null = null;
  nodes.forEach((n, i) => {
    const item = h(
      "li",
      { class: i === 0 ? "culprit" : null },
      h("span", { class: "node" }, h("b", null, n.pid), " ", h("span", { class: "mono" }, n.exe), n.argv ? h("span", { class: "argv mono" }, n.argv) : null),
      inner ? h("ul", null, inner) : null,
    );
    inner = item;
  });
  return h("ul", { class: "tree", "data-testid": "process-tree" }, inner);
}

function mitreLinks(ids: string[]): HTMLElement | string {
  if (!ids?.length) return "-";
  return h(
    "span",
    null,
    ids.map((id) => {
      const path = id.replace(".", "/");
      const kind = id.startsWith("TA") ? "tactics" : "techniques";
      return h("a", { class: "mitre", href: `https://attack.mitre.org/${kind}/${path}/`, target: "_blank", rel: "noopener" }, id);
    }),
  );
}

export function alertPage(root: HTMLElement, [id]: string[]): void {
  const box = h("div");
  clear(root, h("p", null, h("a", { href: "/alerts" }, "‹ Alerts")), box);
  const draw = (a: Alert) => {
    const workflowMsg = h("div");
    const next = h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s }, s.replace("_", " "))));
    next.value = a.status === "new" ? "confirmed" : a.status;
    const comment = h("input", { name: "comment", placeholder: "comment (optional)" });
    const save = h("button", { class: "btn primary", type: "submit", disabled: !canOperate() }, "Set status");
    const workflow = h(
      "form",
      {
        class: "workflow",
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          save.disabled = true;
          try {
            const updated = await api<Alert>("PATCH", `/api/v1/alerts/${encodeURIComponent(a.alert_id)}`, { status: next.value, comment: comment.value });
            draw({ ...a, ...(updated ?? {}), status: updated?.status ?? next.value, status_comment: updated?.status_comment ?? comment.value });
          } catch (e) {
            clear(workflowMsg, notice((e as ApiError).message));
            save.disabled = false;
          }
        },
      },
      field("Status", next),
      field("Comment", comment),
      save,
      workflowMsg,
    );
    const fields: Record<string, string> = (a.alert?.fields as Record<string, string>) ?? {};
    const wlMsg = h("div");
    const checks = Object.keys(fields)
      .sort()
      .map((k) => h("label", { class: "check" }, h("input", { type: "checkbox", value: k, checked: ["exe", "argv"].includes(k) }), h("span", { class: "mono" }, k), h("span", { class: "muted small" }, String(fields[k]).slice(0, 80))));
    const wlComment = h("input", { name: "wl-comment", placeholder: "why this is expected" });
    const whitelist = h(
      "form",
      {
        class: "whitelist",
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          const chosen = checks.map((c) => c.querySelector("input")!).filter((i) => i.checked).map((i) => i.value);
          if (!chosen.length) {
            clear(wlMsg, notice("Choose at least one field."));
            return;
          }
          try {
            const r = await api<{ alert?: Alert }>("POST", `/api/v1/alerts/${encodeURIComponent(a.alert_id)}/whitelist`, { fields: chosen, comment: wlComment.value });
            if (r?.alert) draw({ ...a, ...r.alert });
            box.querySelector(".whitelist")?.append(notice("Whitelisted: alerts with these field values will no longer be raised.", "info"));
          } catch (e) {
            const err = e as ApiError;
            clear(wlMsg, notice(err.status === 404 && err.message.startsWith("no such path") ? "Whitelisting is not available on this manager." : err.message));
          }
        },
      },
      h("div", { class: "checks" }, checks.length ? checks : h("p", { class: "muted" }, "This alert has no fields.")),
      field("Comment", wlComment),
      h("button", { class: "btn", type: "submit", disabled: !canOperate() || !checks.length }, "Whitelist"),
      wlMsg,
    );
    clear(
      box,
      h("h1", null, sevBadge(a.severity), " ", a.rule_name || a.rule_id),
      h(
        "div",
        { class: "grid two" },
        h(
          "section",
          { class: "card" },
          kv([
            ["Status", h("span", { "data-testid": "alert-status" }, statusBadge(a.status))],
            ["Host", h("a", { href: `/hosts/${encodeURIComponent(a.agent_id)}` }, a.hostname || a.agent_id)],
            ["Time", fmtTime(a.time_ms)],
            ["Rule", h("span", { class: "mono" }, a.rule_id)],
            ["MITRE ATT&CK", mitreLinks(a.mitre)],
            ["Command line", h("span", { class: "mono" }, a.argv || "-")],
            ["Data type", String(a.data_type)],
            ["Last change", a.updated_by ? `${a.updated_by}, ${fmtTime(a.updated_at_ms)}${a.status_comment ? ": " + a.status_comment : ""}` : "-"],
          ]),
        ),
        h(
          "section",
          { class: "card" },
          h("h2", null, "Description"),
          h("p", null, a.description || "-"),
          h("h2", null, "Suggestion"),
          h("p", null, a.suggestion || "-"),
        ),
      ),
      h("section", { class: "card" }, h("h2", null, "Process tree"), processTree(a.process_tree ?? [])),
      h("section", { class: "card" }, h("h2", null, "Status"), workflow),
      h("section", { class: "card" }, h("h2", null, "Whitelist from this alert"), whitelist),
      h("section", { class: "card" }, h("details", null, h("summary", null, "Raw record"), h("pre", { class: "raw" }, JSON.stringify(a.alert ?? a, null, 2)))),
    );
  };
  get<Alert>(`/api/v1/alerts/${encodeURIComponent(id)}`)
    .then(draw)
    .catch((e: ApiError) => clear(box, notice(e.status === 404 ? `No alert ${id}.` : e.message)));
}
