from __future__ import annotations

import json

import pytest

from mocklib_plugin_sdk import (NotFoundError, Plugin, Request, Response, decode_result, endpoint,
                                make_request_event, requires_auth)
from mocklib_plugin_sdk.errors import MethodNotAllowedError
from mocklib_plugin_sdk.routing import Router
from tests.sdk.support import manifest


class Shop(Plugin):
    @endpoint("GET", "/customers/{id}")
    def get_customer(self, request: Request, id: str) -> Response:
        return Response.json({"route": "brace", "id": id})

    @endpoint("GET", "/customers/search")
    def search(self, request: Request) -> Response:
        return Response.json({"route": "search"})

    @endpoint("POST", "/customers/:customer/sources/:source")
    def colon_style(self, request: Request) -> Response:
        return Response.json({"route": "colon", **request.path_params})

    @endpoint("GET", "/repos/{owner}/contents/{path+}")
    def contents(self, request: Request, owner: str, path: str) -> Response:
        return Response.json({"owner": owner, "path": path})

    @endpoint("GET", "/")
    @endpoint("GET", "/index")
    def root(self, request: Request) -> dict[str, str]:
        return {"route": "root"}

    @endpoint("GET", "/private")
    @requires_auth
    def private(self, request: Request) -> Response:
        return Response.json({"user": request.user_id})


def call(host, method: str, path: str, **context) -> tuple[int, dict]:
    event = make_request_event(method, path, plugin="demo", user_id=context.pop("user_id", "u1"), **context)
    result = decode_result(host.invoke(event))
    return result.status, (json.loads(result.body) if result.body else {})


@pytest.fixture
def shop(make_host):
    return make_host(Shop, manifest())


def test_brace_style_parameters_are_passed_as_keyword_arguments(shop):
    assert call(shop, "GET", "/customers/cus_123") == (200, {"route": "brace", "id": "cus_123"})


def test_colon_style_parameters_land_in_path_params(shop):
    assert call(shop, "POST", "/customers/cus_1/sources/src_2") == (
        200, {"route": "colon", "customer": "cus_1", "source": "src_2"})


def test_a_literal_segment_beats_a_parameter_whatever_the_declaration_order(shop):
    assert call(shop, "GET", "/customers/search") == (200, {"route": "search"})


def test_parameters_are_percent_decoded_after_splitting_so_an_encoded_slash_stays_inside(shop):
    assert call(shop, "GET", "/customers/a%2Fb%20c")[1]["id"] == "a/b c"


def test_a_greedy_parameter_takes_the_rest_of_the_path(shop):
    assert call(shop, "GET", "/repos/octo/contents/docs/a/b.md")[1] == {"owner": "octo", "path": "docs/a/b.md"}


def test_a_trailing_slash_is_the_same_route(shop):
    assert call(shop, "GET", "/customers/cus_9/")[1]["id"] == "cus_9"


def test_the_base_path_itself_is_slash_and_one_handler_can_serve_several_routes(shop):
    assert call(shop, "GET", "/") == (200, {"route": "root"})
    assert call(shop, "GET", "/index") == (200, {"route": "root"})


def test_unknown_paths_are_a_json_404(shop):
    status, body = call(shop, "GET", "/nothing/here")
    assert status == 404
    assert body["error"]["code"] == "not_found"


def test_a_known_path_with_another_method_is_a_405_with_allow(shop):
    event = make_request_event("DELETE", "/customers/cus_1", plugin="demo", user_id="u1")
    result = decode_result(shop.invoke(event))
    assert result.status == 405
    assert result.headers["Allow"] == "GET"


def test_head_falls_back_to_get_without_a_body(shop):
    event = make_request_event("HEAD", "/customers/cus_1", plugin="demo", user_id="u1")
    result = decode_result(shop.invoke(event))
    assert (result.status, result.body) == (200, b"")


def test_requires_auth_rejects_anonymous_callers_and_admits_authenticated_ones(shop):
    assert call(shop, "GET", "/private", authenticated=False)[0] == 401
    assert call(shop, "GET", "/private", user_id="usr_7") == (200, {"user": "usr_7"})


def test_a_subclass_overriding_a_handler_keeps_the_route():
    class Custom(Shop):
        def search(self, request: Request) -> Response:
            return Response.json({"route": "custom search"})

    match = Custom.router().resolve("GET", "/customers/search")
    assert match.call(Custom(), Request("GET", "/customers/search")).body == b'{"route":"custom search"}'


def test_bad_route_declarations_fail_at_import_time():
    with pytest.raises(ValueError):
        endpoint("GET", "no-leading-slash")
    with pytest.raises(ValueError):
        endpoint("GET", "/a/{rest+}/b")
    with pytest.raises(ValueError):
        endpoint("FETCH", "/a")


def test_the_router_reports_not_found_and_method_not_allowed_as_errors():
    router = Router.for_class(Shop)
    with pytest.raises(NotFoundError):
        router.resolve("GET", "/zzz")
    with pytest.raises(MethodNotAllowedError) as caught:
        router.resolve("PUT", "/customers/x")
    assert caught.value.allowed == ["GET"]
