"""Every DynamoDB table of the API, as its PynamoDB base model: the one source of schema."""
from __future__ import annotations

from pynamodb.models import Model

from chalicelib.audit.records import AuditTable
from chalicelib.auth.records import AuthTable
from chalicelib.billing.records import BillingTable
from chalicelib.catalog.records import CatalogTable
from chalicelib.installs.records import InstallTable
from chalicelib.licensing.records import LicensingTable
from chalicelib.limits.records import LimitsTable
from chalicelib.metering.records import UsageTable
from chalicelib.notifications.records import NotificationsTable
from chalicelib.payouts.records import PayoutsTable
from chalicelib.publishing.records import PublishingTable
from chalicelib.revenue.records import RevenueTable
from chalicelib.trust.records import TrustTable
from chalicelib.webhooks.records import WebhooksTable

TABLES: tuple[type[Model], ...] = (AuthTable, CatalogTable, InstallTable, UsageTable, LimitsTable, WebhooksTable,
                                   BillingTable, PayoutsTable, NotificationsTable, LicensingTable, PublishingTable,
                                   TrustTable, AuditTable, RevenueTable)
