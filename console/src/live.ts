// Live updates: one EventSource on /api/v1/events (server-sent events `alert` and `host`) while
// logged in. Pages subscribe and get their unsubscribe function back. When the manager has no
// event stream (404) or it drops, the header says so and a new try follows after a pause.
import { currentSession } from "./api";

type Listener = (data: any) => void;
const listeners: Record<string, Set<Listener>> = { alert: new Set(), host: new Set() };
let source: EventSource | null = null;
let retry: number | undefined;
let stateListener: (state: "live" | "connecting" | "off") => void = () => {};

export function onLiveState(fn: (state: "live" | "connecting" | "off") => void): void {
  stateListener = fn;
}

export function subscribe(kind: "alert" | "host", fn: Listener): () => void {
  listeners[kind].add(fn);
  return () => listeners[kind].delete(fn);
}

function dispatch(kind: string, ev: MessageEvent): void {
  let data: any;
  try {
    data = JSON.parse(ev.data);
  } catch {
    return;
  }
  for (const fn of listeners[kind] ?? []) {
    try {
      fn(data);
    } catch (e) {
      console.error(e);
    }
  }
}

export function startLive(): void {
  stopLive();
  const s = currentSession();
  if (!s || typeof EventSource === "undefined") return;
  stateListener("connecting");
  const es = new EventSource(`/api/v1/events?token=${encodeURIComponent(s.token)}`);
  source = es;
  es.onopen = () => stateListener("live");
  es.addEventListener("alert", (ev) => dispatch("alert", ev as MessageEvent));
  es.addEventListener("host", (ev) => dispatch("host", ev as MessageEvent));
  // The session ended (expiry, logout elsewhere): the next API call goes back to the login page.
  es.addEventListener("session_expired", () => stopLive());
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // Refused (404, 401, 503): try again later rather than hammering the manager.
      stateListener("off");
      source = null;
      retry = window.setTimeout(startLive, 30000);
    } else {
      stateListener("connecting");
    }
  };
}

export function stopLive(): void {
  if (retry !== undefined) window.clearTimeout(retry);
  retry = undefined;
  source?.close();
  source = null;
  stateListener("off");
}
