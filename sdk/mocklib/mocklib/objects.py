"""API results: plain dicts that also allow attribute access (``customer.id``)."""
from __future__ import annotations

from typing import Any

__all__ = ["MockObject", "wrap"]


class MockObject(dict[str, Any]):
    """A JSON object from the API. ``obj.name`` is ``obj["name"]``; nested objects and lists of
    objects are MockObjects too. Still a dict: ``json.dumps(obj)`` and ``obj == {...}`` work.
    Keys named like dict methods (``items``, ``keys``, ``values``...) need ``obj["items"]``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # copy/pickle probe dunders; never mistake them for keys
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no attribute or key {name!r}; "
                                 f"keys: {', '.join(sorted(self)) or '(none)'}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self if k.isidentifier()})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"

    def to_dict(self) -> dict[str, Any]:
        """A deep copy as plain dicts and lists."""
        return _unwrap(self)  # type: ignore[no-any-return]


def wrap(value: Any) -> Any:
    """JSON as decoded by ``json.loads``, with every object turned into a :class:`MockObject`."""
    if isinstance(value, dict):
        return MockObject({str(k): wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value
