// Tasks: create one for chosen hosts (data_type, plugin, data), the list, and each host's result.
import { Host, List, api, canOperate, get, query } from "../api";
import { clear, field, fmtTime, h, notice, onlineBadge } from "../dom";
import { navigate } from "../nav";
import { failure, table } from "./common";

interface Task {
  task_id: string;
  agent_ids?: string[];
  data_type: number;
  name?: string;
  object_name?: string;
  data?: string;
  payload?: string;
  created_by: string;
  created_at_ms: number;
  status_counts?: Record<string, number>;
  results?: { agent_id: string; hostname?: string; status: string; result?: unknown; result_json?: string; time_ms: number }[];
}

const counts = (t: Task) =>
  Object.entries(t.status_counts ?? {})
    .map(([k, v]) => `${v} ${k}`)
    .join(", ") || "-";

export function tasksPage(root: HTMLElement): void {
  const listBox = h("div");
  const formBox = h("div");
  clear(root, h("h1", null, "Tasks"), formBox, h("section", { class: "card" }, h("h2", null, "Tasks"), listBox));

  const loadList = () =>
    get<List<Task>>("/api/v1/tasks?limit=100")
      .then((d) =>
        clear(
          listBox,
          table(d.items, [
            ["Task", (t) => h("a", { href: `/tasks/${encodeURIComponent(t.task_id)}` }, t.task_id)],
            ["Plugin", (t) => t.name ?? t.object_name ?? ""],
            ["Type", (t) => String(t.data_type)],
            ["Hosts", (t) => String(t.agent_ids?.length ?? "")],
            ["Results", counts],
            ["Created", (t) => `${fmtTime(t.created_at_ms)} by ${t.created_by}`],
          ], "No tasks yet."),
        ),
      )
      .catch((e) => clear(listBox, failure(e, "Tasks")));
  loadList();
  if (!canOperate()) return;

  const hostChecks = h("div", { class: "checks hosts-pick" }, h("p", { class: "muted" }, "Loading hosts…"));
  get<List<Host>>("/api/v1/hosts" + query({ state: "online", limit: 200 }))
    .then((d) =>
      clear(
        hostChecks,
        d.items.length
          ? d.items.map((x) => h("label", { class: "check" }, h("input", { type: "checkbox", value: x.agent_id }), x.hostname || x.agent_id, " ", onlineBadge(x.online)))
          : h("p", { class: "muted" }, "No host is online."),
      ),
    )
    .catch((e) => clear(hostChecks, failure(e, "Hosts")));
  // The data_type a plugin understands (the example plugin: 9101); no default that could be
  // sent to a plugin by mistake.
  const dataType = h("input", { name: "data_type", type: "number", min: "1", required: true, placeholder: "e.g. 9101" });
  const plugin = h("input", { name: "name", required: true, placeholder: "plugin, e.g. example" });
  const data = h("textarea", { name: "data", rows: 3, placeholder: "task data (JSON or text for the plugin)" });
  const msg = h("div");
  clear(
    formBox,
    h(
      "form",
      {
        class: "card task-form",
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          const agent_ids = [...hostChecks.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value);
          if (!agent_ids.length) {
            clear(msg, notice("Choose at least one host."));
            return;
          }
          try {
            const t = await api<Task>("POST", "/api/v1/tasks", { agent_ids, data_type: Number(dataType.value), name: plugin.value.trim(), data: data.value });
            if (t?.task_id) navigate(`/tasks/${encodeURIComponent(t.task_id)}`);
            else loadList();
          } catch (e) {
            clear(msg, failure(e, "Tasks"));
          }
        },
      },
      h("h2", null, "New task"),
      h("div", { class: "filters" }, field("Data type", dataType), field("Plugin", plugin)),
      field("Data", data),
      h("h3", null, "Hosts"),
      hostChecks,
      msg,
      h("button", { class: "btn primary", type: "submit" }, "Send task"),
    ),
  );
}

// A 5100 result's message (its token and status are shown already); other results as JSON.
function resultText(result: unknown): string {
  if (result === null || result === undefined) return "";
  if (typeof result !== "object") return String(result);
  const msg = (result as { msg?: unknown }).msg;
  return typeof msg === "string" ? msg : JSON.stringify(result);
}

export function taskPage(root: HTMLElement, [id]: string[]): () => void {
  const box = h("div");
  clear(root, h("p", null, h("a", { href: "/tasks" }, "‹ Tasks")), box);
  const load = () =>
    get<Task>(`/api/v1/tasks/${encodeURIComponent(id)}`)
      .then((t) =>
        clear(
          box,
          h("h1", null, `Task ${t.task_id}`),
          h("p", null, `${t.name ?? t.object_name}, data_type ${t.data_type}, by ${t.created_by} at ${fmtTime(t.created_at_ms)}: ${counts(t)}`),
          h("pre", { class: "raw" }, t.data ?? t.payload ?? ""),
          h(
            "section",
            { class: "card" },
            h("h2", null, "Results by host"),
            table(t.results ?? [], [
              ["Host", (r) => h("a", { href: `/hosts/${encodeURIComponent(r.agent_id)}` }, r.hostname || r.agent_id)],
              ["Status", (r) => h("span", { class: `badge task-${r.status}` }, r.status)],
              ["Time", (r) => fmtTime(r.time_ms)],
              ["Result", (r) => h("span", { class: "mono small" }, resultText(r.result ?? r.result_json))],
            ], "No results yet."),
          ),
        ),
      )
      .catch((e) => clear(box, failure(e, "Tasks")));
  load();
  const timer = window.setInterval(load, 5000);
  return () => window.clearInterval(timer);
}
