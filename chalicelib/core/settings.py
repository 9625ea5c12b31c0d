"""One frozen settings object, read once from the environment."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.core.errors import ConfigurationError


def _parse_keys(raw: str) -> tuple[tuple[str, str], ...]:
    """``kid1:secret1,kid2:secret2``; the first key signs, all keys verify."""
    keys = []
    for part in raw.split(","):
        kid, sep, secret = part.strip().partition(":")
        if not sep or not kid or len(secret) < 32:
            raise ConfigurationError("MF_JWT_KEYS entries must be 'kid:secret' with secrets of 32+ chars")
        keys.append((kid, secret))
    return tuple(keys)


def _parse_licence_keys(raw: str) -> tuple[tuple[str, str], ...]:
    """``kid1:<base64 of a PEM RSA private key>,kid2:...``; the first signs, all are published."""
    import base64
    import binascii

    keys = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        kid, sep, encoded = part.partition(":")
        try:
            pem = base64.b64decode(encoded, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            pem = ""
        if not sep or not kid or "PRIVATE KEY" not in pem:
            raise ConfigurationError("MF_LICENSE_KEYS entries must be 'kid:<base64 of a PEM RSA private key>'")
        keys.append((kid, pem))
    return tuple(keys)


def _plugin_deployer(raw: str, artifact_store: str) -> str:
    """Where approved plugin versions are deployed; by default what the artifact store implies."""
    deployer = raw or ("local" if artifact_store.startswith("dir:") else
                       "cloudformation" if artifact_store.startswith("s3://") else "")
    if deployer == "local" and not artifact_store.startswith("dir:"):
        raise ConfigurationError("MF_PLUGIN_DEPLOYER=local needs MF_ARTIFACT_STORE=dir:/path")
    if deployer == "cloudformation" and not artifact_store.startswith("s3://"):
        raise ConfigurationError("MF_PLUGIN_DEPLOYER=cloudformation needs MF_ARTIFACT_STORE=s3://bucket/prefix "
                                 "(CloudFormation reads the function's code from S3)")
    if deployer not in ("", "local", "cloudformation"):
        raise ConfigurationError("MF_PLUGIN_DEPLOYER must be local or cloudformation")
    return deployer


def _limit(raw: str, name: str) -> str:
    requests, sep, seconds = raw.partition("/")
    if not sep or not requests.isdigit() or not seconds.isdigit() or int(requests) < 1 or int(seconds) < 1:
        raise ConfigurationError(f"{name} must be 'requests/seconds', e.g. 25/1")
    return raw


def _positive(raw: str, name: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a positive whole number")
    return int(raw)


def _choice(raw: str, name: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}")
    return raw


def _signing_key(raw: str) -> str:
    if raw and len(raw) < 32:
        raise ConfigurationError("MF_WEBHOOK_SIGNING_KEY must be at least 32 characters")
    return raw


@dataclass(frozen=True)
class Settings:
    stage: str
    table_prefix: str
    region: str
    dynamodb_endpoint: str | None
    jwt_keys: tuple[tuple[str, str], ...]
    jwt_issuer: str
    jwt_audience: str
    access_token_ttl_seconds: int
    key_cache_ttl_seconds: float
    max_body_bytes: int
    index_background_refresh: bool
    entitlement_cache_ttl_seconds: float
    plugin_runtime: str  # "local" (worker processes) | "lambda"
    plugin_source_root: str | None  # local runtime: where plugin_functions/<name>/ live
    plugin_function_template: str  # lambda runtime: the plugin's function name
    api_rate_limit: str  # "requests/seconds" per user on the management API
    auth_rate_limit: str  # per source address on sign-up and login
    purchase_rate_limit: str  # per user on purchases
    webhook_dispatch: str  # "thread" (local stack) | "lambda" (async invoke) | "manual" (tests)
    webhooks_allow_private: bool  # the local stack delivers to 127.0.0.1; AWS never to private ranges
    stripe_secret_key: str  # empty: billing and payouts refuse to run (configuration error)
    stripe_api_base: str | None  # the local Stripe stand-in; None is api.stripe.com
    stripe_webhook_secret: str
    webhook_signing_key: str  # derives every install's webhook signing secret; empty: webhooks cannot be signed
    licence_keys: tuple[tuple[str, str], ...]  # (kid, PEM private key); empty: licences cannot be issued
    artifact_store: str  # submitted plugin packages: "dir:/path" (local stack) | "s3://bucket/prefix"; empty: refused
    checks_dispatch: str  # publishing checks: "inline" (tests) | "thread" (local stack) | "lambda" (async invoke)
    # Approved versions: "local" (extracted for the local runtime) | "cloudformation" (a stack per plugin
    # major in AWS); empty with no artifact store (publishing refused). Default: what the store implies.
    plugin_deployer: str
    # Sandbox keys' limits, like Stripe's test mode: calls per key ("requests/seconds") and calls a
    # month per (user, plugin); past them 429 sandbox_limit.
    sandbox_rate_limit: str = "25/1"
    sandbox_monthly_calls: int = 100_000
    dunning_grace_days: int = 7  # a failed usage invoice: live calls refused (402 payment_overdue) after this
    negative_balances: str = "carry"  # carry (net against the next payouts) | reverse_transfer (claw back)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        required = ("MF_STAGE", "MF_JWT_KEYS")
        missing = [name for name in required if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"missing required settings: {', '.join(missing)}")
        stage = environ["MF_STAGE"]
        return cls(
            stage=stage,
            table_prefix=environ.get("MF_TABLE_PREFIX", f"mf-{stage}-"),
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            dynamodb_endpoint=environ.get("MF_DYNAMODB_ENDPOINT") or None,
            jwt_keys=_parse_keys(environ["MF_JWT_KEYS"]),
            jwt_issuer=environ.get("MF_JWT_ISSUER", "https://mockfactory.io"),
            jwt_audience=environ.get("MF_JWT_AUDIENCE", "mockfactory-api"),
            access_token_ttl_seconds=int(environ.get("MF_ACCESS_TOKEN_TTL", "3600")),
            key_cache_ttl_seconds=float(environ.get("MF_KEY_CACHE_TTL", "5")),
            max_body_bytes=int(environ.get("MF_MAX_BODY_BYTES", str(256 * 1024))),
            index_background_refresh=environ.get("MF_INDEX_BACKGROUND_REFRESH", "1") == "1",
            entitlement_cache_ttl_seconds=float(environ.get("MF_ENTITLEMENT_CACHE_TTL", "5")),
            plugin_runtime=environ.get("MF_PLUGIN_RUNTIME", "lambda"),
            plugin_source_root=environ.get("MF_PLUGIN_SOURCE_ROOT") or None,
            plugin_function_template=environ.get("MF_PLUGIN_FUNCTION_TEMPLATE",
                                                 "mf-plugin-{name}-v{major}-{stage}-handler"),
            api_rate_limit=environ.get("MF_API_RATE_LIMIT", "100/900"),
            auth_rate_limit=environ.get("MF_AUTH_RATE_LIMIT", "20/900"),
            purchase_rate_limit=environ.get("MF_PURCHASE_RATE_LIMIT", "5/3600"),
            webhook_dispatch=environ.get("MF_WEBHOOK_DISPATCH", "lambda"),
            webhooks_allow_private=environ.get("MF_WEBHOOKS_ALLOW_PRIVATE", "0") == "1",
            stripe_secret_key=environ.get("MF_STRIPE_SECRET_KEY", ""),
            stripe_api_base=environ.get("MF_STRIPE_API_BASE") or None,
            stripe_webhook_secret=environ.get("MF_STRIPE_WEBHOOK_SECRET", ""),
            webhook_signing_key=_signing_key(environ.get("MF_WEBHOOK_SIGNING_KEY", "")),
            licence_keys=_parse_licence_keys(environ.get("MF_LICENSE_KEYS", "")),
            artifact_store=environ.get("MF_ARTIFACT_STORE", ""),
            checks_dispatch=environ.get("MF_CHECKS_DISPATCH", "lambda"),
            plugin_deployer=_plugin_deployer(environ.get("MF_PLUGIN_DEPLOYER", ""),
                                             environ.get("MF_ARTIFACT_STORE", "")),
            sandbox_rate_limit=_limit(environ.get("MF_SANDBOX_RATE_LIMIT", "25/1"), "MF_SANDBOX_RATE_LIMIT"),
            sandbox_monthly_calls=_positive(environ.get("MF_SANDBOX_MONTHLY_CALLS", "100000"),
                                            "MF_SANDBOX_MONTHLY_CALLS"),
            dunning_grace_days=_positive(environ.get("MF_DUNNING_GRACE_DAYS", "7"), "MF_DUNNING_GRACE_DAYS"),
            negative_balances=_choice(environ.get("MF_NEGATIVE_BALANCES", "carry"), "MF_NEGATIVE_BALANCES",
                                      ("carry", "reverse_transfer")),
        )
