"""Twilio: the Programmable Messaging and Voice REST API (2010-04-01), as the official
``twilio`` Python SDK speaks it.

* ``POST/GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` and
  ``GET/POST/DELETE .../Messages/{Sid}.json``; the same for ``Calls``.
* Auth is HTTP Basic ``AccountSid:AuthToken`` with the marketplace key as the
  AuthToken. The gateway strips the token and keeps the user part, so the plugin
  checks that the Basic user is the AccountSid of the path (or an ``SK...`` API key
  SID), as Twilio does; anything else is a 401 with code 20003.
* Messages move queued -> sent -> delivered, one step per fetch; calls move
  queued -> ringing -> in-progress -> completed. Each change is POSTed to the
  resource's ``StatusCallback`` as Twilio's form body, signed with
  ``X-Twilio-Signature`` when the install's ``auth_token`` config is set (the plugin
  never sees the real token: the gateway strips it).
* Errors are Twilio's JSON (``code``, ``message``, ``more_info``, ``status``), so the
  SDK raises ``TwilioRestException`` with Twilio's error code.

State is per marketplace user and per live/sandbox (the SDK's storage scoping), and
within that per AccountSid.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint

API_VERSION = "2010-04-01"
HEX = "0123456789abcdef"
MESSAGES = "messages"
CALLS = "calls"
INDEX = {MESSAGES: "message_index", CALLS: "call_index"}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_BODY_CHARS = 1600

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MESSAGE_FLOW = ["queued", "sent", "delivered"]
CALL_FLOW = ["queued", "ringing", "in-progress", "completed"]
CALL_EVENT = {"queued": "initiated", "ringing": "ringing", "in-progress": "answered",
              "completed": "completed", "canceled": "completed"}

# Twilio's magic test numbers (https://www.twilio.com/docs/iam/test-credentials).
MAGIC_TO_ERRORS = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number: +15005550002, is not currently reachable using the "
                            "'From' phone number via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region indicated by "
                            "the 'To' number: +15005550003."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
MAGIC_FROM_ERRORS = {
    "+15005550001": (21212, "The 'From' number +15005550001 is not a valid phone number, shortcode, "
                            "or alphanumeric sender ID."),
    "+15005550007": (21606, "The 'From' phone number provided is not a valid, message-capable Twilio "
                            "phone number for this destination/account."),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued messages"),
}


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return Response.json({"code": self.code, "message": self.message,
                              "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                              "status": self.status}, status=self.status)


def rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment, usegmt=False) if moment is not None else None


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 of the URL followed by every POST
    parameter name and value, sorted by name, keyed with the AuthToken, base64."""
    payload = url + "".join(f"{k}{v}" for k, v in sorted(params))
    digest = hmac.new(token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _sid_from(segment: str) -> str:
    return segment[:-5] if segment.endswith(".json") else segment


class TwilioPlugin(Plugin):
    # --- plumbing -------------------------------------------------------------------
    def _dispatch(self, request: Request, account_sid: str, handler: Any, *args: Any) -> Response:
        try:
            self._authenticate(request, account_sid)
            return handler(request, account_sid, *args)
        except TwilioError as error:
            return error.response()

    @staticmethod
    def _authenticate(request: Request, account_sid: str) -> None:
        scheme, _, value = (request.get_header("authorization") or "").strip().partition(" ")
        user = ""
        if scheme.lower() == "basic":
            try:
                user = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                user = ""
        if not user:
            raise TwilioError(401, 20003, "Authentication Error - No credentials provided")
        if user != account_sid and not user.startswith("SK"):
            raise TwilioError(401, 20003, "Authenticate")

    def _new_sid(self, prefix: str) -> str:
        return prefix + self.sdk.random_string(32, HEX)

    def _stamp(self) -> tuple[datetime, str]:
        moment = self.sdk.now()
        return moment, rfc2822(moment) or ""

    @staticmethod
    def _form(request: Request) -> dict[str, list[str]]:
        form: dict[str, list[str]] = {}
        for key, value in request.form_pairs():
            form.setdefault(key, []).append(value)
        return form

    @staticmethod
    def _first(form: dict[str, list[str]], key: str) -> str:
        values = form.get(key) or [""]
        return values[0]

    def _load(self, kind: str, account_sid: str, sid: str, request: Request) -> dict[str, Any]:
        doc = self.sdk.storage.get(kind, sid)
        if doc is None or doc.get("account_sid") != account_sid:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        return doc

    def _save(self, kind: str, doc: dict[str, Any], *, new: bool = False, order_key: str = "") -> None:
        if new:
            doc["_order_key"] = order_key
            self.sdk.storage.put(INDEX[kind], order_key, {"sid": doc["sid"], "account_sid": doc["account_sid"],
                                                          "to": doc["to"], "from": doc["from"]})
        self.sdk.storage.put(kind, doc["sid"], doc)

    @staticmethod
    def _public(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if not k.startswith("_")}

    def _callback(self, doc: dict[str, Any], params: list[tuple[str, str]]) -> None:
        url = doc.get("_status_callback")
        if not url:
            return
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                   "User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": self.sdk.random_string(36)}
        token = str((self.sdk.config or {}).get("auth_token") or "")
        if token:
            headers["X-Twilio-Signature"] = twilio_signature(token, url, params)
        self.sdk.webhooks.deliver(url, urlencode(params), headers)

    def _page(self, request: Request, account_sid: str, kind: str, resource: str) -> Response:
        query = request.query
        try:
            page_size = int(query.get("PageSize") or DEFAULT_PAGE_SIZE)
            page = int(query.get("Page") or 0)
        except ValueError:
            raise TwilioError(400, 20001, "Invalid PageSize or Page parameter") from None
        if not 1 <= page_size <= MAX_PAGE_SIZE or page < 0:
            raise TwilioError(400, 20001, f"PageSize must be between 1 and {MAX_PAGE_SIZE}")
        token = query.get("PageToken") or ""
        start_after = None
        if token:
            if not token.startswith("PA"):
                raise TwilioError(400, 20001, "Invalid PageToken")
            start_after = token[2:]
        wanted_to, wanted_from = query.get("To"), query.get("From")

        def keep(entry: Any) -> bool:
            return (entry.get("account_sid") == account_sid
                    and (not wanted_to or entry.get("to") == wanted_to)
                    and (not wanted_from or entry.get("from") == wanted_from))

        rows = self.sdk.storage.items(INDEX[kind], keep, limit=page_size + 1, start_after=start_after,
                                      descending=True)
        more = len(rows) > page_size
        rows = rows[:page_size]
        records = []
        for _, entry in rows:
            doc = self.sdk.storage.get(kind, entry["sid"])
            if doc is not None:
                records.append(self._public(doc))
        base = f"/{API_VERSION}/Accounts/{account_sid}/{resource}.json"
        filters = [(k, v) for k, v in (("To", wanted_to), ("From", wanted_from)) if v]

        def uri(page_no: int, page_token: str | None) -> str:
            params = [*filters, ("PageSize", str(page_size)), ("Page", str(page_no))]
            if page_token:
                params.append(("PageToken", page_token))
            return f"{base}?{urlencode(params, quote_via=quote)}"

        start = page * page_size
        return Response.json({
            kind: records,
            "uri": uri(page, token or None),
            "first_page_uri": uri(0, None),
            "next_page_uri": uri(page + 1, "PA" + rows[-1][0]) if more and rows else None,
            "previous_page_uri": uri(page - 1, None) if page > 0 else None,
            "page": page,
            "page_size": page_size,
            "start": start,
            "end": start + max(len(records) - 1, 0),
        })

    # --- messages -------------------------------------------------------------------
    def _create_message(self, request: Request, account_sid: str) -> Response:
        form = self._form(request)
        to, from_ = self._first(form, "To").strip(), self._first(form, "From").strip()
        service = self._first(form, "MessagingServiceSid").strip()
        body, media = self._first(form, "Body"), form.get("MediaUrl", [])
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if not body and not media:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARS:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        bare_to = to.removeprefix("whatsapp:")
        if bare_to in MAGIC_TO_ERRORS:
            code, message = MAGIC_TO_ERRORS[bare_to]
            raise TwilioError(400, code, message)
        if not E164.match(bare_to):
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_:
            bare_from = from_.removeprefix("whatsapp:")
            if bare_from in MAGIC_FROM_ERRORS:
                code, message = MAGIC_FROM_ERRORS[bare_from]
                raise TwilioError(400, code, message)
            if not E164.match(bare_from) and not re.match(r"^[A-Za-z0-9 ]{1,11}$", bare_from):
                raise TwilioError(400, 21212, f"The 'From' number {from_} is not a valid phone number, "
                                              "shortcode, or alphanumeric sender ID.")
        moment, stamp = self._stamp()
        sid = self._new_sid("SM")
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
        segments = max(1, -(-len(body) // 160)) if body else 1
        doc: dict[str, Any] = {
            "account_sid": account_sid, "api_version": API_VERSION, "body": body,
            "date_created": stamp, "date_sent": None, "date_updated": stamp,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": from_ or None, "messaging_service_sid": service or None,
            "num_media": str(len(media)), "num_segments": str(segments), "price": None, "price_unit": "USD",
            "sid": sid, "status": "accepted" if service and not from_ else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json"),
                                 "feedback": uri.replace(".json", "/Feedback.json")},
            "to": to, "uri": uri,
            "_status_callback": self._first(form, "StatusCallback").strip() or None,
        }
        order_key = f"{int(moment.timestamp() * 1_000_000):020d}-{sid}"
        self._save(MESSAGES, doc, new=True, order_key=order_key)
        self._message_callback(doc)
        return Response.json(self._public(doc), status=201)

    def _message_callback(self, doc: dict[str, Any]) -> None:
        params = [("SmsSid", doc["sid"]), ("SmsStatus", doc["status"]), ("MessageStatus", doc["status"]),
                  ("To", doc["to"]), ("MessageSid", doc["sid"]), ("AccountSid", doc["account_sid"]),
                  ("From", doc["from"] or ""), ("ApiVersion", API_VERSION)]
        if doc.get("messaging_service_sid"):
            params.append(("MessagingServiceSid", doc["messaging_service_sid"]))
        self._callback(doc, params)

    def _fetch_message(self, request: Request, account_sid: str, sid: str) -> Response:
        doc = self._load(MESSAGES, account_sid, sid, request)
        status = doc["status"]
        if status in ("accepted", "queued", "sent"):
            nxt = "queued" if status == "accepted" else MESSAGE_FLOW[MESSAGE_FLOW.index(status) + 1]
            moment, stamp = self._stamp()
            doc["status"], doc["date_updated"] = nxt, stamp
            if nxt == "sent":
                doc["date_sent"] = stamp
                doc["price"] = f"-{0.0079 * int(doc['num_segments']):.5f}"
            self._save(MESSAGES, doc)
            self._message_callback(doc)
        return Response.json(self._public(doc))

    def _update_message(self, request: Request, account_sid: str, sid: str) -> Response:
        doc = self._load(MESSAGES, account_sid, sid, request)
        form = self._form(request)
        if "Body" in form:
            if self._first(form, "Body") != "":
                raise TwilioError(400, 21600, "Body can only be updated to an empty string (redaction).")
            if doc["status"] in ("accepted", "queued"):
                raise TwilioError(400, 20009, "Cannot redact a message that has not been sent yet.")
            doc["body"] = ""
        if "Status" in form:
            if self._first(form, "Status") != "canceled":
                raise TwilioError(400, 21220, "Status can only be updated to 'canceled'.")
            if doc["status"] not in ("accepted", "queued"):
                raise TwilioError(400, 30409, "Message cannot be canceled: it is no longer queued.")
            doc["status"] = "canceled"
        doc["date_updated"] = self._stamp()[1]
        self._save(MESSAGES, doc)
        return Response.json(self._public(doc))

    def _delete_message(self, request: Request, account_sid: str, sid: str) -> Response:
        doc = self._load(MESSAGES, account_sid, sid, request)
        self.sdk.storage.delete(MESSAGES, sid)
        if doc.get("_order_key"):
            self.sdk.storage.delete(INDEX[MESSAGES], doc["_order_key"])
        return Response(204)

    @endpoint("POST", "/2010-04-01/Accounts/{account_sid}/Messages.json")
    def create_message(self, request: Request, account_sid: str) -> Response:
        return self._dispatch(request, account_sid, self._create_message)

    @endpoint("GET", "/2010-04-01/Accounts/{account_sid}/Messages.json")
    def list_messages(self, request: Request, account_sid: str) -> Response:
        return self._dispatch(request, account_sid, lambda r, a: self._page(r, a, MESSAGES, "Messages"))

    @endpoint("GET", "/2010-04-01/Accounts/{account_sid}/Messages/{sid}")
    def fetch_message(self, request: Request, account_sid: str, sid: str) -> Response:
        return self._dispatch(request, account_sid, self._fetch_message, _sid_from(sid))

    @endpoint("POST", "/2010-04-01/Accounts/{account_sid}/Messages/{sid}")
    def update_message(self, request: Request, account_sid: str, sid: str) -> Response:
        return self._dispatch(request, account_sid, self._update_message, _sid_from(sid))

    @endpoint("DELETE", "/2010-04-01/Accounts/{account_sid}/Messages/{sid}")
    def delete_message(self, request: Request, account_sid: str, sid: str) -> Response:
        return self._dispatch(request, account_sid, self._delete_message, _sid_from(sid))

    # --- calls ----------------------------------------------------------------------
    def _create_call(self, request: Request, account_sid: str) -> Response:
        form = self._form(request)
        to, from_ = self._first(form, "To").strip(), self._first(form, "From").strip()
        url, twiml = self._first(form, "Url").strip(), self._first(form, "Twiml").strip()
        application = self._first(form, "ApplicationSid").strip()
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        if not (url or twiml or application):
            raise TwilioError(400, 21205, "Url parameter is required.")
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")
        if not (E164.match(to) or to.startswith(("client:", "sip:"))) or to == "+15005550001":
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not (E164.match(from_) or from_.startswith("client:")) or from_ == "+15005550001":
            raise TwilioError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        moment, stamp = self._stamp()
        sid = self._new_sid("CA")
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}.json"
        events = [e.strip() for v in form.get("StatusCallbackEvent", []) for e in v.split(" ") if e.strip()]
        doc: dict[str, Any] = {
            "account_sid": account_sid, "annotation": None, "answered_by": None, "api_version": API_VERSION,
            "caller_name": None, "date_created": stamp, "date_updated": stamp, "direction": "outbound-api",
            "duration": None, "end_time": None, "forwarded_from": None, "from": from_, "from_formatted": from_,
            "group_sid": None, "parent_call_sid": None, "phone_number_sid": None, "price": None,
            "price_unit": "USD", "queue_time": "0", "sid": sid, "start_time": None, "status": "queued",
            "subresource_uris": {"recordings": uri.replace(".json", "/Recordings.json"),
                                 "notifications": uri.replace(".json", "/Notifications.json")},
            "to": to, "to_formatted": to, "trunk_sid": None, "uri": uri,
            "_status_callback": self._first(form, "StatusCallback").strip() or None,
            "_events": events or ["completed"], "_sequence": 0,
        }
        order_key = f"{int(moment.timestamp() * 1_000_000):020d}-{sid}"
        self._save(CALLS, doc, new=True, order_key=order_key)
        self._call_callback(doc)
        return Response.json(self._public(doc), status=201)

    def _call_callback(self, doc: dict[str, Any]) -> None:
        if CALL_EVENT[doc["status"]] not in doc.get("_events", []) or not doc.get("_status_callback"):
            return
        params = [("AccountSid", doc["account_sid"]), ("ApiVersion", API_VERSION),
                  ("CallSid", doc["sid"]), ("CallStatus", doc["status"]), ("Called", doc["to"]),
                  ("Caller", doc["from"]), ("Direction", "outbound-api"), ("From", doc["from"]),
                  ("To", doc["to"]), ("CallbackSource", "call-progress-events"),
                  ("SequenceNumber", str(doc["_sequence"])), ("Timestamp", doc["date_updated"])]
        if doc["status"] in ("completed", "canceled"):
            params += [("CallDuration", doc.get("duration") or "0"), ("Duration", "1")]
        doc["_sequence"] += 1
        self._save(CALLS, doc)
        self._callback(doc, params)

    def _advance_call(self, doc: dict[str, Any], target: str | None = None) -> None:
        moment, stamp = self._stamp()
        status = target or CALL_FLOW[CALL_FLOW.index(doc["status"]) + 1]
        doc["status"], doc["date_updated"] = status, stamp
        if status == "in-progress":
            doc["start_time"] = stamp
            doc["_started"] = moment.timestamp()
        elif status in ("completed", "canceled"):
            doc["end_time"] = stamp
            started = doc.get("_started")
            duration = max(1, int(moment.timestamp() - started)) if started is not None else 0
            doc["duration"] = str(duration)
            if status == "completed":
                doc["price"] = f"-{0.014 * max(1, -(-duration // 60)):.5f}"
        self._save(CALLS, doc)
        self._call_callback(doc)

    def _fetch_call(self, request: Request, account_sid: str, sid: str) -> Response:
        doc = self._load(CALLS, account_sid, sid, request)
        if doc["status"] in CALL_FLOW[:-1]:
            self._advance_call(doc)
        return Response.json(self._public(doc))

    def _update_call(self, request: Request, account_sid: str, sid: str) -> Response:
        doc = self._load(CALLS, account_sid, sid, request)
        form = self._form(request)
        wanted = self._first(form, "Status")
        if wanted:
            if wanted not in ("completed", "canceled"):
                raise TwilioError(400, 21218, f"Invalid Status value: {wanted}")
            if doc["status"] in ("completed", "canceled"):
                raise TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")
            if doc["status"] in ("queued", "ringing"):
                self._advance_call(doc, "canceled")
            elif wanted == "completed":
                self._advance_call(doc, "completed")
            else:  # canceling an answered call does nothing, as on Twilio
                pass
        elif "Url" in form or "Twiml" in form:
            if doc["status"] in ("completed", "canceled"):
                raise TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")
        if "StatusCallback" in form:
            doc["_status_callback"] = self._first(form, "StatusCallback").strip() or None
            self._save(CALLS, doc)
        return Response.json(self._public(doc))

    @endpoint("POST", "/2010-04-01/Accounts/{account_sid}/Calls.json")
    def create_call(self, request: Request, account_sid: str) -> Response:
        return self._dispatch(request, account_sid, self._create_call)

    @endpoint("GET", "/2010-04-01/Accounts/{account_sid}/Calls.json")
    def list_calls(self, request: Request, account_sid: str) -> Response:
        return self._dispatch(request, account_sid, lambda r, a: self._page(r, a, CALLS, "Calls"))

    @endpoint("GET", "/2010-04-01/Accounts/{account_sid}/Calls/{sid}")
    def fetch_call(self, request: Request, account_sid: str, sid: str) -> Response:
        return self._dispatch(request, account_sid, self._fetch_call, _sid_from(sid))

    @endpoint("POST", "/2010-04-01/Accounts/{account_sid}/Calls/{sid}")
    def update_call(self, request: Request, account_sid: str, sid: str) -> Response:
        return self._dispatch(request, account_sid, self._update_call, _sid_from(sid))

    # --- anything else: Twilio's 404 ------------------------------------------------
    @endpoint("GET", "/{rest+}")
    @endpoint("POST", "/{rest+}")
    @endpoint("DELETE", "/{rest+}")
    def not_found(self, request: Request, rest: str) -> Response:
        return TwilioError(404, 20404, f"The requested resource {request.path} was not found").response()
