// Vigil console: the shell (header, navigation, live indicator) and the client-side router.
// Pages are functions that render into the main element and may return a cleanup function.
import "./style.css";
import { currentSession, isAdmin, logout, setUnauthorizedHandler } from "./api";
import { clear, h } from "./dom";
import { onLiveState, startLive, stopLive } from "./live";
import { navigate, setRenderer } from "./nav";
import { alertPage, alertsPage } from "./pages/alerts";
import { dashboardPage } from "./pages/dashboard";
import { hostPage, hostsPage } from "./pages/hosts";
import { loginPage } from "./pages/login";
import { rulesPage } from "./pages/rules";
import { servicesPage } from "./pages/services";
import { taskPage, tasksPage } from "./pages/tasks";
import { usersPage } from "./pages/users";

export type Page = (root: HTMLElement, params: string[], query: URLSearchParams) => (() => void) | void;

const routes: [RegExp, Page][] = [
  [/^\/$/, dashboardPage],
  [/^\/hosts$/, hostsPage],
  [/^\/hosts\/([^/]+)$/, hostPage],
  [/^\/alerts$/, alertsPage],
  [/^\/alerts\/([^/]+)$/, alertPage],
  [/^\/tasks$/, tasksPage],
  [/^\/tasks\/([^/]+)$/, taskPage],
  [/^\/rules$/, rulesPage],
  [/^\/users$/, usersPage],
  [/^\/services$/, servicesPage],
];

const nav: [string, string, () => boolean][] = [
  ["/", "Dashboard", () => true],
  ["/hosts", "Hosts", () => true],
  ["/alerts", "Alerts", () => true],
  ["/tasks", "Tasks", () => true],
  ["/rules", "Rules", () => true],
  ["/users", "Users", isAdmin],
  ["/services", "Services", () => true],
];

const app = document.getElementById("app")!;
let cleanup: (() => void) | void;
let liveDot: HTMLElement | null = null;


function shell(main: HTMLElement): HTMLElement {
  const s = currentSession()!;
  const here = location.pathname;
  liveDot = h("span", { title: "live updates", "data-testid": "live" });
  drawLive();
  const menu = h(
    "nav",
    { class: "menu", id: "menu" },
    nav
      .filter(([, , show]) => show())
      .map(([href, label]) =>
        h(
          "a",
          {
            href,
            class: (href === "/" ? here === "/" : here.startsWith(href)) ? "active" : null,
          },
          label,
        ),
      ),
  );
  return h(
    "div",
    { class: "layout" },
    h(
      "header",
      { class: "topbar" },
      h("a", { href: "/", class: "brand" }, "Vigil"),
      h(
        "button",
        {
          class: "btn menu-toggle",
          "aria-label": "menu",
          onclick: () => menu.classList.toggle("open"),
        },
        "☰",
      ),
      menu,
      h(
        "div",
        { class: "who" },
        liveDot,
        h("span", { class: "user" }, `${s.username} (${s.role.replace("_", "-")})`),
        h(
          "button",
          {
            class: "btn link",
            onclick: async () => {
              stopLive();
              await logout();
              navigate("/login");
            },
          },
          "Log out",
        ),
      ),
    ),
    main,
  );
}

// The header is drawn again on every page; the stream's state outlives it.
let liveState: "live" | "connecting" | "off" = "off";
function drawLive(): void {
  if (!liveDot) return;
  liveDot.className = `live is-${liveState}`;
  liveDot.textContent = liveState === "live" ? "live" : liveState === "connecting" ? "connecting" : "offline";
}
onLiveState((state) => {
  liveState = state;
  drawLive();
});

function render(): void {
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const q = new URLSearchParams(location.search);
  if (!currentSession()) {
    stopLive();
    liveDot = null;
    const main = h("main", { class: "login-main" });
    clear(app, main);
    cleanup = loginPage(main, [], q);
    return;
  }
  if (path === "/login") {
    navigate(q.get("next") || "/", true);
    return;
  }
  const main = h("main", { class: "content" });
  clear(app, shell(main));
  for (const [re, page] of routes) {
    const m = re.exec(path);
    if (m) {
      cleanup = page(main, m.slice(1).map(decodeURIComponent), q);
      return;
    }
  }
  clear(main, h("h1", null, "Not found"), h("p", null, h("a", { href: "/" }, "Back to the dashboard")));
}

// Same-origin links are handled here, not by a page load.
document.addEventListener("click", (ev) => {
  const a = (ev.target as HTMLElement).closest("a");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/") || a.target || a.hasAttribute("download")) return;
  ev.preventDefault();
  navigate(href);
});
window.addEventListener("popstate", render);
setRenderer(render);
setUnauthorizedHandler(() => {
  stopLive();
  navigate(`/login?next=${encodeURIComponent(location.pathname)}`, true);
});

if (currentSession()) startLive();
render();
