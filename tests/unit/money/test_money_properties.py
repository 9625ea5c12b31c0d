"""Property tests of the pure money rules: rating, splits, the payout plan, periods."""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.periods import next_period, period_end, period_of, period_start, previous_period
from chalicelib.metering.rating import UNLIMITED, Rate, paid_by_half
from chalicelib.payouts.plan import (BPS, MICROS_PER_CENT, MINIMUM_PAYOUT_CENTS, WIRE_MINIMUM_CENTS, Credit, Payee,
                                     plan_payouts, split)

shares = st.sampled_from([7000, 7500, 8000])
allowances = st.one_of(st.just(UNLIMITED), st.integers(0, 10_000))
prices = st.sampled_from([0, 1_000, 5_000, 12_345, 1_000_000])


@given(allowance=allowances, price=prices,
       hours=st.lists(st.tuples(st.integers(1, 28), st.integers(0, 3_000)), max_size=60))
def test_free_tier_is_the_same_whether_a_month_is_paid_in_one_period_or_two(allowance, price, hours):
    rate = Rate(allowance, price)
    first = sum(calls for day, calls in hours if day < 15)
    second = sum(calls for day, calls in hours if day >= 15)
    paid_first, paid_second = paid_by_half(rate, first, second)
    assert paid_first >= 0 and paid_second >= 0
    assert paid_first + paid_second == rate.paid_calls(first + second)
    expected = 0 if allowance == UNLIMITED else max(0, first + second - allowance)
    assert (paid_first + paid_second) * price == expected * price


@given(allowance=allowances, steps=st.lists(st.tuples(st.booleans(), st.integers(0, 5_000)), max_size=40))
def test_counting_hours_in_any_order_or_in_pieces_ends_at_the_same_split(allowance, steps):
    """The aggregation folds hours in as they come (late hours included): the end state is order-free."""
    rate = Rate(allowance, 1_000)
    first = second = 0
    total_first = total_second = 0
    for in_first, calls in steps:
        before = paid_by_half(rate, first, second)
        first, second = (first + calls, second) if in_first else (first, second + calls)
        after = paid_by_half(rate, first, second)
        total_first += after[0] - before[0]
        total_second += after[1] - before[1]
    assert (total_first, total_second) == paid_by_half(rate, first, second)


@given(revenue=st.integers(0, 10**13), share=shares)
def test_developer_plus_platform_is_the_revenue_exactly(revenue, share):
    developer, platform, _ = split(revenue, share)
    assert developer + platform == revenue
    assert developer == revenue * share // BPS and 0 <= platform


balances = st.dictionaries(st.sampled_from(["dev1", "dev2", "dev3"]), st.integers(-10**9, 10**10))


@settings(max_examples=200)
@given(available=balances, ready=st.booleans(), rails=st.sampled_from(["stripe", "paypal", "wire"]),
       bonuses=st.lists(st.tuples(st.sampled_from(["dev1", "dev2"]), st.integers(1, 10**9)), max_size=3))
def test_the_plan_pays_whole_cents_of_what_is_available_and_carries_the_rest(available, ready, rails, bonuses):
    payees = {dev: Payee(dev, available.get(dev, 0), rail=rails, tax_form=ready, account_ready=ready)
              for dev in ("dev1", "dev2", "dev3")}
    credits = [Credit(dev, "milestone", f"m{n}", amount) for n, (dev, amount) in enumerate(bonuses)]
    plan = plan_payouts("2026-11-01", payees, credits)
    assert sorted(line.developer for line in plan.payouts) == ["dev1", "dev2", "dev3"]
    for line in plan.payouts:
        total = available.get(line.developer, 0) + sum(c.amount_micros for c in credits if c.developer == line.developer)
        assert line.amount_cents == total // MICROS_PER_CENT  # whole cents; the sub-cent rest stays
        minimum = WIRE_MINIMUM_CENTS if rails == "wire" else MINIMUM_PAYOUT_CENTS
        assert line.moves_money == (ready and line.amount_cents >= minimum)
        if line.amount_cents < 0:
            assert line.status == "below_minimum" and "negative" in (line.reason or "")


def test_the_seed_worked_example():
    """500,000 calls, 100,000 free, 400,000 billable at $0.005 -> $2,000; $1,400 developer, $600 platform."""
    rate = Rate(allowance=1_000, unit_price_micros=5_000)
    users = 100  # 5,000 calls each: 1,000 free each
    paid = sum(sum(paid_by_half(rate, 5_000, 0)) for _ in range(users))
    assert paid == 400_000
    revenue = paid * rate.unit_price_micros
    assert revenue == 2_000 * 100 * MICROS_PER_CENT
    developer, platform, _ = split(revenue, 7000)
    assert developer == 1_400 * 100 * MICROS_PER_CENT and platform == 600 * 100 * MICROS_PER_CENT
    plan = plan_payouts("2026-01-15", {"dev": Payee("dev", developer, tax_form=True, account_ready=True)})
    assert plan.payouts[0].amount_cents == 140_000 and plan.payouts[0].status == "pay"


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)))
def test_periods_tile_the_calendar(day):
    period = period_of(day)
    assert period_start(period) <= day < period_end(period)
    assert next_period(previous_period(period)) == period
    assert period_of(period_end(period)) == next_period(period)
    assert period_of(period_end(period) - timedelta(days=1)) == period
