"""Settings given by reference are read from Secrets Manager (moto), cached, and never leak."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from moto import mock_aws

from chalicelib.core.errors import ConfigurationError
from chalicelib.core.secrets import SECRET_SETTINGS, resolve_secrets, secret_references
from chalicelib.core.settings import Settings
from infra import template

REPO = Path(__file__).resolve().parents[2]
JWT_KEYS = "k1:" + "s" * 40
REGION = "us-east-1"


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def source(secretsmanager: Any) -> SecretsProvider:
    return SecretsProvider(boto3_client=secretsmanager)


def test_an_environ_without_references_comes_back_unchanged_and_touches_no_aws():
    environ = {"MF_STAGE": "dev", "MF_JWT_KEYS": JWT_KEYS, "MF_STRIPE_WEBHOOK_SECRET": "whsec_x"}

    class Refuses:
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("no secret should be read")

    assert resolve_secrets(environ, source=Refuses()) == environ
    # MF_STRIPE_WEBHOOK_SECRET ends in _SECRET but is a value, not a reference to one.
    assert secret_references(environ) == {}


def test_references_are_replaced_by_the_secret_values(secretsmanager: Any, source: SecretsProvider):
    secretsmanager.create_secret(Name="mf/prod/jwt-keys", SecretString=JWT_KEYS + "\n")
    secretsmanager.create_secret(Name="mf/prod/stripe-webhook-secret", SecretString="whsec_abc")
    environ = {"MF_STAGE": "prod", "MF_JWT_KEYS_SECRET": "mf/prod/jwt-keys",
               "MF_STRIPE_WEBHOOK_SECRET_SECRET": "mf/prod/stripe-webhook-secret"}

    resolved = resolve_secrets(environ, source=source)

    assert resolved == {"MF_STAGE": "prod", "MF_JWT_KEYS": JWT_KEYS, "MF_STRIPE_WEBHOOK_SECRET": "whsec_abc"}
    settings = Settings.from_env(resolved)
    assert settings.jwt_keys == (("k1", "s" * 40),)
    assert settings.stripe_webhook_secret == "whsec_abc"


def test_values_are_cached_for_max_age(secretsmanager: Any, source: SecretsProvider):
    secretsmanager.create_secret(Name="mf/dev/jwt-keys", SecretString=JWT_KEYS)
    environ = {"MF_STAGE": "dev", "MF_JWT_KEYS_SECRET": "mf/dev/jwt-keys", "MF_SECRETS_MAX_AGE": "300"}
    assert resolve_secrets(environ, source=source)["MF_JWT_KEYS"] == JWT_KEYS

    rotated = "k2:" + "r" * 40
    secretsmanager.put_secret_value(SecretId="mf/dev/jwt-keys", SecretString=rotated)
    assert resolve_secrets(environ, source=source)["MF_JWT_KEYS"] == JWT_KEYS  # cached
    # A new container (a new provider) reads the rotated value.
    fresh = SecretsProvider(boto3_client=secretsmanager)
    assert resolve_secrets(environ, source=fresh)["MF_JWT_KEYS"] == rotated


def test_a_missing_secret_is_a_configuration_error(source: SecretsProvider):
    with pytest.raises(ConfigurationError, match="mf/prod/license-keys.*MF_LICENSE_KEYS"):
        resolve_secrets({"MF_LICENSE_KEYS_SECRET": "mf/prod/license-keys"}, source=source)


def test_value_and_reference_together_are_refused(source: SecretsProvider):
    with pytest.raises(ConfigurationError, match="MF_JWT_KEYS"):
        resolve_secrets({"MF_JWT_KEYS": JWT_KEYS, "MF_JWT_KEYS_SECRET": "mf/dev/jwt-keys"}, source=source)


def test_the_deployed_placeholder_fails_settings_without_showing_the_value(secretsmanager: Any,
                                                                            source: SecretsProvider):
    # infra creates each secret with a random placeholder until put-secret-value replaces it.
    placeholder = "Zq8" * 13
    secretsmanager.create_secret(Name="mf/prod/jwt-keys", SecretString=placeholder)
    resolved = resolve_secrets({"MF_STAGE": "prod", "MF_JWT_KEYS_SECRET": "mf/prod/jwt-keys"}, source=source)
    with pytest.raises(ConfigurationError) as failure:
        Settings.from_env(resolved)
    assert placeholder not in str(failure.value)


def test_the_chalice_config_names_exactly_the_secrets_infra_creates():
    config = json.loads((REPO / ".chalice" / "config.json").read_text())
    for stage in template.STAGES:
        environment = config["stages"][stage]["environment_variables"]
        references = {k: v for k, v in environment.items() if k.endswith("_SECRET")}
        assert references == template.secret_environment(stage)
        assert set(secret_references(environment)) == set(SECRET_SETTINGS)
        created = {r["Properties"]["Name"] for r in template.template(stage)["Resources"].values()
                   if r["Type"] == "AWS::SecretsManager::Secret"}
        assert created == set(references.values())
        assert not any(k in environment for k in SECRET_SETTINGS), "no secret value in config.json"
