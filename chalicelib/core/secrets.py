"""Settings whose values live in AWS Secrets Manager, resolved once per container.

In AWS the API's environment names a secret instead of carrying the value:
``MF_JWT_KEYS_SECRET=mf/prod/jwt-keys`` means "``MF_JWT_KEYS`` is the value of the secret
``mf/prod/jwt-keys``" (names: ``infra/template.py`` SECRETS). :func:`resolve_secrets` reads
them through Powertools parameters, which caches each value for ``max_age`` seconds
(``MF_SECRETS_MAX_AGE``, default 300), and returns an environ in which ``Settings.from_env``
finds plain values. Locally and in tests nothing names a secret: the environ comes back
as it was and neither boto3 nor Powertools is imported.

Secret values are never logged and never put in an error message.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chalicelib.core.errors import ConfigurationError

# The settings that may be given by reference. An explicit list, not a suffix rule:
# MF_STRIPE_WEBHOOK_SECRET is itself a value whose name ends in _SECRET.
SECRET_SETTINGS = ("MF_JWT_KEYS", "MF_LICENSE_KEYS", "MF_STRIPE_SECRET_KEY", "MF_STRIPE_WEBHOOK_SECRET",
                   "MF_WEBHOOK_SIGNING_KEY")
REFERENCE_SUFFIX = "_SECRET"
DEFAULT_MAX_AGE_S = 300


class SecretSource(Protocol):
    """What a Powertools ``SecretsProvider`` offers (``get`` with caching)."""

    def get(self, name: str, max_age: int | None = None, transform: Any = None,
            force_fetch: bool = False, **sdk_options: Any) -> Any: ...


def secret_references(environ: Mapping[str, str]) -> dict[str, str]:
    """{setting: secret id} for every setting the environ gives by reference."""
    return {setting: environ[setting + REFERENCE_SUFFIX] for setting in SECRET_SETTINGS
            if environ.get(setting + REFERENCE_SUFFIX)}


def resolve_secrets(environ: Mapping[str, str], *, source: SecretSource | None = None) -> dict[str, str]:
    """A copy of ``environ`` with every ``<SETTING>_SECRET`` reference replaced by ``<SETTING>``'s value."""
    references = secret_references(environ)
    resolved = dict(environ)
    if not references:
        return resolved
    both = [s for s in references if environ.get(s)]
    if both:
        raise ConfigurationError(f"set either the value or the secret reference, not both: {', '.join(both)}")
    try:
        max_age = int(environ.get("MF_SECRETS_MAX_AGE", str(DEFAULT_MAX_AGE_S)))
    except ValueError as exc:
        raise ConfigurationError("MF_SECRETS_MAX_AGE must be an integer number of seconds") from exc
    if source is None:
        source = _default_source()
    for setting, secret_id in references.items():
        resolved[setting] = _read(source, setting, secret_id, max_age)
        del resolved[setting + REFERENCE_SUFFIX]
    return resolved


def _read(source: SecretSource, setting: str, secret_id: str, max_age: int) -> str:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = source.get(secret_id, max_age=max_age)
    except GetParameterError as exc:
        # The exception text comes from the service (no value in it); keep it for the operator.
        raise ConfigurationError(f"cannot read secret {secret_id!r} for {setting}: {exc}") from exc
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"secret {secret_id!r} for {setting} is empty or not a string")
    return value.strip()  # `put-secret-value --secret-string file://key` keeps the file's newline


_source: SecretSource | None = None


def _default_source() -> SecretSource:
    # One provider per container: its cache is what max_age applies to.
    global _source
    if _source is None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        _source = SecretsProvider()
    return _source
