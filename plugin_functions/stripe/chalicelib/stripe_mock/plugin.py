"""``StripePlugin``: every resource mixin of this package, composed.

The SDK's router collects the ``@endpoint`` methods through the MRO and ranks routes by
specificity, so the order of the bases does not matter. A new resource module adds its
mixin here.
"""
from __future__ import annotations

from .balance import BalanceMixin
from .charges import ChargesMixin
from .checkout import CheckoutMixin
from .connect import ConnectMixin
from .customers import CustomersMixin
from .discounts import DiscountsMixin
from .disputes import DisputesMixin
from .events import EventsMixin
from .invoice_preview import InvoicePreviewMixin
from .invoices import InvoicesMixin
from .payment_intents import PaymentIntentsMixin
from .payment_methods import PaymentMethodsMixin
from .payouts import PayoutsMixin
from .plans import PlansMixin
from .products import ProductsMixin
from .setup_intents import SetupIntentsMixin
from .sources import SourcesMixin
from .subscriptions import SubscriptionsMixin
from .tax import TaxMixin
from .clocks import TestClocksMixin
from .webhooks import WebhookEndpointsMixin


class StripePlugin(CustomersMixin, PaymentMethodsMixin, PaymentIntentsMixin, SetupIntentsMixin, ChargesMixin,
                   DisputesMixin, BalanceMixin, EventsMixin, ConnectMixin, WebhookEndpointsMixin, ProductsMixin,
                   SubscriptionsMixin, InvoicesMixin, CheckoutMixin, SourcesMixin, DiscountsMixin, TaxMixin,
                   PayoutsMixin, InvoicePreviewMixin, TestClocksMixin, PlansMixin):
    """Stripe's v1 API, one mixin per resource."""
