"""Environment settings, read once when a host starts (never at import time)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

from .errors import ConfigurationError

DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SdkSettings:
    state_table: str | None = None
    dynamodb_endpoint: str | None = None
    region: str = "us-east-1"
    deterministic: bool = False
    seed: str = "0"
    epoch: datetime = DEFAULT_EPOCH

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SdkSettings:
        env = os.environ if environ is None else environ
        epoch = DEFAULT_EPOCH
        if env.get("MF_PLUGIN_EPOCH"):
            try:
                epoch = datetime.fromisoformat(env["MF_PLUGIN_EPOCH"].replace("Z", "+00:00"))
            except ValueError as exc:
                raise ConfigurationError(f"MF_PLUGIN_EPOCH is not ISO-8601: {env['MF_PLUGIN_EPOCH']!r}") from exc
            if epoch.tzinfo is None:
                epoch = epoch.replace(tzinfo=timezone.utc)
        return cls(
            state_table=env.get("MF_PLUGIN_STATE_TABLE") or None,
            dynamodb_endpoint=env.get("MF_DYNAMODB_ENDPOINT") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            deterministic=env.get("MF_PLUGIN_DETERMINISTIC", "").strip().lower() in _TRUE,
            seed=env.get("MF_PLUGIN_SEED", "0"),
            epoch=epoch,
        )

    def require_state_table(self) -> str:
        if not self.state_table:
            raise ConfigurationError(
                "plugin storage needs the MF_PLUGIN_STATE_TABLE environment variable")
        return self.state_table
