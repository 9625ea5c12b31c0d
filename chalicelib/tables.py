"""Every DynamoDB table of the API, as its PynamoDB base model: the one source of schema."""
from __future__ import annotations

from pynamodb.models import Model

from chalicelib.auth.records import AuthTable
from chalicelib.catalog.records import CatalogTable
from chalicelib.installs.records import InstallTable
from chalicelib.limits.records import LimitsTable
from chalicelib.metering.records import UsageTable
from chalicelib.webhooks.records import WebhooksTable

TABLES: tuple[type[Model], ...] = (AuthTable, CatalogTable, InstallTable, UsageTable, LimitsTable, WebhooksTable)
