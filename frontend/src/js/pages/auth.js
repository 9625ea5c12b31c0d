// Log in and sign up (POST /auth/login, POST /auth/signup); the JWT goes to sessionStorage.
// A signed-in user on the sign-up page is offered the developer role on the same account instead
// (POST /account/developer, which answers with a fresh token carrying the role).
import { api, session, setSession } from "../api.js";
import { actionButton, field, formError, h, mount, setFieldError } from "../dom.js";

function safeNext(query) {
  const next = query.get("next") || "";
  return /^\/[A-Za-z0-9/_?=&.-]*$/.test(next) ? next : "/";
}

/** "Become a developer" for the signed-in user: the same account, a fresh token with the new role. */
export function becomeDeveloperPanel(navigate) {
  const current = session();
  const errors = h("div", {});
  return h("div", { class: "card form narrow", "aria-labelledby": "become-dev-title" },
    h("h2", { id: "become-dev-title" }, "Publish plugins too"),
    h("p", {}, `You are signed in as ${current.user.email}. Becoming a developer keeps this account, its installs, keys and usage, and adds the developer dashboard and publishing.`),
    errors,
    h("div", { class: "actions" }, actionButton("Become a developer", async () => {
      mount(errors);
      try {
        setSession(await api.post("/account/developer"));
        navigate("/developer");
      } catch (error) {
        mount(errors, formError(error));
      }
    }, { class: "primary" })));
}

export function render(container, { mode, query, navigate }) {
  const signup = mode === "signup";
  const current = session();
  if (signup && current && current.user.role === "user") {
    mount(container, h("h1", {}, "Become a developer"), becomeDeveloperPanel(navigate));
    return;
  }
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = h("input", {
    type: "password", name: "password", required: true,
    autocomplete: signup ? "new-password" : "current-password", minlength: signup ? 10 : null,
  });
  const errors = h("div", { class: "form-errors" });
  const submit = h("button", { type: "submit", class: "primary" }, signup ? "Create account" : "Log in");
  const roleFieldset = signup
    ? h("fieldset", { class: "radio-group" },
      h("legend", {}, "I want to"),
      h("label", {}, h("input", { type: "radio", name: "role", value: "user", checked: true }), " use plugins"),
      h("label", {}, h("input", { type: "radio", name: "role", value: "developer" }), " publish plugins (developer account)"))
    : null;

  const form = h("form", { class: "card form narrow", novalidate: true },
    field("E-mail", email),
    field("Password", password, { hint: signup ? "At least 10 characters." : "" }),
    roleFieldset,
    errors,
    h("div", { class: "actions" }, submit));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mount(errors);
    setFieldError(email, "");
    setFieldError(password, "");
    let invalid = false;
    if (!email.value.trim() || !email.checkValidity()) {
      setFieldError(email, "Enter your e-mail address.");
      invalid = true;
    }
    if (!password.value || (signup && password.value.length < 10)) {
      setFieldError(password, signup ? "Choose a password of at least 10 characters." : "Enter your password.");
      invalid = true;
    }
    if (invalid) {
      form.querySelector("[aria-invalid=true]").focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = signup ? "Creating account…" : "Logging in…";
    try {
      const body = { email: email.value.trim(), password: password.value };
      if (signup) body.role = form.querySelector("input[name=role]:checked").value;
      const result = signup
        ? await api.post("/auth/signup", body, { auth: false })
        : await api.post("/auth/login", body, { auth: false });
      setSession(result);
      navigate(safeNext(query));
    } catch (error) {
      mount(errors, formError(error));
      submit.disabled = false;
      submit.textContent = signup ? "Create account" : "Log in";
    }
  });

  mount(container,
    h("h1", {}, signup ? "Create your account" : "Log in"),
    h("p", { class: "lead" }, signup
      ? "Install API mocks of real services and call them with your marketplace key."
      : "Welcome back to the MockFactory Marketplace."),
    form,
    h("p", { class: "switch" }, signup ? "Already have an account? " : "New here? ",
      h("a", { href: signup ? `#/login${query.toString() ? `?${query}` : ""}` : `#/signup${query.toString() ? `?${query}` : ""}` },
        signup ? "Log in" : "Create an account")));
}
