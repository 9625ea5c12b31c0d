"""Make chalice's local server and test client route like API Gateway.

Chalice's local ``RouteMatcher`` matches ``{proxy+}`` as a single path segment
(aws/chalice#2118; the fix in PR #2012 is unmerged), while API Gateway matches it
greedily: ``/plugins/stripe/v1/v1/customers/cus_1`` reaches ``{proxy+} = v1/customers/cus_1``.
Dev and test code install this matcher so local and deployed behave the same. The
deployed Lambda never imports this module.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import chalice.local
from chalice.local import MatchResult, RouteMatcher


class GreedyRouteMatcher(RouteMatcher):
    def match_route(self, url: str) -> MatchResult:
        parsed = urlparse(url)
        query = parse_qs(parsed.query, keep_blank_values=True)
        path = parsed.path
        if path != "/" and path.endswith("/"):
            path = path[:-1]
        parts = path.split("/")
        # Like API Gateway: an exact-length route (literal segments first, as the
        # parent sorts them) wins over a greedy one.
        for route in self.route_urls:
            captured = self._match(parts, route.split("/"))
            if captured is not None:
                return MatchResult(route, captured, query)
        for route in self.route_urls:
            template = route.split("/")
            last = template[-1]
            if not (last.startswith("{") and last.endswith("+}")) or len(parts) < len(template):
                continue
            captured = self._match(parts[:len(template) - 1], template[:-1])
            if captured is not None:
                captured[last[1:-2]] = "/".join(parts[len(template) - 1:])
                return MatchResult(route, captured, query)
        raise ValueError(f"No matching route found for: {url}")

    @staticmethod
    def _match(parts: list[str], template: list[str]) -> dict[str, str] | None:
        if len(parts) != len(template):
            return None
        captured = {}
        for part, expected in zip(parts, template):
            if expected.startswith("{") and expected.endswith("}"):
                if not part:
                    return None
                captured[expected[1:-1].rstrip("+")] = part  # API Gateway: {proxy+} -> "proxy"
            elif part != expected:
                return None
        return captured


def install() -> None:
    chalice.local.RouteMatcher = GreedyRouteMatcher  # type: ignore[misc]
