"""Install counts against a real DynamoDB server (moto's in-process update_item is not
locked, so concurrency is only meaningful here)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from chalicelib.auth.principal import Principal
from chalicelib.core.errors import NotFoundError
from tests.support import PASSWORD, manifest

PERMISSIONS = ["storage:read", "storage:write"]


def published_echo(container) -> None:
    dev = container.auth.create_user(email="dev@example.com", password=PASSWORD, role="developer")
    admin = Principal(user_id="usr_admin", role="admin", via="jwt")
    developer = Principal(user_id=dev.user_id, role="developer", via="jwt")
    container.catalog.create_plugin(developer, manifest())
    container.catalog.submit_version(developer, "echo", "1.0.0")
    container.catalog.approve_version(admin, "echo", "1.0.0")


def user(n: int) -> Principal:
    return Principal(user_id=f"usr_{n:04d}", role="user", via="api_key")


def test_many_users_installing_at_once_are_all_counted(local_container):
    published_echo(local_container)
    installs = local_container.installs

    def install(n: int) -> bool:
        return installs.install(user(n), plugin="echo", accept_permissions=PERMISSIONS).created

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(install, range(64)))
    assert all(created)
    assert local_container.catalog.get_plugin("echo").install_count == 64


def test_one_user_installing_from_many_threads_counts_once(local_container):
    published_echo(local_container)
    installs = local_container.installs

    def install(_: int) -> bool:
        return installs.install(user(1), plugin="echo", accept_permissions=PERMISSIONS).created

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(install, range(32)))
    assert created.count(True) == 1
    assert local_container.catalog.get_plugin("echo").install_count == 1


def test_install_and_uninstall_races_leave_the_count_equal_to_the_rows(local_container):
    published_echo(local_container)
    installs = local_container.installs

    def churn(n: int) -> None:
        principal = user(n % 8)
        for _ in range(5):
            installs.install(principal, plugin="echo", accept_permissions=PERMISSIONS)
            try:
                installs.uninstall(principal, "echo")
            except NotFoundError:
                pass  # a racing thread of the same user uninstalled first

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(churn, range(32)))
    rows = sum(len(installs.list_installed(user(n))["installs"]) for n in range(8))
    assert local_container.catalog.get_plugin("echo").install_count == rows
