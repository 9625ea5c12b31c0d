"""SendGrid v3 mock: Mail Send, Email Activity and the Event Webhook.

Point the official ``sendgrid`` Python SDK at the gateway with
``SendGridAPIClient(api_key=<mf_live_/mf_test_ key>, host=<gateway base URL>)``:
the SDK appends ``/v3/...`` itself, so this plugin serves SendGrid's own paths
(``/v3/mail/send``, ``/v3/messages``, ``/v3/user/webhooks/event/settings``).

Every error comes back in SendGrid's shape,
``{"errors": [{"message": ..., "field": ...}]}``, so the SDK
(python_http_client) raises its own ``BadRequestsError`` / ``NotFoundError``.

State (all per user, and separately for sandbox ``mf_test_`` keys):

* ``mails/<X-Message-Id>``: every accepted request body, as sent (mock-only
  read back: ``GET /v3/mock/sent``);
* ``messages/<msg_id>``: one Email Activity record per recipient
  (``GET /v3/messages``, ``GET /v3/messages/{msg_id}``);
* ``settings/event_webhook``: the Event Webhook settings;
* ``meta/seq``: a counter that orders the above newest first.

"Delivery" is immediate: each recipient is ``processed`` then ``delivered``,
except addresses in the reserved ``.invalid`` top-level domain (RFC 2606),
which ``bounce``. When the Event Webhook is enabled, each send posts one JSON
array of SendGrid-shaped events to its URL (through the platform's outbox).
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from mocklib_plugin_sdk import (BadRequestError, MethodNotAllowedError, NotFoundError, Plugin, Request, Response,
                                endpoint)

HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
# Email Activity names the API key a message was sent with; the marketplace key never reaches
# the plugin, so every message carries this one id.
API_KEY_ID = "MockFactoryKey"
EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$")
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000

MAILS = "mails"
MESSAGES = "messages"
SETTINGS = "settings"
META = "meta"

WEBHOOK_FLAGS = ("group_resubscribe", "delivered", "group_unsubscribe", "spam_report", "bounce", "deferred",
                 "unsubscribe", "processed", "open", "click", "dropped")
DEFAULT_WEBHOOK: dict[str, Any] = {"enabled": False, "url": "", **{flag: False for flag in WEBHOOK_FLAGS},
                                   "oauth_client_id": "", "oauth_token_url": ""}
ACTIVITY_FIELDS = ("from_email", "msg_id", "subject", "to_email", "status", "opens_count", "clicks_count",
                   "last_event_time")
QUERY_CLAUSE = re.compile(r'^\s*(?P<name>[a-z_]+)\s*=\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>\S+))\s*$')
BOUNCE_REASON = "550 5.1.1 The email account that you tried to reach does not exist."


class SendGridError(Exception):
    """Answered as ``{"errors": [...]}`` with ``status``."""

    def __init__(self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
        super().__init__(errors[0]["message"] if errors else "error")
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def error(message: str, field: str | None = None, help: str | None = None) -> dict[str, Any]:
    """One item of SendGrid's ``errors``. ``help`` names the page of SendGrid's docs about the error;
    it is not sent: the live API puts a URL string there, but SendGrid's OpenAPI document types
    ``help`` as an object, and the mock answers what the document describes (README, "Fidelity")."""
    return {"message": message, "field": field}


def errors_response(status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None) -> Response:
    return Response.json({"errors": errors}, status=status, headers=headers)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _address(value: Any) -> str | None:
    """The e-mail of a ``{"email": ..., "name": ...}`` object, or None if malformed."""
    if isinstance(value, dict) and isinstance(value.get("email"), str):
        return value["email"]
    return None


def _valid(email: str | None) -> bool:
    return email is not None and len(email) <= 320 and EMAIL.match(email) is not None


def _non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def validate_mail(body: Any) -> list[dict[str, Any]]:
    """Every problem of a v3 mail/send body, in SendGrid's words and field paths."""
    if not isinstance(body, dict):
        return [error("Bad Request")]
    problems: list[dict[str, Any]] = []
    has_template = _non_empty_string(body.get("template_id"))

    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(error("The personalizations field is required and must have at least one "
                              "personalization.", "personalizations", f"{HELP}#-Personalizations-Errors"))
        personalizations = []
    elif len(personalizations) > MAX_PERSONALIZATIONS:
        problems.append(error(f"The personalizations field is limited to {MAX_PERSONALIZATIONS} personalizations "
                              f"per API request. You have included {len(personalizations)} personalizations.",
                              "personalizations", f"{HELP}#-Personalizations-Errors"))
    total = 0
    for i, personalization in enumerate(personalizations):
        if not isinstance(personalization, dict):
            problems.append(error("Each personalization must be an object.", f"personalizations.{i}",
                                  f"{HELP}#-Personalizations-Errors"))
            continue
        to = personalization.get("to")
        if not isinstance(to, list) or not to:
            problems.append(error("The to array is required for all personalization objects, and must have at "
                                  "least one email object with a valid email address.",
                                  f"personalizations.{i}.to", f"{HELP}#message.personalizations.to"))
        seen: set[str] = set()
        duplicate_reported = False
        for kind in ("to", "cc", "bcc"):
            recipients = personalization.get(kind)
            if recipients is None or (kind == "to" and not isinstance(recipients, list)):
                continue
            if not isinstance(recipients, list):
                problems.append(error(f"The {kind} field must be an array of email objects.",
                                      f"personalizations.{i}.{kind}", f"{HELP}#message.personalizations.{kind}"))
                continue
            for j, recipient in enumerate(recipients):
                total += 1
                email = _address(recipient)
                if not _valid(email):
                    problems.append(error("Does not contain a valid address.",
                                          f"personalizations.{i}.{kind}.{j}.email",
                                          f"{HELP}#message.personalizations.{kind}"))
                    continue
                assert email is not None
                if email.lower() in seen and not duplicate_reported:
                    duplicate_reported = True
                    problems.append(error(
                        "Each email address in the personalization block should be unique between to, cc, and "
                        f"bcc. We found the first duplicate instance of [{email}] in the "
                        f"personalizations.{i}.{kind} field.", f"personalizations.{i}",
                        f"{HELP}#message.recipient-errors"))
                seen.add(email.lower())
        if "from" in personalization and not _valid(_address(personalization.get("from"))):
            problems.append(error("The from email does not contain a valid address.",
                                  f"personalizations.{i}.from.email", f"{HELP}#message.from"))
    if total > MAX_RECIPIENTS:
        problems.append(error(f"The total number of recipients must be less than {MAX_RECIPIENTS}. This includes all "
                              "recipients defined within the to, cc, and bcc parameters, across each object that "
                              "you include in the personalizations array.", "personalizations",
                              f"{HELP}#message.recipient-errors"))

    every_personalization = bool(personalizations) and all(isinstance(p, dict) for p in personalizations)
    sender = body.get("from")
    if sender is None:
        if not (every_personalization and all("from" in p for p in personalizations)):
            problems.append(error(
                "The from object must be provided for every email send. It is an object that requires the email "
                'parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or '
                '{"email" : "example@example.com", "name" : "Example Recipient"}.', "from.email",
                f"{HELP}#message.from"))
    elif not _valid(_address(sender)):
        problems.append(error("The from email does not contain a valid address.", "from.email",
                              f"{HELP}#message.from"))
    if "reply_to" in body and body["reply_to"] is not None and not _valid(_address(body["reply_to"])):
        problems.append(error("The reply_to email does not contain a valid address.", "reply_to.email",
                              f"{HELP}#message.reply_to"))

    if not has_template and not _non_empty_string(body.get("subject")):
        if not (every_personalization and all(_non_empty_string(p.get("subject")) for p in personalizations)):
            problems.append(error("The subject is required. You can get around this requirement if you use a "
                                  "template with a subject defined or if every personalization has a subject "
                                  "defined.", "subject", f"{HELP}#message.subject"))

    content = body.get("content")
    if content is None or content == []:
        if not has_template:
            problems.append(error("Unless a valid template_id is provided, the content parameter is required. There "
                                  "must be at least one defined content block. We typically suggest both "
                                  "text/plain and text/html blocks are included, but only one block is required.",
                                  "content", f"{HELP}#message.content"))
    elif not isinstance(content, list):
        problems.append(error("The content field must be an array of content objects.", "content",
                              f"{HELP}#message.content"))
    else:
        types: list[str] = []
        for i, block in enumerate(content):
            block = block if isinstance(block, dict) else {}
            if not _non_empty_string(block.get("type")):
                problems.append(error("The content type must be a string at least one character in length.",
                                      f"content.{i}.type", f"{HELP}#message.content.type"))
            else:
                types.append(block["type"].strip().lower())
            if not isinstance(block.get("value"), str) or block["value"] == "":
                problems.append(error("The content value must be a string at least one character in length.",
                                      f"content.{i}.value", f"{HELP}#message.content.value"))
        if types.count("text/plain") > 1 or types.count("text/html") > 1:
            problems.append(error("If present, text/plain and text/html may only be provided once.", "content",
                                  f"{HELP}#message.content"))
        else:
            expected = [t for t in ("text/plain", "text/html") if t in types]
            if types[:len(expected)] != expected:
                problems.append(error("If present, text/plain must be first, followed by text/html, followed by "
                                      "any other content.", "content", f"{HELP}#message.content"))

    attachments = body.get("attachments")
    if isinstance(attachments, list):
        for i, attachment in enumerate(attachments):
            attachment = attachment if isinstance(attachment, dict) else {}
            if not _non_empty_string(attachment.get("content")):
                problems.append(error("The attachment content is required.", f"attachments.{i}.content",
                                      f"{HELP}#message.attachments.content"))
            if not _non_empty_string(attachment.get("filename")):
                problems.append(error("The attachment filename parameter is required.", f"attachments.{i}.filename",
                                      f"{HELP}#message.attachments.filename"))
    elif attachments is not None:
        problems.append(error("The attachments field must be an array.", "attachments",
                              f"{HELP}#message.attachments"))
    return problems


def sandbox_mode(body: dict[str, Any]) -> bool:
    settings = body.get("mail_settings")
    mode = settings.get("sandbox_mode") if isinstance(settings, dict) else None
    return isinstance(mode, dict) and mode.get("enable") is True


def parse_activity_query(query: str) -> list[tuple[str, str]]:
    """The small subset of the Email Activity query language the mock understands:
    ``field="value"`` clauses joined by ``AND`` (fields: msg_id, from_email,
    to_email, subject, status)."""
    clauses: list[tuple[str, str]] = []
    if not query.strip():
        return clauses
    for part in re.split(r"\s+AND\s+", query.strip(), flags=re.IGNORECASE):
        match = QUERY_CLAUSE.match(part)
        if match is None or match["name"] not in ("msg_id", "from_email", "to_email", "subject", "status"):
            raise SendGridError(400, [error(f"invalid query clause: {part.strip()!r}; this mock supports "
                                            'field="value" clauses (msg_id, from_email, to_email, subject, '
                                            "status) joined by AND", "query")])
        clauses.append((match["name"], match["quoted"] if match["quoted"] is not None else match["bare"]))
    return clauses


class SendGridPlugin(Plugin):
    # --- plumbing -----------------------------------------------------------------------
    def handle_request(self, request: Request) -> Response:
        """Every error in SendGrid's ``{"errors": [...]}`` shape, routing misses included."""
        try:
            return super().handle_request(request)
        except SendGridError as exc:
            return errors_response(exc.status, exc.errors, exc.headers)
        except MethodNotAllowedError as exc:
            return errors_response(405, [error("method not allowed")], {"Allow": ", ".join(exc.allowed)})
        except NotFoundError:
            return errors_response(404, [error("resource not found")])
        except BadRequestError:
            return errors_response(400, [error("Bad Request")])

    def _json(self, request: Request) -> Any:
        try:
            return json.loads(request.body) if request.body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SendGridError(400, [error("Bad Request")]) from None

    def _next_seq(self) -> int:
        seq = int(self.sdk.storage.get(META, "seq", {"value": 0})["value"]) + 1
        self.sdk.storage.put(META, "seq", {"value": seq})
        return seq

    def _webhook_settings(self) -> dict[str, Any]:
        return {**DEFAULT_WEBHOOK, **self.sdk.storage.get(SETTINGS, "event_webhook", {})}

    # --- Mail Send ------------------------------------------------------------------------
    @endpoint("POST", "/v3/mail/send")
    def send_mail(self, request: Request) -> Response:
        body = self._json(request)
        problems = validate_mail(body)
        if problems:
            raise SendGridError(400, problems)
        if sandbox_mode(body):
            # Validated, then nothing sent. SendGrid's docs say the live API answers 200 here; its
            # OpenAPI document, which this mock is held to, documents only 202 for mail send, the
            # status every non-sandbox send gets in production too (README, "Fidelity").
            return Response(202)

        moment = self.sdk.now()
        timestamp = int(moment.timestamp())
        x_message_id = self.sdk.generate_id("", 22)
        seq = self._next_seq()
        sender = _address(body.get("from"))
        raw_categories = body.get("categories")
        categories = [c for c in raw_categories if isinstance(c, str)] if isinstance(raw_categories, list) else []
        asm_setting = body.get("asm") if isinstance(body.get("asm"), dict) else {}
        asm_group = asm_setting.get("group_id") if isinstance(asm_setting.get("group_id"), int) else None
        top_args = body.get("custom_args") if isinstance(body.get("custom_args"), dict) else {}
        settings = self._webhook_settings()
        events: list[dict[str, Any]] = []
        message_ids: list[str] = []
        n = 0
        for i, personalization in enumerate(body["personalizations"]):
            own_args = personalization.get("custom_args")
            args = {**top_args, **(own_args if isinstance(own_args, dict) else {})}
            subject = next((s for s in (personalization.get("subject"), body.get("subject"))
                            if _non_empty_string(s)), "")
            p_sender = _address(personalization.get("from")) or sender
            for kind in ("to", "cc", "bcc"):
                for recipient in personalization.get(kind) or []:
                    email = _address(recipient) or ""  # validated above
                    msg_id = f"{x_message_id}.filterdrecv-mock-{i}-{n}.0"
                    n += 1
                    bounced = email.lower().endswith(".invalid")
                    status = "not_delivered" if bounced else "delivered"
                    final = "bounce" if bounced else "delivered"
                    record = {
                        "msg_id": msg_id, "from_email": p_sender, "to_email": email, "subject": subject,
                        "status": status, "opens_count": 0, "clicks_count": 0, "last_event_time": iso(moment),
                        "x_message_id": x_message_id, "seq": seq, "n": n, "template_id": body.get("template_id"),
                        "categories": categories, "unique_args": args, "recipient_type": kind,
                        "asm_group_id": asm_group,
                        # SendGrid's document requires bounce_type (soft|hard) on every event; only a
                        # bounce's means anything, and "soft" is the one no client suppresses an address for.
                        "events": [
                            {"event_name": "processed", "processed": iso(moment), "reason": "", "attempt_num": 1,
                             "bounce_type": "soft", "http_user_agent": "", "mx_server": ""},
                            {"event_name": "bounced" if bounced else "delivered", "processed": iso(moment),
                             "reason": BOUNCE_REASON if bounced else "250 OK", "attempt_num": 1,
                             "bounce_type": "hard" if bounced else "soft", "http_user_agent": "",
                             "mx_server": "mx.mock.sendgrid.test"},
                        ],
                    }
                    self.sdk.storage.put(MESSAGES, msg_id, record)
                    message_ids.append(msg_id)
                    # Custom args sit at the top level, as SendGrid sends them; they never override its keys.
                    common = {**args, "email": email, "timestamp": timestamp,
                              "smtp-id": f"<{x_message_id}@ismtpd-mock>", "sg_message_id": msg_id,
                              **({"category": categories} if categories else {})}
                    events.append({**common, "event": "processed", "sg_event_id": self.sdk.generate_id("", 22)})
                    if bounced:
                        events.append({**common, "event": "bounce", "sg_event_id": self.sdk.generate_id("", 22),
                                       "reason": BOUNCE_REASON, "status": "5.1.1", "type": "bounce",
                                       "bounce_classification": "Invalid Address"})
                    else:
                        events.append({**common, "event": final, "sg_event_id": self.sdk.generate_id("", 22),
                                       "response": "250 OK", "ip": "127.0.0.1", "tls": 1})
        self.sdk.storage.put(MAILS, x_message_id, {
            "x_message_id": x_message_id, "received_at": iso(moment), "timestamp": timestamp, "seq": seq,
            "message_ids": message_ids, "request": body,
        })
        if settings["enabled"] and settings["url"]:
            wanted = [e for e in events if settings.get(e["event"], False)]
            if wanted:
                self.sdk.webhooks.deliver(settings["url"], json.dumps(wanted, separators=(",", ":")),
                                          {"Content-Type": "application/json", "User-Agent": "SendGrid Event API"})
        self.sdk.logger.info("mail accepted", x_message_id=x_message_id, recipients=n)
        return Response(202, headers={"X-Message-Id": x_message_id})

    # --- Email Activity -------------------------------------------------------------------
    @endpoint("GET", "/v3/messages")
    def list_messages(self, request: Request) -> Response:
        raw_limit = request.query.get("limit", "10")
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            raise SendGridError(400, [error("limit must be an integer between 1 and 1000", "limit")])
        clauses = parse_activity_query(request.query.get("query", ""))
        records = [r for r in self.sdk.storage.query(MESSAGES, limit=None)
                   if all(str(r.get(name, "")) == value for name, value in clauses)]
        records.sort(key=lambda r: (r["seq"], r["n"]), reverse=True)
        return Response.json({"messages": [{k: r.get(k) for k in ACTIVITY_FIELDS} for r in records[:limit]]})

    @endpoint("GET", "/v3/messages/{msg_id}")
    def get_message(self, request: Request, msg_id: str) -> Response:
        record = self.sdk.storage.get(MESSAGES, msg_id)
        if record is None:
            raise SendGridError(404, [error("message not found", "msg_id")])
        shown = {k: record.get(k) for k in ACTIVITY_FIELDS if k not in ("opens_count", "clicks_count",
                                                                          "last_event_time")}
        asm = record.get("asm_group_id")
        shown.update({"template_id": record.get("template_id") or "", **({"asm_group_id": asm} if asm else {}),
                      "teammate": "", "api_key_id": API_KEY_ID, "events": record["events"],
                      "originating_ip": "127.0.0.1",
                      "categories": record.get("categories", []), "unique_args": json.dumps(record.get("unique_args")
                                                                                           or {}),
                      "outbound_ip": "127.0.0.1", "outbound_ip_type": "dedicated"})
        return Response.json(shown)

    # --- mock-only read back of what was sent ---------------------------------------------
    @endpoint("GET", "/v3/mock/sent")
    def list_sent(self, request: Request) -> Response:
        mails = sorted(self.sdk.storage.query(MAILS, limit=None), key=lambda m: m["seq"], reverse=True)
        return Response.json({"mails": mails})

    @endpoint("GET", "/v3/mock/sent/{x_message_id}")
    def get_sent(self, request: Request, x_message_id: str) -> Response:
        mail = self.sdk.storage.get(MAILS, x_message_id)
        if mail is None:
            raise SendGridError(404, [error("no mail with this X-Message-Id", "x_message_id")])
        return Response.json(mail)

    @endpoint("DELETE", "/v3/mock/sent")
    def clear_sent(self, request: Request) -> Response:
        self.sdk.storage.clear(MAILS)
        self.sdk.storage.clear(MESSAGES)
        return Response(204)

    # --- Event Webhook --------------------------------------------------------------------
    @endpoint("GET", "/v3/user/webhooks/event/settings")
    def get_event_webhook(self, request: Request) -> Response:
        return Response.json(self._webhook_settings())

    @endpoint("PATCH", "/v3/user/webhooks/event/settings")
    def update_event_webhook(self, request: Request) -> Response:
        body = self._json(request)
        if not isinstance(body, dict):
            raise SendGridError(400, [error("Bad Request")])
        settings = self._webhook_settings()
        problems: list[dict[str, Any]] = []
        for name in ("enabled", *WEBHOOK_FLAGS):
            if name in body:
                if isinstance(body[name], bool):
                    settings[name] = body[name]
                else:
                    problems.append(error(f"{name} must be a boolean", name))
        for name in ("url", "oauth_client_id", "oauth_token_url"):
            if name in body:
                if isinstance(body[name], str):
                    settings[name] = body[name]
                else:
                    problems.append(error(f"{name} must be a string", name))
        url = settings["url"]
        if url and not re.match(r"^https?://[^\s/]+", url):
            problems.append(error("url must be a valid http or https URL", "url"))
        if settings["enabled"] and not url:
            problems.append(error("url is required when the event webhook is enabled", "url"))
        if problems:
            raise SendGridError(400, problems)
        self.sdk.storage.put(SETTINGS, "event_webhook", settings)
        return Response.json(settings)

    @endpoint("POST", "/v3/user/webhooks/event/test")
    def test_event_webhook(self, request: Request) -> Response:
        body = self._json(request)
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            raise SendGridError(400, [error("url must be a valid http or https URL", "url")])
        event = {"email": "example@test.com", "timestamp": int(self.sdk.now().timestamp()),
                 "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "event": "processed",
                 "category": ["cat facts"], "sg_event_id": self.sdk.generate_id("", 22),
                 "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"}
        self.sdk.webhooks.deliver(url, json.dumps([event], separators=(",", ":")),
                                  {"Content-Type": "application/json", "User-Agent": "SendGrid Event API"})
        return Response(204)
