"""Form parameters as Stripe parses them: typed getters, unknown-parameter checks, metadata."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import invalid
from .resources import ZERO_DECIMAL


# --- parameter parsing --------------------------------------------------------------------------
def to_int(params: Mapping[str, Any], name: str, *, required: bool = False, minimum: int | None = None,
           maximum: int | None = None, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing required param: {name}.", name, "parameter_missing")
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise invalid(f"Invalid integer: {value}", name, "parameter_invalid_integer") from None
    if minimum is not None and number < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", name, "parameter_invalid_integer")
    if maximum is not None and number > maximum:
        raise invalid(f"This value must be less than or equal to {maximum}.", name, "parameter_invalid_integer")
    return number


def to_bool(params: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    text = str(value).lower()
    if text not in ("true", "false"):
        raise invalid(f"Invalid boolean: {value}", name)
    return text == "true"


def to_str(params: Mapping[str, Any], name: str, *, required: bool = False,
           choices: tuple[str, ...] | None = None) -> str | None:
    value = params.get(name)
    if isinstance(value, (dict, list)):
        raise invalid(f"Invalid string: {name} must be a string", name)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing required param: {name}.", name, "parameter_missing")
        return None
    if choices is not None and value not in choices:
        raise invalid(f"Invalid {name}: must be one of {', '.join(choices)}", name)
    return str(value)


def check_unknown(params: Mapping[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed and name != "expand":
            raise invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")


def merge_metadata(current: dict[str, str] | None, update: Any) -> dict[str, str]:
    """Stripe semantics: keys merge, ``key=""`` removes a key, ``metadata=""`` clears all."""
    merged = dict(current or {})
    if update is None:
        return merged
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid("Invalid object", "metadata")
    for key, value in update.items():
        if isinstance(value, (dict, list)):
            raise invalid(f"Invalid value for metadata[{key}]", f"metadata[{key}]")
        if len(str(key)) > 40:
            raise invalid("Metadata keys can be at most 40 characters long.", f"metadata[{key}]")
        if len(str(value)) > 500:
            raise invalid("Metadata values can be at most 500 characters long.", f"metadata[{key}]")
        if value == "":
            merged.pop(key, None)
        else:
            merged[str(key)] = str(value)
    if len(merged) > 50:
        raise invalid("Metadata can have at most 50 keys.", "metadata")
    return merged


def as_list(value: Any, param: str) -> list[Any]:
    """Form arrays arrive as ``{"0": ..., "1": ...}``; JSON bodies as lists."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=lambda k: int(k) if str(k).isdigit() else 0)]
    raise invalid(f"Invalid array: {param}", param)


def money(amount: int, currency: str) -> str:
    """An amount as Stripe writes it in messages (``$10.00``, ``500 jpy``)."""
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency}"
    symbol = "$" if currency in ("usd", "cad", "aud") else ""
    return f"{symbol}{amount / 100:.2f}" + ("" if symbol else f" {currency}")
