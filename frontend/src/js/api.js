// The one module that talks to the marketplace API. The base URL comes from config.json
// (written by the build / deploy next to index.html); the session (JWT from /auth/login or
// /auth/signup) lives in sessionStorage. Error bodies {code, message, request_id, details}
// become ApiError, whose message is what the page shows.

const SESSION_KEY = "mf.session";
let config = null;

export class ApiError extends Error {
  constructor({ status, code, message, requestId, details }) {
    super(message || "Something went wrong.");
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.details = details;
  }
}

export async function loadConfig() {
  if (config) return config;
  const response = await fetch("config.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const data = await response.json();
  config = { apiUrl: String(data.api_url || "").replace(/\/+$/, "") };
  return config;
}

export function apiUrl() {
  return config ? config.apiUrl : "";
}

// --- session ------------------------------------------------------------------------------
export function session() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const data = JSON.parse(raw);
    if (data.expiresAt && Date.now() > data.expiresAt) {
      sessionStorage.removeItem(SESSION_KEY);
      return null;
    }
    return data;
  } catch {
    return null;
  }
}

export function setSession(auth) {
  const data = {
    token: auth.access_token,
    user: auth.user,
    expiresAt: auth.expires_in ? Date.now() + (auth.expires_in - 30) * 1000 : null,
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(data));
  window.dispatchEvent(new CustomEvent("session-changed"));
  return data;
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
  window.dispatchEvent(new CustomEvent("session-changed"));
}

export function role() {
  const current = session();
  return current ? current.user.role : null;
}

// --- requests -----------------------------------------------------------------------------
function buildQuery(query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export async function request(method, path, { body, query, auth = true } = {}) {
  await loadConfig();
  const headers = { Accept: "application/json" };
  const current = session();
  if (auth && current) headers.Authorization = `Bearer ${current.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`${config.apiUrl}${path}${buildQuery(query)}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (cause) {
    throw new ApiError({ status: 0, code: "network_error",
      message: "The marketplace API cannot be reached. Check your connection and try again." });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError({
      status: response.status,
      code: (data && data.code) || `http_${response.status}`,
      message: (data && data.message) || `The API answered ${response.status} ${response.statusText}.`,
      requestId: (data && data.request_id) || response.headers.get("X-Request-Id"),
      details: data && data.details,
    });
    if (response.status === 401 && auth && current) {
      clearSession();  // expired or revoked token, or a disabled account: the router sends the user to log in
      error.message = error.code === "account_disabled" ? "This account has been disabled."
        : "Your session has ended. Please log in again.";
    }
    throw error;
  }
  return data;
}

export const api = {
  get: (path, query, opts) => request("GET", path, { query, ...opts }),
  post: (path, body, opts) => request("POST", path, { body: body === undefined ? {} : body, ...opts }),
  put: (path, body, opts) => request("PUT", path, { body, ...opts }),
  del: (path, opts) => request("DELETE", path, opts),
};

export const enc = encodeURIComponent;
