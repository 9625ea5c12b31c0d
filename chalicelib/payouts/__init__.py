"""Developers' money: revenue settled into balances, payouts, onboarding, earnings, incentives."""
