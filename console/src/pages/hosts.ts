// Hosts: the list (online/offline filter, hostname search, pages) and one host (plugins and
// their state with a restart per plugin, newest alerts, delete when offline). Host state changes arrive live.
import { ApiError, Host, List, api, canOperate, get, query } from "../api";
import { clear, field, fmtAgo, fmtBytes, fmtTime, h, kv, notice, onlineBadge } from "../dom";
import { subscribe } from "../live";
import { navigate } from "../nav";
import { Pager } from "../pager";
import { alertTable } from "./dashboard";

function hostRow(x: Host): HTMLElement {
  return h(
    "tr",
    { "data-host": x.agent_id },
    h("td", null, h("a", { href: `/hosts/${encodeURIComponent(x.agent_id)}` }, x.hostname || x.agent_id)),
    h("td", { class: "state" }, onlineBadge(x.online)),
    h("td", { class: "hide-narrow" }, (x.intranet_ips ?? []).join(", ")),
    h("td", { class: "hide-narrow" }, x.version),
    h("td", { class: "nowrap" }, fmtAgo(x.last_heartbeat_ms)),
  );
}

export function hostsPage(root: HTMLElement, _p: string[], q: URLSearchParams): () => void {
  const state = h(
    "select",
    { name: "state" },
    ["any", "online", "offline"].map((s) => h("option", { value: s }, s)),
  );
  state.value = q.get("state") ?? "any";
  const search = h("input", { type: "search", name: "prefix", placeholder: "hostname starts with…", value: q.get("prefix") ?? "" });
  const counts = h("p", { class: "muted" });
  const body = h("tbody");
  const pager = new Pager();
  const pagerBox = h("div");
  const msg = h("div");

  const load = async () => {
    clear(msg);
    const params = { state: state.value === "any" ? "" : state.value, prefix: search.value.trim() };
    history.replaceState(null, "", "/hosts" + query(params));
    try {
      const d = await get<List<Host> & { counts: { online: number; offline: number } }>(
        "/api/v1/hosts" + query({ ...params, limit: 50, cursor: pager.cursor }),
      );
      pager.next = d.next_cursor ?? "";
      clear(counts, `${d.counts.online} online, ${d.counts.offline} offline`);
      clear(body, d.items.length ? d.items.map(hostRow) : h("tr", null, h("td", { colspan: 5, class: "muted" }, "No hosts.")));
      clear(pagerBox, pager.controls(load));
    } catch (e) {
      clear(msg, notice((e as ApiError).message));
    }
  };
  const stopWatching = pager.watch(load, [state], [search]);
  clear(
    root,
    h("h1", null, "Hosts"),
    h("div", { class: "filters" }, field("State", state), field("Search", search)),
    counts,
    msg,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "list hosts" },
        h("thead", null, h("tr", null, h("th", null, "Host"), h("th", null, "State"), h("th", { class: "hide-narrow" }, "Addresses"), h("th", { class: "hide-narrow" }, "Version"), h("th", null, "Last heartbeat"))),
        body,
      ),
    ),
    pagerBox,
  );
  load();
  const off = subscribe("host", (x: Host) => {
    const row = body.querySelector(`tr[data-host="${CSS.escape(x.agent_id)}"]`);
    if (row && x.hostname !== undefined) row.replaceWith(hostRow(x));
    else if (row) clear(row.querySelector(".state")!, onlineBadge(x.online));
  });
  return () => {
    off();
    stopWatching();
  };
}

// Restarts one plugin on this host (agent task 1061) and links the task, whose page shows the
// host's 5100 result.
async function restartPlugin(agentId: string, plugin: string, out: HTMLElement): Promise<void> {
  clear(out, notice(`Restarting ${plugin}…`, "info"));
  try {
    const t = await api<{ task_id: string; results?: { status: string; result?: { msg?: string } }[] }>(
      "POST",
      "/api/v1/tasks/plugin-restart",
      { agent_ids: [agentId], plugin },
    );
    const r = t.results?.[0];
    clear(
      out,
      h(
        "p",
        { class: "notice info", role: "status" },
        `Restart of ${plugin}: task `,
        h("a", { class: "mono", href: `/tasks/${encodeURIComponent(t.task_id)}` }, t.task_id),
        ` ${r?.status ?? ""}${r?.result?.msg ? ` (${r.result.msg})` : ""}; its page shows the host's result.`,
      ),
    );
  } catch (e) {
    clear(out, notice(`Restart of ${plugin}: ${(e as ApiError).message}`));
  }
}

function pluginTable(plugins: any[], agentId: string, out: HTMLElement): HTMLElement {
  if (!plugins.length) return h("p", { class: "muted" }, "No plugin has reported.");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "list" },
      h("thead", null, h("tr", null, h("th", null, "Plugin"), h("th", null, "Version"), h("th", null, "State"), h("th", null, "Details"), h("th", null, ""))),
      h(
        "tbody",
        null,
        plugins.map((p) => {
          const { name, version, state, status, ...rest } = p ?? {};
          const details = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
            .join(" ");
          const restart = h(
            "button",
            {
              class: "btn small",
              "data-restart": name ?? "",
              disabled: !name || !canOperate(),
              title: canOperate() ? `stop ${name} and start it again (task 1061)` : "operators only",
              onclick: () => {
                if (confirm(`Restart plugin ${name} on this host?`)) restartPlugin(agentId, name, out);
              },
            },
            "Restart",
          );
          return h("tr", null, h("td", null, name ?? "?"), h("td", null, version ?? ""), h("td", null, state ?? status ?? ""), h("td", { class: "mono small" }, details), h("td", null, restart));
        }),
      ),
    ),
  );
}

export function hostPage(root: HTMLElement, [id]: string[]): () => void {
  const box = h("div");
  const taskOut = h("div"); // kept across redraws: the last plugin restart's task
  clear(root, h("p", null, h("a", { href: "/hosts" }, "‹ Hosts")), box);
  const draw = (x: Host) => {
    const del = h(
      "button",
      {
        class: "btn danger",
        disabled: x.online || !canOperate(),
        title: x.online ? "only offline hosts can be deleted" : null,
        onclick: async () => {
          if (!confirm(`Delete host ${x.hostname || x.agent_id}?`)) return;
          try {
            await api("DELETE", "/api/v1/hosts/offline", { agent_ids: [x.agent_id] });
            navigate("/hosts");
          } catch (e) {
            box.prepend(notice((e as ApiError).message));
          }
        },
      },
      "Delete host",
    );
    clear(
      box,
      h("h1", null, x.hostname || x.agent_id, " ", onlineBadge(x.online)),
      h(
        "section",
        { class: "card" },
        kv([
          ["Agent id", h("span", { class: "mono" }, x.agent_id)],
          ["Platform", x.platform],
          ["Version", x.version],
          ["Intranet", (x.intranet_ips ?? []).join(", ")],
          ["Extranet", (x.extranet_ips ?? []).join(", ")],
          ["First seen", fmtTime(x.first_seen_ms)],
          ["Last heartbeat", `${fmtTime(x.last_heartbeat_ms)} (${fmtAgo(x.last_heartbeat_ms)})`],
          ["Agent CPU", `${(x.cpu_percent ?? 0).toFixed(1)} %`],
          ["Agent memory", fmtBytes(x.rss_bytes)],
          ["Drops", String(x.drops ?? 0)],
        ]),
        h("div", { class: "actions" }, del),
      ),
      h("section", { class: "card" }, h("h2", null, "Plugins"), taskOut, pluginTable(x.plugins ?? [], x.agent_id, taskOut)),
      h(
        "section",
        { class: "card" },
        h("h2", null, "Newest alerts ", h("a", { class: "small", href: `/alerts?agent_id=${encodeURIComponent(x.agent_id)}` }, "all")),
        alertTable(x.recent_alerts ?? [], h("tbody")),
      ),
    );
  };
  let current: Host | null = null;
  get<Host>(`/api/v1/hosts/${encodeURIComponent(id)}`)
    .then((x) => {
      current = x;
      draw(x);
    })
    .catch((e: ApiError) => clear(box, notice(e.status === 404 ? `No host ${id}.` : e.message)));
  const off = subscribe("host", (x: Host) => {
    if (!current || x.agent_id !== current.agent_id) return;
    current = { ...current, ...x, recent_alerts: current.recent_alerts };
    draw(current);
  });
  return off;
}
