"""Datadog: a stateful mock of the Datadog HTTP API for the official ``datadog-api-client``.

Covered: key validation, metric submission (v1 and v2 series), metric queries
(``avg|sum|min|max:metric{scope} by {tag,...}``), active-metric listing and
events (create, get, list). State is per marketplace user and per sandbox/live,
through the SDK's storage. Errors use Datadog's own body, ``{"errors": ["..."]}``,
so the SDK raises its ``ApiException`` subclasses with the right status.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
import zlib
from typing import Any

from mocklib_plugin_sdk import (MethodNotAllowedError, Plugin, PluginError, Request, Response, endpoint)

SERIES = "series"
EVENTS = "events"
MAX_POINTS_PER_SERIES = 5_000  # oldest points are dropped beyond this (storage documents are capped)
MAX_EVENTS_PER_PAGE = 1_000
V2_TYPES = {0: "unspecified", 1: "count", 2: "rate", 3: "gauge"}
V1_TYPES = {"count", "rate", "gauge", "distribution"}
ALERT_TYPES = {"error", "warning", "info", "success", "user_update", "recommendation", "snapshot"}
PRIORITIES = {"normal", "low"}
AGGREGATORS = {"avg", "sum", "min", "max"}
QUERY = re.compile(r"^\s*(?:(?P<aggr>[a-z]+):)?(?P<metric>[A-Za-z][A-Za-z0-9_.]*)\s*"
                   r"\{(?P<scope>[^{}]*)\}(?:\s*by\s*\{(?P<by>[^{}]*)\})?\s*$")
METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,199}$")


class DatadogError(Exception):
    """Answered as ``{"errors": [message]}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def errors(status: int, *messages: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"errors": list(messages)}, status=status, headers=headers)


def _body(request: Request) -> Any:
    """The JSON body, decoded from the Content-Encoding the SDK may use (gzip, deflate, zstd1)."""
    raw = request.body
    encoding = (request.get_header("content-encoding") or "").strip().lower()
    try:
        if encoding == "gzip":
            raw = zlib.decompress(raw, wbits=16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        elif encoding in ("zstd1", "zstd"):
            try:
                import zstandard  # type: ignore[import-not-found]
            except ImportError:
                raise DatadogError(415, f"Content-Encoding {encoding} is not supported by this mock; "
                                        "use gzip, deflate or none") from None
            raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
        elif encoding not in ("", "identity"):
            raise DatadogError(415, f"Unsupported Content-Encoding: {encoding}")
    except zlib.error as exc:
        raise DatadogError(400, f"Payload could not be decompressed: {exc}") from exc
    if not raw.strip():
        raise DatadogError(400, "Payload is empty")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatadogError(400, f"Payload is not valid JSON: {exc}") from exc


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DatadogError(400, f"{what} must be a finite number")
    return float(value)


def _tags(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise DatadogError(400, f"{what} must be a list of strings")
    return [t.strip() for t in value if t.strip()]


def _int_param(request: Request, name: str, required: bool = True) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if required:
            raise DatadogError(400, f"Missing required parameter '{name}'")
        return None
    try:
        return int(float(raw))
    except ValueError:
        raise DatadogError(400, f"Parameter '{name}' must be an integer (epoch seconds)") from None


def _tag_matches(tags: list[str], term: str) -> bool:
    negate = term.startswith("!") or term.startswith("-")
    pattern = term[1:] if negate else term
    hit = any(fnmatch.fnmatchcase(tag, pattern) for tag in tags)
    return hit != negate


def _tag_value(tags: list[str], key: str) -> str:
    for tag in tags:
        name, sep, value = tag.partition(":")
        if sep and name == key:
            return tag
    return f"{key}:N/A"


# Datadog's document answers the v1 metric intake as ``text/json`` (202 and its errors).
TEXT_JSON_PATHS = frozenset({"/api/v1/series"})


class DatadogPlugin(Plugin):
    # --- plumbing ---------------------------------------------------------------------
    def handle_request(self, request: Request) -> Response:
        response = self._answer(request)
        if request.path in TEXT_JSON_PATHS and response.headers.get("Content-Type") == "application/json":
            response.headers["Content-Type"] = "text/json"
        return response

    def _answer(self, request: Request) -> Response:
        try:
            return super().handle_request(request)
        except DatadogError as exc:
            return errors(exc.status, exc.message)
        except MethodNotAllowedError as exc:
            return errors(405, exc.message, headers={"Allow": ", ".join(exc.allowed)})
        except PluginError as exc:
            if exc.STATUS_CODE >= 500:
                raise  # a platform/storage failure: the gateway reports it, unbilled
            return errors(exc.STATUS_CODE, exc.message)

    @staticmethod
    def _require_app_key(request: Request) -> None:
        # Datadog refuses reads without an application key. Any non-empty value is
        # accepted here: the marketplace key (DD-API-KEY) is what authenticates.
        if not (request.get_header("dd-application-key") or "").strip():
            raise DatadogError(403, "Forbidden: this endpoint needs an application key (DD-APPLICATION-KEY)")

    # --- authentication -------------------------------------------------------------------
    @endpoint("GET", "/api/v1/validate")
    def validate(self, request: Request) -> Response:
        # The gateway has already checked the marketplace key sent as DD-API-KEY.
        return Response.json({"valid": True})

    # --- metrics: intake --------------------------------------------------------------------
    def _store_points(self, metric: str, tags: list[str], points: list[tuple[int, float]],
                      metric_type: str, unit: str | None, interval: int | None) -> None:
        tags = sorted(set(tags))
        # Bounded key (storage keys are capped at 512 characters), one per metric and tag set.
        key = f"{metric}|{hashlib.sha256(json.dumps(tags).encode()).hexdigest()[:32]}"
        existing = self.sdk.storage.get(SERIES, key)
        merged: dict[int, float] = {int(ts): v for ts, v in (existing or {}).get("points", [])}
        for ts, value in points:
            merged[ts] = value  # same timestamp: the last value wins, as in Datadog
        ordered = sorted(merged.items())[-MAX_POINTS_PER_SERIES:]
        self.sdk.storage.put(SERIES, key, {
            "metric": metric, "tags": tags, "type": metric_type, "unit": unit, "interval": interval,
            "points": [[ts, v] for ts, v in ordered],
            "last_submitted": int(self.sdk.now().timestamp()),
        })

    @staticmethod
    def _series_list(payload: Any) -> list[Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("series"), list):
            raise DatadogError(400, "Payload must be an object with a 'series' array")
        if not payload["series"]:
            raise DatadogError(400, "'series' must not be empty")
        return payload["series"]

    @staticmethod
    def _metric_name(item: Any, index: int) -> str:
        if not isinstance(item, dict):
            raise DatadogError(400, f"series[{index}] must be an object")
        metric = item.get("metric")
        if not isinstance(metric, str) or not METRIC_NAME.match(metric):
            raise DatadogError(400, f"series[{index}].metric must be a metric name "
                                    "(a letter, then letters, digits, '_' or '.')")
        return metric

    @endpoint("POST", "/api/v1/series")
    def submit_series_v1(self, request: Request) -> Response:
        parsed = []
        for index, item in enumerate(self._series_list(_body(request))):
            metric = self._metric_name(item, index)
            raw_points = item.get("points")
            if not isinstance(raw_points, list) or not raw_points:
                raise DatadogError(400, f"series[{index}].points must be a non-empty array of [timestamp, value]")
            points = []
            for p in raw_points:
                if not isinstance(p, list) or len(p) != 2:
                    raise DatadogError(400, f"series[{index}].points items must be [timestamp, value]")
                points.append((int(_number(p[0], "point timestamp")), _number(p[1], "point value")))
            tags = _tags(item.get("tags"), f"series[{index}].tags")
            if isinstance(item.get("host"), str) and item["host"]:
                tags.append(f"host:{item['host']}")
            metric_type = item.get("type") or "gauge"
            if metric_type not in V1_TYPES:
                raise DatadogError(400, f"series[{index}].type must be one of {sorted(V1_TYPES)}")
            interval = item.get("interval")
            parsed.append((metric, tags, points, metric_type, None,
                           int(interval) if isinstance(interval, (int, float)) else None))
        for args in parsed:  # validate everything first: a bad payload stores nothing
            self._store_points(*args)
        return Response.json({"status": "ok"}, status=202)

    @endpoint("POST", "/api/v2/series")
    def submit_series_v2(self, request: Request) -> Response:
        parsed = []
        for index, item in enumerate(self._series_list(_body(request))):
            metric = self._metric_name(item, index)
            raw_points = item.get("points")
            if not isinstance(raw_points, list) or not raw_points:
                raise DatadogError(400, f"series[{index}].points must be a non-empty array")
            points = []
            for p in raw_points:
                if not isinstance(p, dict):
                    raise DatadogError(400, f"series[{index}].points items must be objects")
                points.append((int(_number(p.get("timestamp"), "point timestamp")),
                               _number(p.get("value"), "point value")))
            tags = _tags(item.get("tags"), f"series[{index}].tags")
            for resource in item.get("resources") or []:
                if isinstance(resource, dict) and resource.get("name"):
                    tags.append(f"{resource.get('type') or 'host'}:{resource['name']}")
            raw_type = item.get("type", 0)
            if raw_type not in V2_TYPES:
                raise DatadogError(400, f"series[{index}].type must be one of {sorted(V2_TYPES)}")
            metric_type = V2_TYPES[raw_type] if raw_type else "gauge"
            interval = item.get("interval")
            parsed.append((metric, tags, points, metric_type, item.get("unit"),
                           int(interval) if isinstance(interval, (int, float)) else None))
        for args in parsed:
            self._store_points(*args)
        return Response.json({"errors": []}, status=202)

    # --- metrics: reading back ----------------------------------------------------------
    @endpoint("GET", "/api/v1/metrics")
    def list_active_metrics(self, request: Request) -> Response:
        self._require_app_key(request)
        since = _int_param(request, "from")
        host = request.query.get("host")
        tag_filter = [t.strip() for t in (request.query.get("tag_filter") or "").split(",") if t.strip()]
        names = set()
        for _, doc in self.sdk.storage.items(SERIES, limit=None):
            if doc.get("last_submitted", 0) < since:
                continue
            if host and f"host:{host}" not in doc["tags"]:
                continue
            if not all(_tag_matches(doc["tags"], term) for term in tag_filter):
                continue
            names.add(doc["metric"])
        return Response.json({"from": str(since), "metrics": sorted(names)})

    @endpoint("GET", "/api/v1/query")
    def query_metrics(self, request: Request) -> Response:
        self._require_app_key(request)
        start = _int_param(request, "from")
        end = _int_param(request, "to")
        assert start is not None and end is not None
        if end < start:
            raise DatadogError(400, "'to' must not be before 'from'")
        query = request.query.get("query") or ""
        if not query.strip():
            raise DatadogError(400, "Missing required parameter 'query'")
        match = QUERY.match(query)
        if match is None:
            raise DatadogError(400, f"Error parsing query: {query!r} (this mock supports "
                                    "'aggr:metric.name{tag:value,...} by {tag,...}')")
        aggr = match.group("aggr") or "avg"
        if aggr not in AGGREGATORS:
            raise DatadogError(400, f"Unknown aggregator {aggr!r}: use one of {sorted(AGGREGATORS)}")
        metric = match.group("metric")
        scope_terms = [t.strip() for t in match.group("scope").split(",") if t.strip()]
        if scope_terms == ["*"]:
            scope_terms = []
        elif "*" in scope_terms:
            raise DatadogError(400, "'*' cannot be combined with other tags in a scope")
        by = [t.strip() for t in (match.group("by") or "").split(",") if t.strip()]

        groups: dict[tuple[str, ...], dict[int, list[float]]] = {}
        for _, doc in self.sdk.storage.items(SERIES, {"metric": metric}, limit=None):
            if not all(_tag_matches(doc["tags"], term) for term in scope_terms):
                continue
            in_range = [(ts, v) for ts, v in doc["points"] if start <= ts <= end]
            if not in_range:
                continue
            group = tuple(_tag_value(doc["tags"], key) for key in by)
            buckets = groups.setdefault(group, {})
            for ts, v in in_range:
                buckets.setdefault(int(ts), []).append(float(v))

        def reduce(vs: list[float]) -> float:
            return {"avg": sum(vs) / len(vs), "sum": sum(vs), "min": min(vs), "max": max(vs)}[aggr]

        series = []
        for group in sorted(groups):
            pointlist = [[float(ts * 1000), float(reduce(vs))] for ts, vs in sorted(groups[group].items())]
            scope = ",".join([*scope_terms, *group]) or "*"
            series.append({
                "metric": metric, "display_name": metric, "aggr": aggr,
                "expression": f"{aggr}:{metric}{{{scope}}}",
                "scope": scope, "tag_set": list(group), "pointlist": pointlist,
                "start": int(pointlist[0][0]), "end": int(pointlist[-1][0]), "interval": 1,
                "length": len(pointlist), "query_index": 0,
            })
        return Response.json({
            "status": "ok", "res_type": "time_series", "query": query, "message": "",
            "from_date": start * 1000, "to_date": end * 1000, "group_by": by, "series": series,
        })

    # --- events -------------------------------------------------------------------------
    @endpoint("POST", "/api/v1/events")
    def create_event(self, request: Request) -> Response:
        body = _body(request)
        if not isinstance(body, dict):
            raise DatadogError(400, "Payload must be a JSON object")
        for field in ("title", "text"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise DatadogError(400, f"Event '{field}' is required")
        if len(body["title"]) > 100:
            raise DatadogError(400, "Event 'title' must be at most 100 characters")
        if len(body["text"]) > 4000:
            raise DatadogError(400, "Event 'text' must be at most 4000 characters")
        alert_type = body.get("alert_type") or "info"
        if alert_type not in ALERT_TYPES:
            raise DatadogError(400, f"Event 'alert_type' must be one of {sorted(ALERT_TYPES)}")
        priority = body.get("priority") or "normal"
        if priority not in PRIORITIES:
            raise DatadogError(400, "Event 'priority' must be 'normal' or 'low'")
        now_s = int(self.sdk.now().timestamp())
        happened = body.get("date_happened")
        happened = int(_number(happened, "date_happened")) if happened is not None else now_s
        # Datadog event ids are 64-bit integers; derive one from the SDK's id generator so
        # deterministic mode gives reproducible ids (and ids differ across users).
        event_id = int(hashlib.sha256(self.sdk.generate_id("evt_").encode()).hexdigest()[:15], 16)
        tags = _tags(body.get("tags"), "tags")
        event = {
            "id": event_id, "id_str": str(event_id), "title": body["title"], "text": body["text"],
            "date_happened": happened, "alert_type": alert_type, "priority": priority, "tags": tags,
            "host": body.get("host") or None, "device_name": body.get("device_name") or None,
            "source_type_name": body.get("source_type_name") or None,
            "url": f"https://app.datadoghq.com/event/event?id={event_id}", "payload": "{}",
        }
        event = {k: v for k, v in event.items() if v is not None}
        self.sdk.storage.put(EVENTS, str(event_id), event)
        return Response.json({"status": "ok", "event": event}, status=202)

    @endpoint("GET", "/api/v1/events/{event_id}")
    def get_event(self, request: Request, event_id: str) -> Response:
        self._require_app_key(request)
        event = self.sdk.storage.get(EVENTS, event_id) if event_id.isdigit() else None
        if event is None:
            raise DatadogError(404, "Event not found")
        return Response.json({"event": event, "status": "ok"})

    @endpoint("GET", "/api/v1/events")
    def list_events(self, request: Request) -> Response:
        self._require_app_key(request)
        start = _int_param(request, "start")
        end = _int_param(request, "end")
        assert start is not None and end is not None
        priority = request.query.get("priority")
        sources = {s.strip() for s in (request.query.get("sources") or "").split(",") if s.strip()}
        tag_terms = [t.strip() for t in (request.query.get("tags") or "").split(",") if t.strip()]
        page = _int_param(request, "page", required=False) or 0
        found = []
        for _, event in self.sdk.storage.items(EVENTS, limit=None):
            if not start <= event["date_happened"] <= end:
                continue
            if priority and event.get("priority") != priority:
                continue
            if sources and event.get("source_type_name") not in sources:
                continue
            if not all(_tag_matches(event.get("tags", []), term) for term in tag_terms):
                continue
            found.append(event)
        found.sort(key=lambda e: (-e["date_happened"], -e["id"]))
        window = found[page * MAX_EVENTS_PER_PAGE:(page + 1) * MAX_EVENTS_PER_PAGE]
        return Response.json({"events": window, "status": "ok"})
