"""Certification: a plugin's tier (listed, verified, premier) and the revenue share it earns.

The rules and thresholds live in :mod:`chalicelib.trust.eligibility`; this module measures
the evidence from real data and applies an admin's decision:

* evidence over the last ``WINDOW_DAYS`` UTC days (today included, by the service clock):
  active users from the aggregated live user-months (``by_month``, each month the window
  touches, keeping users with a call on a day inside the window), calls, errors and the
  latency histogram from the plugin's daily stats, the rating from the plugin's counters;
* granting ``verified`` or ``premier`` re-measures and refuses (409 ``not_eligible``, the
  unmet criteria in ``details``) unless every criterion is met; ``listed`` is always allowed;
* the tier and ``revenue_share_bps`` (what the payout job pays) change in one write,
  conditioned on the tier read, with a history entry; the developer is notified.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta, timezone
from typing import Any

from chalicelib.auth.principal import Principal
from chalicelib.catalog.model import Plugin
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import ConflictError, PermissionDeniedError
from chalicelib.core.ids import new_id
from chalicelib.notifications.service import NotificationService
from chalicelib.trust import repository
from chalicelib.trust.eligibility import SHARE_BPS, TIERS, WINDOW_DAYS, Evidence, evaluate
from chalicelib.trust.records import CertificationRecord


class CertificationService:
    def __init__(self, get_plugin: Callable[[str], Plugin], notifications: NotificationService, clock: Clock, *,
                 on_listing_changed: Callable[[], None] = lambda: None) -> None:
        self._get_plugin = get_plugin
        self._notify = notifications
        self._clock = clock
        self._listing_changed = on_listing_changed

    def window(self) -> list[date]:
        """The last WINDOW_DAYS UTC days, oldest first, today included."""
        today = self._clock.now().astimezone(timezone.utc).date()
        return [today - timedelta(days=back) for back in range(WINDOW_DAYS - 1, -1, -1)]

    def evidence(self, plugin: Plugin) -> Evidence:
        days = self.window()
        calls, errors, buckets = repository.daily_totals(plugin.name, days[0], days[-1])
        return Evidence(tier=plugin.verified or "listed", active_users=repository.active_users(plugin.name, days),
                        calls=calls, errors=errors, latency_buckets=buckets, rating_sum=plugin.rating_sum,
                        rating_count=plugin.rating_count)

    def status(self, principal: Principal, name: str) -> dict[str, Any]:
        """For the plugin's developer (or an admin): the tier, the share, and what each tier needs."""
        plugin = self._get_plugin(name)
        is_admin = principal.role == "admin" and principal.via == "jwt"
        if plugin.author_id != principal.user_id and not is_admin:
            raise PermissionDeniedError(f"plugin '{name}' belongs to another developer", code="not_plugin_owner")
        days = self.window()
        verdicts = evaluate(self.evidence(plugin))
        return {
            "plugin": name, "tier": plugin.verified or "listed", "share_bps": plugin.revenue_share_bps,
            "window": {"days": WINDOW_DAYS, "from": days[0].isoformat(), "to": days[-1].isoformat()},
            "tiers": {tier: verdicts[tier].view() for tier in TIERS},
            "history": [_history_view(rec) for rec in repository.tier_history(name)],
        }

    def grant(self, admin: Principal, name: str, tier: str, reason: str) -> dict[str, Any]:
        plugin = self._get_plugin(name)
        current = plugin.verified or "listed"
        if tier == current:
            return {"plugin": name, "tier": tier, "previous_tier": current, "share_bps": plugin.revenue_share_bps,
                    "changed": False}
        if tier != "listed":
            verdict = evaluate(self.evidence(plugin))[tier]
            if not verdict.eligible:
                names = ", ".join(c.name for c in verdict.unmet)
                raise ConflictError(f"'{name}' does not meet the {tier} criteria: {names}", code="not_eligible",
                                    details=[c.view() for c in verdict.unmet])
        now = self._clock.now()
        event = CertificationRecord(*CertificationRecord.key(name, now, (event_id := new_id("cert"))),
                                    plugin=name, event_id=event_id, from_tier=current, to_tier=tier,
                                    share_bps=SHARE_BPS[tier], reason=reason, granted_by=admin.user_id, created_at=now)
        repository.change_tier(name, expected=current, event=event, now=now)
        self._listing_changed()
        direction = "upgraded" if TIERS.index(tier) > TIERS.index(current) else "downgraded"
        self._notify.notify(plugin.author_id, f"trust.certification:{name}:{event_id}", "trust.certification_changed",
                            f"{name} was {direction} from {current} to {tier}: your revenue share is now "
                            f"{SHARE_BPS[tier] // 100} %. Reason: {reason}",
                            {"plugin": name, "from": current, "to": tier, "share_bps": SHARE_BPS[tier]})
        return {"plugin": name, "tier": tier, "previous_tier": current, "share_bps": SHARE_BPS[tier],
                "changed": True, "reason": reason}


def _history_view(rec: CertificationRecord) -> dict[str, Any]:
    return {"from": rec.from_tier, "to": rec.to_tier, "share_bps": int(rec.share_bps), "reason": rec.reason,
            "at": iso(rec.created_at)}
