from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.core.errors import (DomainError, NotFoundError, PayloadTooLargeError, PermissionDeniedError,
                                    QuotaExceededError, RateLimitedError, UnauthenticatedError)
from chalicelib.runtime.port import PluginFailure, PluginTimedOut, PluginUnavailable
from chalicelib.gateway.service import GatewayCall, GatewayFailure
from chalicelib.http import Api, ApiRequest, error_response
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="gateway")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
SUMMARY = ("Call an installed plugin with your marketplace API key (any carrier vendor SDKs use); "
           "the request is passed to the plugin byte for byte")


def _vendor_readable(response: Response, headers: dict[str, str]) -> Response:
    """The marketplace's refusal, also nested as ``error: {type, code, message}``: vendor
    SDKs such as Stripe's read that object to raise their own classes (a 401 becomes
    ``stripe.AuthenticationError``); the flat keys stay for the others."""
    body = dict(response.body)
    status = response.status_code
    kind = ("authentication_error" if status == 401 else "rate_limit_error" if status == 429
            else "api_error" if status >= 500 else "invalid_request_error")
    body["error"] = {"type": kind, "code": body["code"], "message": body["message"]}
    response.body = body
    response.headers.update(headers)
    return response


def _proxy(req: ApiRequest, name: str, version: str, path: str) -> Response:
    raw = req.raw
    params = raw.query_params
    query = {key: params.getlist(key) for key in params} if params else {}
    call = GatewayCall(method=raw.method, plugin=name, version_segment=version, path=path, query=query,
                       headers={k.lower(): v for k, v in raw.headers.items()},
                       body=raw.raw_body or b"", request_id=req.request_id)
    try:
        reply = container().gateway.handle(call)
    except GatewayFailure as failure:
        return _vendor_readable(error_response(failure.error, req.request_id), failure.headers)
    except DomainError as exc:
        return _vendor_readable(error_response(exc, req.request_id), {})
    # Bytes whatever the media type: every type is binary for the API (http.binary_bodies),
    # and Chalice base64-encodes bytes for API Gateway, which decodes them on the way out.
    return Response(body=reply.body, status_code=reply.status, headers=dict(reply.headers))


# The marketplace's answers before or instead of the plugin's own.
REFUSALS = (UnauthenticatedError, QuotaExceededError, PermissionDeniedError, NotFoundError, PayloadTooLargeError,
            RateLimitedError, PluginFailure, PluginUnavailable, PluginTimedOut)


@api.route("/plugins/{name}/{version}/{proxy+}", methods=METHODS, cors=False, limit=None, summary=SUMMARY,
           raises=REFUSALS, passthrough=True)
def call_plugin(req: ApiRequest, name: str, version: str) -> Response:
    # Chalice passes no greedy parameter to views; API Gateway names it "proxy".
    return _proxy(req, name, version, (req.raw.uri_params or {}).get("proxy", ""))


@api.route("/plugins/{name}/{version}", methods=METHODS, cors=False, limit=None, summary=SUMMARY,
           raises=REFUSALS, passthrough=True)
def call_plugin_root(req: ApiRequest, name: str, version: str) -> Response:
    return _proxy(req, name, version, "")
