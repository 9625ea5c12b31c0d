"""The one wiring place: builds services lazily, once per container; tests replace it."""
from __future__ import annotations

import os
import threading
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.core.clock import Clock, SystemClock
from chalicelib.core.dynamo import bind_models
from chalicelib.core.settings import Settings

if TYPE_CHECKING:
    from mocklib_plugin_sdk.state import DynamoDBStateStore

    from chalicelib.audit.service import AuditLog
    from chalicelib.auth.service import AuthService
    from chalicelib.billing.holding import Holding
    from chalicelib.billing.service import BillingService
    from chalicelib.catalog.service import CatalogService
    from chalicelib.gateway.entitlements import EntitlementResolver
    from chalicelib.gateway.service import GatewayService
    from chalicelib.installs.service import InstallService
    from chalicelib.licensing.service import LicensingService
    from chalicelib.limits.quotas import QuotaStore
    from chalicelib.limits.service import RateLimiter
    from chalicelib.metering.aggregation import Aggregator
    from chalicelib.metering.service import MeteringService
    from chalicelib.notifications.service import NotificationService
    from chalicelib.payments.port import PaymentsPort
    from chalicelib.payouts.accounts import AccountService
    from chalicelib.payouts.earnings import EarningsService
    from chalicelib.payouts.service import PayoutService
    from chalicelib.publishing.artifacts import ArtifactStore
    from chalicelib.publishing.deployment import Deployer
    from chalicelib.publishing.service import PublishingService
    from chalicelib.metering.charges import MeteredCharges
    from chalicelib.revenue.repository import LedgerRepository
    from chalicelib.revenue.service import RevenueService
    from chalicelib.runtime.port import PluginRuntime
    from chalicelib.trust.certification import CertificationService
    from chalicelib.trust.reviews import ReviewService
    from chalicelib.webhooks.service import WebhookService


class Container:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 runtime: PluginRuntime | None = None, payments: PaymentsPort | None = None,
                 ledger: LedgerRepository | None = None) -> None:
        from chalicelib.tables import TABLES

        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._runtime = runtime
        self._payments = payments
        self._ledger = ledger
        bind_models(TABLES, prefix=settings.table_prefix, region=settings.region,
                    host=settings.dynamodb_endpoint)

    @cached_property
    def auth(self) -> AuthService:
        from chalicelib.auth.repository import AuthRepository
        from chalicelib.auth.service import AuthService
        from chalicelib.auth.tokens import TokenIssuer
        from chalicelib.core.cache import TtlCache

        tokens = TokenIssuer(self.settings.jwt_keys, issuer=self.settings.jwt_issuer,
                             audience=self.settings.jwt_audience,
                             ttl_seconds=self.settings.access_token_ttl_seconds, clock=self.clock)
        return AuthService(AuthRepository(), tokens, self.clock, TtlCache(self.settings.key_cache_ttl_seconds))

    @cached_property
    def catalog(self) -> CatalogService:
        from chalicelib.catalog.index import CatalogIndex
        from chalicelib.catalog.repository import CatalogRepository
        from chalicelib.catalog.service import CatalogService

        from chalicelib.catalog.documents import SourceDocuments

        repository = CatalogRepository()
        index = CatalogIndex(repository, background=self.settings.index_background_refresh)
        return CatalogService(repository, index, self.clock, SourceDocuments(self.settings.plugin_source_root))

    @cached_property
    def installs(self) -> InstallService:
        from chalicelib.installs.repository import InstallRepository
        from chalicelib.installs.service import InstallService

        from chalicelib.gateway.lifecycle import LifecycleNotifier

        lifecycle = LifecycleNotifier(self.catalog, self.entitlements.functions, self.runtime, self.webhooks)
        return InstallService(InstallRepository(), self.catalog, self.clock, self.webhooks.secret,
                              listeners=(self.entitlements.forget_install, lifecycle))

    @cached_property
    def limiter(self) -> RateLimiter:
        from chalicelib.limits.service import RateLimiter, WindowStore

        return RateLimiter(WindowStore(), self.clock)

    @cached_property
    def metering(self) -> MeteringService:
        from chalicelib.metering.repository import UsageRepository
        from chalicelib.metering.service import MeteringService

        return MeteringService(UsageRepository(), self.clock)

    @cached_property
    def entitlements(self) -> EntitlementResolver:
        from chalicelib.gateway.entitlements import EntitlementResolver, FunctionLocator
        from chalicelib.installs.repository import InstallRepository

        functions = FunctionLocator(function_template=self.settings.plugin_function_template,
                                    stage=self.settings.stage, source_root=self.settings.plugin_source_root,
                                    deployed_root=self._deployed_root)
        return EntitlementResolver(InstallRepository(), self.catalog, functions,
                                   self.settings.entitlement_cache_ttl_seconds, holding=self.holding,
                                   standing=lambda user_id: self.billing.standing(user_id))

    @cached_property
    def plugin_state(self) -> DynamoDBStateStore:
        """Plugins' own state (the SDK's table), used by the local runtime on their behalf."""
        from mocklib_plugin_sdk.state import DynamoDBStateStore

        return DynamoDBStateStore(f"{self.settings.table_prefix}plugin-state", region=self.settings.region,
                                  endpoint=self.settings.dynamodb_endpoint)

    @cached_property
    def runtime(self) -> PluginRuntime:
        if self._runtime is not None:
            return self._runtime
        if self.settings.plugin_runtime == "local":
            from chalicelib.runtime.local import LocalRuntime

            # The platform's own plugins may run where no sandbox exists (with a warning); nothing else.
            trusted = (self.settings.plugin_source_root,) if self.settings.plugin_source_root else ()
            return LocalRuntime(self.plugin_state, trusted_roots=trusted)
        import boto3

        from chalicelib.catalog.manifest import API_GATEWAY_TIMEOUT_S
        from chalicelib.runtime.lambda_runtime import LambdaRuntime, lambda_client_config

        config = lambda_client_config(API_GATEWAY_TIMEOUT_S)  # one attempt: plugins need not be idempotent
        return LambdaRuntime(boto3.client("lambda", region_name=self.settings.region, config=config))

    @cached_property
    def webhooks(self) -> WebhookService:
        from chalicelib.webhooks.repository import DynamoDeliveryRepository
        from chalicelib.webhooks.service import LambdaDispatcher, ThreadDispatcher, UrllibSender, WebhookService
        from chalicelib.webhooks.signing import EndpointSecrets

        service = WebhookService(DynamoDeliveryRepository(),
                                 UrllibSender(allow_private=self.settings.webhooks_allow_private),
                                 EndpointSecrets(self.settings.webhook_signing_key), self.clock)
        if self.settings.webhook_dispatch == "thread":
            service.dispatcher = ThreadDispatcher(service.attempt)
        elif self.settings.webhook_dispatch == "lambda":
            import boto3

            name = f"mockfactory-marketplace-{self.settings.stage}-webhook_dispatcher"
            service.dispatcher = LambdaDispatcher(boto3.client("lambda", region_name=self.settings.region), name)
        return service

    @cached_property
    def gateway(self) -> GatewayService:
        from chalicelib.gateway.service import GatewayService
        from chalicelib.webhooks.service import Target

        def deliver(entitlement, sandbox, entries):  # type: ignore[no-untyped-def]
            self.webhooks.enqueue(Target.of(entitlement.install, sandbox=sandbox), entries)

        from chalicelib.gateway.service import SandboxLimits
        from chalicelib.limits.quotas import SlotStore
        from chalicelib.limits.service import Limit

        sandbox = SandboxLimits(Limit.parse(self.settings.sandbox_rate_limit), self.settings.sandbox_monthly_calls)
        return GatewayService(self.auth, self.entitlements, self.limiter, self.runtime, self.metering,
                              self.clock, self.quotas, SlotStore(self.clock), on_webhooks=deliver, sandbox=sandbox)

    @cached_property
    def quotas(self) -> QuotaStore:
        from chalicelib.limits.quotas import QuotaStore

        return QuotaStore()

    @property
    def _deployed_root(self) -> str | None:
        """Where the local runtime finds approved packages (the local deployer's root); None in AWS.
        From the settings alone: the gateway needs it without building a deployer."""
        from pathlib import Path

        spec = self.settings.artifact_store
        return str(Path(spec[4:]) / "deployed") if self.settings.plugin_deployer == "local" else None

    @cached_property
    def artifact_store(self) -> ArtifactStore:
        from chalicelib.publishing.artifacts import open_store

        return open_store(self.settings.artifact_store, self.settings.region)

    @cached_property
    def deployer(self) -> Deployer | None:
        """Where approved plugin versions run: extracted for the local runtime (dev stack, tests), or
        one CloudFormation stack per plugin major (AWS); None without an artifact store."""
        from pathlib import Path

        settings = self.settings
        if settings.plugin_deployer == "local":
            from chalicelib.publishing.deployment import LocalDeployer

            return LocalDeployer(Path(str(self._deployed_root)))
        if settings.plugin_deployer == "cloudformation":
            import boto3

            from chalicelib.publishing.artifacts import S3Store
            from chalicelib.publishing.cloudformation import CloudFormationDeployer, StackEnvironment

            store = self.artifact_store
            assert isinstance(store, S3Store)  # Settings: cloudformation needs an s3:// store
            environment = StackEnvironment(stage=settings.stage, function_template=settings.plugin_function_template,
                                           state_table=f"{settings.table_prefix}plugin-state")
            return CloudFormationDeployer(boto3.client("cloudformation", region_name=settings.region),
                                          boto3.client("lambda", region_name=settings.region), store, environment)
        return None

    @cached_property
    def publishing(self) -> PublishingService:
        from chalicelib.core.errors import ConfigurationError
        from chalicelib.publishing.pipeline import DeploymentPipeline
        from chalicelib.publishing.repository import SubmissionRepository
        from chalicelib.publishing.service import PublishingService
        from chalicelib.publishing.submissions import Submissions

        settings = self.settings
        store, deployer = self.artifact_store, self.deployer
        if deployer is None:
            raise ConfigurationError("MF_ARTIFACT_STORE is not set: publishing is unavailable")
        submissions = Submissions(SubmissionRepository(), self.notifications, self.clock)
        pipeline = DeploymentPipeline(submissions, self.catalog, store, deployer, self.clock)
        service = PublishingService(self.catalog, store, submissions, pipeline, self.clock)
        if settings.checks_dispatch in ("inline", "thread"):
            # Third-party code is checked on this machine: refused where it cannot be sandboxed.
            from mocklib_plugin_sdk.sandbox import unavailable_reason

            service.sandbox_check = unavailable_reason
        if settings.checks_dispatch == "thread":
            from concurrent.futures import ThreadPoolExecutor

            checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="submission-checks")
            service.dispatch = lambda submission_id: checks.submit(service.run_checks, submission_id)
        elif settings.checks_dispatch == "lambda":
            import boto3

            from chalicelib.publishing.artifacts import S3Store
            from chalicelib.publishing.remote_checks import LambdaChecks

            if not isinstance(store, S3Store):
                raise ConfigurationError("MF_CHECKS_DISPATCH=lambda needs MF_ARTIFACT_STORE=s3://...: the checks "
                                         "function reads the package and writes its results through signed S3 URLs")
            name = f"mockfactory-marketplace-{settings.stage}-submission_checks"
            service.remote = LambdaChecks(boto3.client("lambda", region_name=settings.region), name, store)
            service.dispatch = service.send_to_checks_function
        elif settings.checks_dispatch != "inline":
            raise ConfigurationError("MF_CHECKS_DISPATCH must be inline, thread or lambda")
        return service

    @cached_property
    def audit(self) -> AuditLog:
        from chalicelib.audit.service import AuditLog

        return AuditLog(self.clock)

    @cached_property
    def notifications(self) -> NotificationService:
        from chalicelib.notifications.service import NotificationService

        return NotificationService(self.clock)

    @cached_property
    def payments(self) -> PaymentsPort:
        if self._payments is not None:
            return self._payments
        from chalicelib.payments.port import UnconfiguredPayments
        from chalicelib.payments.stripe_gateway import StripePayments

        if not self.settings.stripe_secret_key:
            return UnconfiguredPayments()  # type: ignore[return-value]
        return StripePayments(self.settings.stripe_secret_key, api_base=self.settings.stripe_api_base,
                              webhook_secret=self.settings.stripe_webhook_secret)

    def _email_of(self, user_id: str) -> str:
        return self.auth.get_user(user_id).email

    def holding(self, user_id: str, plugin: str) -> Holding:
        """What the user holds on the plugin now (no Stripe needed to know it)."""
        from chalicelib.billing.holding import current_holding

        return current_holding(user_id, plugin, self.catalog.current_pricing(plugin), self.clock.now())

    @cached_property
    def revenue(self) -> RevenueService:
        """The ledger: every money movement goes through it."""
        from chalicelib.revenue.repository import DynamoLedgerRepository
        from chalicelib.revenue.service import RevenueService

        return RevenueService(self._ledger or DynamoLedgerRepository(), self.clock)

    @cached_property
    def charges(self) -> MeteredCharges:
        from chalicelib.metering.charges import MeteredCharges

        return MeteredCharges(self.revenue.rate)

    def _owner_of(self, plugin: str) -> tuple[str, int]:
        found = self.catalog.get_plugin(plugin)
        return found.author_id, found.revenue_share_bps

    @cached_property
    def billing(self) -> BillingService:
        from chalicelib.billing.context import BillingContext
        from chalicelib.billing.service import BillingService

        def plan_changed(user_id: str, plugin: str, reason: str) -> None:
            self.entitlements.forget(user_id, plugin)  # here at once; other containers within their cache TTL
            if self.settings.licence_keys:
                self.licensing.issue(user_id, plugin, reason=reason)

        ctx = BillingContext(payments=self.payments, pricing_of=self.catalog.current_pricing, owner_of=self._owner_of,
                             email_of=self._email_of, notifications=self.notifications, clock=self.clock,
                             revenue=self.revenue, charges=self.charges, referral_of=self.accounts.referral_of,
                             on_plan_change=plan_changed, on_account_updated=self.accounts.on_account_updated,
                             on_standing_change=lambda user_id: self.entitlements.forget_user(user_id),
                             grace_days=self.settings.dunning_grace_days)
        return BillingService(ctx)

    @cached_property
    def aggregator(self) -> Aggregator:
        from chalicelib.catalog.pricing import rate_for
        from chalicelib.metering.aggregation import Aggregator

        def rate(plugin: str, user_id: str):  # type: ignore[no-untyped-def]
            return rate_for(self.catalog.current_pricing(plugin), self.holding(user_id, plugin).plan_id)

        def rated(plugin: str, user_id: str, month: str) -> None:
            self.charges.sync_month(plugin, user_id, month)

        return Aggregator(rate, self.clock, on_rated=rated)

    @cached_property
    def payouts(self) -> PayoutService:
        from chalicelib.payouts.repository import PayoutRepository
        from chalicelib.payouts.service import PayoutService

        return PayoutService(PayoutRepository(), self.catalog.get_plugin, self.payments, self.notifications,
                             self.clock, self.revenue, negative_balances=self.settings.negative_balances)

    @cached_property
    def accounts(self) -> AccountService:
        from chalicelib.payouts.accounts import AccountService
        from chalicelib.payouts.repository import PayoutRepository

        return AccountService(PayoutRepository(), self.payments, self._email_of,
                              lambda user_id: self.auth.get_user(user_id).role, self.clock,
                              earned_of=lambda developer: self.revenue.statement(developer)["credited_micros"])

    @cached_property
    def earnings(self) -> EarningsService:
        from chalicelib.catalog.repository import CatalogRepository
        from chalicelib.payouts.earnings import EarningsService
        from chalicelib.payouts.repository import PayoutRepository

        return EarningsService(PayoutRepository(), CatalogRepository().list_by_author, self.clock, self.revenue,
                               self.payouts)

    @cached_property
    def licensing(self) -> LicensingService:
        from chalicelib.licensing.service import LicensingService

        return LicensingService(self.settings.licence_keys, self.holding, self.clock,
                                issuer=self.settings.jwt_issuer)

    @cached_property
    def reviews(self) -> ReviewService:
        from chalicelib.trust.repository import ReviewRepository
        from chalicelib.trust.reviews import ReviewService

        # A rating change moves the card: this container's search index re-reads before its next answer.
        return ReviewService(ReviewRepository(), self.catalog.get_plugin, self.notifications, self._email_of,
                             self.clock, on_listing_changed=self.catalog.listing_changed)

    @cached_property
    def certification(self) -> CertificationService:
        from chalicelib.trust.certification import CertificationService

        return CertificationService(self.catalog.get_plugin, self.notifications, self.clock,
                                    on_listing_changed=self.catalog.listing_changed)


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                from chalicelib.core.secrets import resolve_secrets

                _container = Container(Settings.from_env(resolve_secrets(os.environ)))
    return _container


def set_container(new: Container | None) -> None:
    """Tests and the dev stack install their own container (or None to rebuild from env)."""
    global _container
    _container = new
