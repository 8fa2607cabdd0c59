// The manager's REST API (docs/manager.md): envelope {code,msg,data}, bearer token kept in
// localStorage, a 401 sends the user back to the login page.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
  // A route the manager does not have (yet) or cannot serve now.
  get unavailable(): boolean {
    return this.status === 404 || this.status === 501 || this.status === 503;
  }
}

export interface Session {
  token: string;
  username: string;
  role: "admin" | "operator" | "read_only";
  expires_at_ms: number;
}

const KEY = "vigil.session";
let session: Session | null = load();
let onUnauthorized: () => void = () => {};

function load(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? "null") as Session | null;
    return s && s.expires_at_ms > Date.now() ? s : null;
  } catch {
    return null;
  }
}

export function currentSession(): Session | null {
  return session;
}

export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export function canOperate(): boolean {
  return session?.role === "admin" || session?.role === "operator";
}

export function isAdmin(): boolean {
  return session?.role === "admin";
}

function dropSession(): void {
  session = null;
  localStorage.removeItem(KEY);
}

export async function request(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (session) headers.Authorization = `Bearer ${session.token}`;
  let payload: BodyInit | undefined;
  if (typeof body === "string") {
    payload = body;
    headers["Content-Type"] = "application/yaml";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const r = await fetch(path, { method, headers, body: payload });
  if (r.status === 401 && session && !path.endsWith("/auth/login")) {
    dropSession();
    onUnauthorized();
  }
  return r;
}

// Calls the API and returns `data`; throws ApiError with the server's message otherwise.
export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  let r: Response;
  try {
    r = await request(method, path, body);
  } catch (e) {
    throw new ApiError(0, `the manager cannot be reached (${(e as Error).message})`);
  }
  let env: { code?: number; msg?: string; data?: T } | null = null;
  try {
    env = await r.json();
  } catch {
    /* not JSON: use the status */
  }
  if (!r.ok || !env || (env.code ?? 0) !== 0) {
    throw new ApiError(r.status, env?.msg ?? `${r.status} ${r.statusText}`);
  }
  return env.data as T;
}

export const get = <T = any>(path: string) => api<T>("GET", path);

export async function login(username: string, password: string): Promise<Session> {
  const d = await api<{ token: string; expires_at_ms: number; user: { username: string; role: Session["role"] } }>(
    "POST",
    "/api/v1/auth/login",
    { username, password },
  );
  session = { token: d.token, expires_at_ms: d.expires_at_ms, username: d.user.username, role: d.user.role };
  localStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export async function logout(): Promise<void> {
  try {
    await api("POST", "/api/v1/auth/logout");
  } catch {
    /* the session ends locally anyway */
  }
  dropSession();
}

// "a=1&b=x" from the non-empty members.
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

export interface List<T> {
  items: T[];
  next_cursor?: string;
}

export interface Host {
  agent_id: string;
  hostname: string;
  version: string;
  platform: string;
  intranet_ips: string[];
  extranet_ips: string[];
  first_seen_ms: number;
  last_heartbeat_ms: number;
  online: boolean;
  cpu_percent: number;
  rss_bytes: number;
  drops: number;
  plugins: any[];
  recent_alerts?: Alert[];
}

export interface Alert {
  alert_id: string;
  rule_id: string;
  rule_name: string;
  severity: string;
  mitre: string[];
  agent_id: string;
  hostname: string;
  data_type: number;
  argv: string;
  time_ms: number;
  status: string;
  status_comment: string;
  updated_by: string;
  updated_at_ms: number;
  process_tree?: { pid: string; exe: string; argv: string }[];
  description?: string;
  suggestion?: string;
  alert?: Record<string, any>;
}
