// Installing a plugin, from the catalog or its page: the user sees and accepts the
// permissions it asks for, then POST /plugins/install with that consent.
import { api, enc, session } from "./api.js";
import { announce, confirmDialog, h } from "./dom.js";

const PERMISSION_TEXT = {
  "storage:read": "read the data it keeps for you",
  "storage:write": "store data for you",
  "webhooks:send": "send webhooks to the URL you set",
  "licensing:read": "read your licence for it",
};

export function permissionList(permissions) {
  if (!permissions || !permissions.length) return h("p", {}, "It asks for no permissions.");
  return h("ul", { class: "permissions" }, permissions.map((p) => h("li", {},
    h("code", {}, p), PERMISSION_TEXT[p] ? ` — ${PERMISSION_TEXT[p]}` : "")));
}

/** Resolves the install view, or null when the user cancelled (or must log in first). */
export async function installPlugin(plugin, { navigate, detail } = {}) {
  if (!session()) {
    navigate("/login", { next: `/plugins/${plugin}` });
    return null;
  }
  const info = detail || await api.get(`/marketplace/plugins/${enc(plugin)}`, undefined, { auth: false });
  const ok = await confirmDialog({
    title: `Install ${info.display_name}?`,
    body: h("div", {}, h("p", {}, `${info.display_name} ${info.latest_version} will be able to:`), permissionList(info.permissions)),
    confirm: "Accept and install",
  });
  if (!ok) return null;
  const installed = await api.post("/plugins/install", { plugin, accept_permissions: info.permissions || [] });
  announce(`${info.display_name} is installed. Call it at ${installed.base_path}.`, "success");
  return installed;
}

/** The names the signed-in user has installed (empty when signed out). */
export async function installedNames() {
  if (!session()) return new Set();
  const data = await api.get("/plugins/installed");
  return new Set(data.installs.map((i) => i.plugin));
}
