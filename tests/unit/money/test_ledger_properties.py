"""Property tests of the ledger's pure rules and of the usage invoice plan: every journal balances,
reversals never take back more than was paid, invoices neither lose nor invent a micro-dollar."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.billing.invoicing import STRIPE_MINIMUM_CHARGE_CENTS, Share, Take, plan_invoice
from chalicelib.revenue import ledger
from chalicelib.revenue.ledger import MICROS_PER_CENT, UnbalancedJournal, journal, prorate
from chalicelib.revenue.memory import InMemoryLedgerRepository
from chalicelib.revenue.service import RevenueService, UsageShare
from chalicelib.core.clock import FixedClock

shares = st.sampled_from([7000, 7500, 8000])
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_a_journal_that_does_not_balance_is_refused():
    with pytest.raises(UnbalancedJournal):
        journal("j1", "x", [("stripe:cash", 10), ("platform:fees", -9)])
    with pytest.raises(UnbalancedJournal):
        journal("j2", "x", [(f"dev:d{n}:payable", 1) for n in range(13)] + [("stripe:cash", -13)])
    with pytest.raises(ValueError):
        journal("j3", "x", [("nowhere", 1), ("stripe:cash", -1)])
    merged = journal("j4", "x", [("stripe:cash", 5), ("stripe:cash", 5), ("platform:fees", -10), ("dev:a:payable", 0)])
    assert [(p.account, p.amount_micros) for p in merged.postings] == [("platform:fees", -10), ("stripe:cash", 10)]


@given(cents=st.integers(0, 10**9), share=shares)
def test_every_flow_journal_balances(cents, share):
    flows = [ledger.rating("p", "u", "2026-11", cents, cents * 3),
             ledger.invoice_line("inv", 0, "u", "p", "2026-11", "d", cents, share),
             ledger.usage_payment("pi", "inv", "u", cents, {"d": (cents * share, cents * 100)}, cents),
             ledger.usage_share("pi", "d", cents * share, cents * 100, ledger.Referral("r")),
             ledger.plan_payment("pi2", "u", "p", "d", cents, share, ledger.Referral("r"), "subscription"),
             ledger.payout("d", "2026-11-01", cents, "tr_1"), ledger.clawback("d", "2026-11-01", cents, "tr_1"),
             ledger.bonus("d", "milestone", "p:users-100", cents), ledger.dispute_fee("dp_1", cents)]
    for flow in flows:
        assert sum(p.amount_micros for p in flow.postings) == 0


@given(part=st.integers(0, 10**12), whole=st.integers(1, 10**12),
       steps=st.lists(st.integers(0, 10**12), min_size=1, max_size=10))
def test_pro_rata_slices_add_up_and_never_exceed_the_part(part, whole, steps):
    part = min(part, whole)
    cumulative = sorted({min(whole, s) for s in steps})
    before, taken = 0, 0
    for after in cumulative:
        piece = prorate(part, whole, before, after)
        assert piece >= 0
        taken += piece
        before = after
    assert taken == part * before // whole <= part


@settings(max_examples=150)
@given(paid_cents=st.integers(50, 10**7), share=shares, refunds=st.lists(st.integers(1, 10**7), max_size=6),
       developers=st.integers(1, 14))
def test_refunds_reverse_pro_rata_and_never_more_than_was_paid(paid_cents, share, refunds, developers):
    repo = InMemoryLedgerRepository()
    revenue = RevenueService(repo, FixedClock(NOW))
    lines = [UsageShare(f"d{n}", 0, 0) for n in range(developers)]
    per_line = paid_cents // developers
    lines = []
    for n in range(developers):
        cents = per_line + (paid_cents - per_line * developers if n == 0 else 0)
        dev, plat = ledger.share(cents * MICROS_PER_CENT, share)
        revenue.invoice_line("inv", n, user="u", plugin=f"p{n}", month="2026-11", developer=f"d{n}", cents=cents,
                             share_bps=share)
        lines.append(UsageShare(f"d{n}", dev, plat))
    revenue.usage_paid("pi_1", "inv", "u", paid_cents, lines, lambda d: None)
    cumulative = 0
    for refund in refunds:  # each delivered twice, the second time late
        cumulative = min(paid_cents, cumulative + refund)
        revenue.reverse("refund", "pi_1", cumulative * MICROS_PER_CENT, "refund")
        revenue.reverse("refund", "pi_1", max(0, cumulative - refund) * MICROS_PER_CENT, "refund")
    for n, line in enumerate(lines):
        expected = line.developer_micros - line.developer_micros * cumulative * MICROS_PER_CENT // (
            paid_cents * MICROS_PER_CENT)
        assert revenue.owed(f"d{n}") == expected
    assert repo.balance("clearing:pi_1") == 0
    assert repo.balance("stripe:cash") == (paid_cents - cumulative) * MICROS_PER_CENT
    assert sum(repo.balances(g).get(a, 0) for g in ledger.GROUPS for a in repo.balances(g)) == 0
    assert all(sum(p.amount_micros for p in j.postings) == 0 for j in repo.journals())


takes = st.lists(st.tuples(st.sampled_from(["alpha", "beta", "gamma"]), st.sampled_from(["2026-09", "2026-10", "2026-11"]),
                           st.integers(0, 10**9), st.integers(0, 10**10)), max_size=8,
                 unique_by=lambda t: (t[0], t[1]))


@settings(max_examples=300)
@given(charges=takes, carries=st.dictionaries(st.sampled_from(["alpha", "beta", "delta"]), st.integers(0, 10**6)),
       share=shares)
def test_an_invoice_neither_loses_nor_invents_a_micro_dollar(charges, carries, share):
    plan = plan_invoice("usr_1", "2026-11", [Take(p, m, a, a + d) for p, m, a, d in charges], carries,
                        {p: Share(f"dev-{p}", share) for p in ("alpha", "beta", "gamma", "delta")})
    billed = sum(line.amount_cents for line in plan.lines) * MICROS_PER_CENT
    assert sum(carries.values()) + sum(d for *_, d in charges) == billed + sum(dict(plan.carry_out).values())
    assert plan.amount_cents == billed // MICROS_PER_CENT
    assert plan.carried == (plan.amount_cents == 0)
    assert plan.carried or plan.amount_cents >= STRIPE_MINIMUM_CHARGE_CENTS
    for line in plan.lines:
        assert line.amount_cents >= 0 and line.developer_micros + line.platform_micros == line.amount_cents * MICROS_PER_CENT
        assert line.late == (line.month < "2026-11")
    if not plan.carried:
        assert all(0 <= v < MICROS_PER_CENT for _, v in plan.carry_out)
    per_plugin = {}
    for line in plan.lines:  # each plugin's lines: its carry and charges in whole cents, cumulatively rounded
        per_plugin.setdefault(line.plugin, 0)
        per_plugin[line.plugin] += line.amount_cents
    if not plan.carried:
        for plugin, cents in per_plugin.items():
            due = carries.get(plugin, 0) + sum(d for p, _, _, d in charges if p == plugin)
            assert cents == due // MICROS_PER_CENT


@settings(max_examples=100)
@given(paid_cents=st.integers(50, 10**6), share=shares, refunds=st.lists(st.integers(1, 10**6), min_size=1, max_size=4),
       early=st.integers(0, 4), plan=st.booleans())
def test_a_refund_told_before_its_payment_is_reversed_once_the_payment_is_posted(paid_cents, share, refunds, early,
                                                                               plan):
    """Stripe's events come in any order: charge.refunded may arrive before invoice.paid."""
    repo = InMemoryLedgerRepository()
    revenue = RevenueService(repo, FixedClock(NOW))
    cumulative, told = 0, []
    for refund in refunds:
        cumulative = min(paid_cents, cumulative + refund)
        told.append(cumulative * MICROS_PER_CENT)
    for amount in told[:early]:  # before the payment: nothing to reverse yet, only noted
        assert revenue.reverse("refund", "pi_early", amount, "refund") == 0
    if plan:
        revenue.plan_paid("pi_early", user="u", plugin="p", developer="d", amount_cents=paid_cents, share_bps=share,
                          referral=None, source="subscription")
        credited, _ = ledger.share(paid_cents * MICROS_PER_CENT, share)
    else:
        dev, plat = ledger.share(paid_cents * MICROS_PER_CENT, share)
        revenue.invoice_line("inv", 0, user="u", plugin="p", month="2026-11", developer="d", cents=paid_cents,
                             share_bps=share)
        revenue.usage_paid("pi_early", "inv", "u", paid_cents, [UsageShare("d", dev, plat)], lambda d: None)
        credited = dev
    for amount in told[early:]:  # the rest (an event handled early is not delivered again)
        revenue.reverse("refund", "pi_early", amount, "refund")
    reversed_so_far = max(told)
    assert repo.balance("stripe:cash") == paid_cents * MICROS_PER_CENT - reversed_so_far
    assert revenue.owed("d") == credited - credited * reversed_so_far // (paid_cents * MICROS_PER_CENT)
    assert repo.balance("clearing:pi_early") == 0
    assert sum(repo.balances(g).get(a, 0) for g in ledger.GROUPS for a in repo.balances(g)) == 0
