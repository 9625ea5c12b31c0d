"""``@endpoint`` and the router behind ``Plugin.handle_request``.

Paths accept both ``/customers/{id}`` (Chalice/OpenAPI style) and
``/customers/:id`` (the seed manifests' style), plus a greedy last parameter
``{path+}`` for APIs like GitHub contents. More specific routes win: a static
segment beats a parameter, so ``/customers/search`` is never swallowed by
``/customers/{id}`` whatever order they were declared in.
"""
from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable, TypeVar
from urllib.parse import unquote

from .errors import MethodNotAllowedError, NotFoundError, UnauthorizedError
from .http import Request

F = TypeVar("F", bound=Callable[..., Any])

_ENDPOINTS_ATTR = "_mf_endpoints"
_PARAM = re.compile(r"^(?:\{(?P<brace>[A-Za-z_]\w*)(?P<greedy>\+)?\}|:(?P<colon>[A-Za-z_]\w*))$")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def endpoint(method: str, path: str) -> Callable[[F], F]:
    """Mark a plugin method as the handler of ``method path``.

    The handler is called as ``handler(self, request)``, or with the path
    parameters as keyword arguments too when its signature names them.
    Stack several ``@endpoint`` decorators to serve more than one route.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unsupported method {method!r}")
    RoutePattern.compile(path)  # fail at import time, not on the first request

    def decorator(func: F) -> F:
        routes = list(getattr(func, _ENDPOINTS_ATTR, []))
        routes.append((method, path))
        setattr(func, _ENDPOINTS_ATTR, routes)
        return func

    return decorator


def requires_auth(func: F) -> F:
    """Reject calls without an authenticated marketplace caller with a 401.

    Behind the gateway every call is authenticated (it rejects the others
    before invoking); in standalone ``serve`` mode a call without a credential
    is anonymous, which is what this guards against.
    """

    @functools.wraps(func)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        if not request.authenticated or not request.user_id:
            raise UnauthorizedError("this endpoint needs an API key")
        return func(self, request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Segment:
    literal: str | None = None
    param: str | None = None
    greedy: bool = False


@dataclass(frozen=True)
class RoutePattern:
    path: str
    segments: tuple[Segment, ...]

    @classmethod
    def compile(cls, path: str) -> RoutePattern:
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': {path!r}")
        segments: list[Segment] = []
        parts = _split(path)
        for index, part in enumerate(parts):
            match = _PARAM.match(part)
            if match is None:
                if "{" in part or "}" in part:
                    raise ValueError(f"bad segment {part!r} in {path!r}")
                segments.append(Segment(literal=part))
                continue
            greedy = bool(match.group("greedy"))
            if greedy and index != len(parts) - 1:
                raise ValueError(f"greedy parameter must be last in {path!r}")
            segments.append(Segment(param=match.group("brace") or match.group("colon"), greedy=greedy))
        names = [s.param for s in segments if s.param]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate parameter in {path!r}")
        return cls(path, tuple(segments))

    @property
    def specificity(self) -> tuple[int, ...]:
        # Higher sorts first: literal (2) > parameter (1) > greedy (0), segment by
        # segment, then longer before shorter.
        return tuple(2 if s.literal is not None else (0 if s.greedy else 1) for s in self.segments) + (
            len(self.segments),)

    def match(self, raw_parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.greedy:
                rest = raw_parts[index:]
                if not rest:
                    return None
                params[segment.param or ""] = "/".join(unquote(p) for p in rest)
                return params
            if index >= len(raw_parts):
                return None
            raw = raw_parts[index]
            if segment.literal is not None:
                if unquote(raw) != segment.literal:
                    return None
            else:
                params[segment.param or ""] = unquote(raw)
        return params if len(raw_parts) == len(self.segments) else None


def _split(path: str) -> list[str]:
    # "/a/b/" and "/a/b" are the same route; "/" has no segments.
    return [p for p in path.strip("/").split("/")] if path.strip("/") else []


@dataclass(frozen=True)
class Route:
    method: str
    pattern: RoutePattern
    handler: Callable[..., Any]
    takes_params: bool


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    params: dict[str, str]

    def call(self, plugin: Any, request: Request) -> Any:
        if self.route.takes_params:
            return self.route.handler(plugin, request, **self.params)
        return self.route.handler(plugin, request)


def _takes_params(func: Callable[..., Any], names: list[str]) -> bool:
    if not names:
        return False
    signature = inspect.signature(func)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return True
    return all(name in signature.parameters for name in names)


class Router:
    def __init__(self, routes: list[Route] | None = None) -> None:
        self._routes = sorted(routes or [], key=lambda r: r.pattern.specificity, reverse=True)

    @classmethod
    def for_class(cls, plugin_class: type) -> Router:
        routes: list[Route] = []
        seen: set[str] = set()
        # The most-derived class that decorates a name declares its routes; the
        # handler is always the most-derived attribute, so a subclass can
        # override a handler without repeating its @endpoint.
        for klass in plugin_class.__mro__:
            for name, attr in vars(klass).items():
                declared = getattr(attr, _ENDPOINTS_ATTR, None)
                if not declared or name in seen:
                    continue
                seen.add(name)
                handler = getattr(plugin_class, name)
                for method, path in declared:
                    pattern = RoutePattern.compile(path)
                    names = [s.param for s in pattern.segments if s.param]
                    routes.append(Route(method, pattern, handler, _takes_params(handler, names)))
        return cls(routes)

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    def resolve(self, method: str, path: str) -> RouteMatch:
        raw_parts = _split(path)
        allowed: list[str] = []
        for route in self._routes:
            params = route.pattern.match(raw_parts)
            if params is None:
                continue
            if route.method == method:
                return RouteMatch(route, params)
            allowed.append(route.method)
        if method == "HEAD":
            # HEAD falls back to GET (the host drops the body), as HTTP servers do.
            try:
                return self.resolve("GET", path)
            except NotFoundError:
                pass
            except MethodNotAllowedError:
                pass
        if allowed:
            unique = sorted(set(allowed))
            raise MethodNotAllowedError(f"{method} is not allowed on {path}", allowed=unique)
        raise NotFoundError(f"no endpoint for {method} {path}")
