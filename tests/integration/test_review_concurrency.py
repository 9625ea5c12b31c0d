"""Ratings under real concurrency, on DynamoDB Local (moto's in-process writes are not
locked): whatever races, the plugin's rating_sum/rating_count equal its stored reviews."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from chalicelib.auth.principal import Principal
from chalicelib.core.errors import ConflictError
from chalicelib.core.periods import hour_key
from chalicelib.metering.repository import UsageRepository
from chalicelib.trust.repository import ReviewRepository
from chalicelib.trust.reviews import MIN_CALLS_TO_REVIEW, review_id_for
from tests.support import PASSWORD, manifest

USERS = 20


def published_echo(container) -> None:
    dev = Principal(user_id="usr_dev", role="developer", via="jwt")
    container.catalog.create_plugin(dev, manifest())
    container.catalog.submit_version(dev, "echo", "1.0.0")
    container.catalog.approve_version(Principal(user_id="usr_admin", role="admin", via="jwt"), "echo", "1.0.0")


def users_with_usage(container, count: int) -> list[Principal]:
    usage, hour = UsageRepository(), hour_key(container.clock.now())
    users = []
    for n in range(count):
        user = container.auth.create_user(email=f"rater{n}@example.com", password=PASSWORD, role="user")
        for _ in range(MIN_CALLS_TO_REVIEW):  # the gateway's metering write, as on a real call
            usage.add(plugin="echo", user_id=user.user_id, mode="live", hour=hour, billable=1, errors=0, latency_ms=7)
        users.append(Principal(user_id=user.user_id, role="user", via="jwt"))
    return users


def assert_counters_match_reviews(container) -> tuple[int, int]:
    stored = ReviewRepository.list("echo")
    plugin = container.catalog.get_plugin("echo")
    assert (plugin.rating_sum, plugin.rating_count) == (sum(int(r.stars) for r in stored), len(stored))
    return plugin.rating_sum, plugin.rating_count


def test_twenty_users_rating_and_editing_at_once_keep_the_counters_exact(local_container):
    published_echo(local_container)
    users = users_with_usage(local_container, USERS)
    reviews = local_container.reviews
    rng = random.Random(7)

    def rate(user: Principal) -> bool:
        return reviews.put(user, "echo", stars=rng.randint(1, 5), comment="first take")[1]

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(rate, users))
    assert all(created)
    assert assert_counters_match_reviews(local_container)[1] == USERS

    # Round two: half the users edit their review from four threads at once (racing on one
    # item), a few delete theirs while their own edits are in flight, others vote.
    editors, deleters, voters = users[:10], users[10:13], users[13:]
    work = [("edit", u, rng.randint(1, 5)) for u in editors for _ in range(4)]
    work += [("edit", u, rng.randint(1, 5)) for u in deleters for _ in range(2)] + [("delete", u, 0) for u in deleters]
    work += [("vote", voter, n) for n, voter in enumerate(voters) for _ in range(2)]
    rng.shuffle(work)

    def act(item: tuple[str, Principal, int]) -> str:
        action, user, value = item
        try:
            if action == "edit":
                reviews.put(user, "echo", stars=value, comment=f"now {value}")
            elif action == "delete":
                reviews.delete(user, "echo")
            else:
                reviews.vote_helpful(user, "echo", review_id_for("echo", editors[value % len(editors)].user_id))
            return "ok"
        except ConflictError as exc:  # a review kept losing its race: allowed, never a miscount
            return exc.code

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(act, work))
    assert set(outcomes) <= {"ok", "review_conflict"}
    rating_sum, rating_count = assert_counters_match_reviews(local_container)
    assert USERS - len(deleters) <= rating_count <= USERS
    assert local_container.catalog.get_plugin("echo").rating_avg_x100 == rating_sum * 100 // rating_count
    # each voter voted twice at once on one editor's review: exactly one of the two counted
    helpful = {r.review_id: int(r.helpful) for r in ReviewRepository.list("echo")}
    assert sum(helpful.values()) == len(voters)
    assert all(helpful[review_id_for("echo", editors[n].user_id)] == 1 for n in range(len(voters)))

