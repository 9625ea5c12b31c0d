"""Stripe refusing a value the marketplace's caller chose is the caller's 400, not a 502: the
adapter runs on the real ``stripe`` library with an injected HTTP client answering as Stripe does."""
from __future__ import annotations

import json
from typing import Any

import pytest
import stripe

from chalicelib.core.errors import InvalidInputError
from chalicelib.payments.port import PaymentsError
from chalicelib.payments.stripe_gateway import StripePayments


class Refusing(stripe.HTTPClient):
    """Answers every request with Stripe's 400 ``invalid_request_error`` about ``param``."""

    name = "refusing"

    def __init__(self, param: str) -> None:
        super().__init__()
        self.param = param

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None) -> Any:
        error = {"error": {"type": "invalid_request_error", "param": self.param,
                           "message": f"Invalid {self.param}: not one Stripe knows"}}
        return json.dumps(error), 400, {"request-id": "req_1"}

    def close(self) -> None:
        pass


def payments(param: str) -> StripePayments:
    return StripePayments("sk_test_x", api_base="http://stripe.invalid", webhook_secret="whsec_x",
                          http_client=Refusing(param))


def test_a_country_stripe_refuses_is_the_callers_mistake():
    with pytest.raises(InvalidInputError) as caught:
        payments("country").create_connect_account(developer_id="usr_1", email="d@example.com", country="ZZ",
                                                   idempotency_key="k")
    assert caught.value.code == "invalid_parameter" and caught.value.details[0]["path"] == "country"


@pytest.mark.parametrize("param", ["success_url", "cancel_url"])
def test_a_return_url_stripe_refuses_is_the_callers_mistake(param):
    with pytest.raises(InvalidInputError):
        payments(param).create_checkout_session(customer_id="cus_1", price_id="price_1", mode="payment",
                                                success_url="https://x.example/ok", cancel_url="https://x.example/no",
                                                metadata={}, trial_days=None, idempotency_key="k")


def test_a_parameter_the_marketplace_chose_stays_a_provider_failure():
    with pytest.raises(PaymentsError) as caught:
        payments("capabilities").create_connect_account(developer_id="usr_1", email="d@example.com", country="US",
                                                        idempotency_key="k")
    assert not isinstance(caught.value, InvalidInputError) and caught.value.retryable is False
