"""DynamoDB Local as the dev/test database: schema from the models, data that persists."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.dynamodb import DynamoDBLocal, port_is_open


def _client(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="integration", aws_secret_access_key="integration")


def _keys(key_schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((k["AttributeName"], k["KeyType"]) for k in key_schema)


def _projection(projection: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    return projection["ProjectionType"], tuple(sorted(projection.get("NonKeyAttributes", ())))


def test_tables_match_the_models(local_container: Any, dynamodb_local: DynamoDBLocal) -> None:
    from chalicelib.tables import TABLES

    client = _client(dynamodb_local.endpoint)
    prefix = local_container.settings.table_prefix
    for model in TABLES:
        assert model.Meta.table_name == f"{prefix}{model.Meta.base_name}"
        schema = model._get_schema()
        table = client.describe_table(TableName=model.Meta.table_name)["Table"]

        assert table["TableStatus"] == "ACTIVE"
        assert _keys(table["KeySchema"]) == _keys(schema["key_schema"]), model.__name__
        defined = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        expected = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
        assert defined == expected, model.__name__

        actual_gsis = {g["IndexName"]: (_keys(g["KeySchema"]), _projection(g["Projection"]))
                       for g in table.get("GlobalSecondaryIndexes", [])}
        model_gsis = {g["index_name"]: (_keys(g["key_schema"]), _projection(g["projection"]))
                      for g in schema["global_secondary_indexes"]}
        assert actual_gsis == model_gsis, model.__name__

        actual_lsis = {i["IndexName"] for i in table.get("LocalSecondaryIndexes", [])}
        assert actual_lsis == {i["index_name"] for i in schema["local_secondary_indexes"]}

        ttl_attribute = model._ttl_attribute()
        if ttl_attribute is not None:
            ttl = client.describe_time_to_live(TableName=model.Meta.table_name)["TimeToLiveDescription"]
            assert ttl["TimeToLiveStatus"] == "ENABLED"
            assert ttl["AttributeName"] == ttl_attribute.attr_name


def test_create_tables_is_idempotent(local_container: Any) -> None:
    from chalicelib.core.dynamo import create_tables
    from chalicelib.tables import TABLES

    assert create_tables(TABLES) == []


def test_data_survives_a_restart_of_a_persistent_server(tmp_path: Path, container_factory: Any,
                                                         table_prefix: str) -> None:
    db_path = tmp_path / "dynamodb"
    with DynamoDBLocal(db_path=db_path) as first:
        container = container_factory(first.endpoint, table_prefix)
        user = container.auth.create_user(email="persist@example.com", password="correct-horse-1",
                                          role="developer")
        port = first.port
    assert not port_is_open(port), "stop() must close the port"
    assert any(db_path.iterdir()), "a persistent server writes its database under db_path"

    with DynamoDBLocal(db_path=db_path) as second:  # a new process, maybe a new port
        container = container_factory(second.endpoint, table_prefix)  # tables exist: no-op
        session = container.auth.log_in(email="persist@example.com", password="correct-horse-1")
        assert session["user"]["user_id"] == user.user_id
        assert session["user"]["role"] == "developer"


def test_a_busy_port_is_refused(dynamodb_local: DynamoDBLocal) -> None:
    with pytest.raises(RuntimeError, match="already in use"):
        DynamoDBLocal(port=dynamodb_local.port).start()


def test_listens_on_loopback_only(dynamodb_local: DynamoDBLocal) -> None:
    """DESIGN: everything binds to 127.0.0.1 (via the loopback launcher the bootstrap builds)."""
    if not dynamodb_local.loopback_only:
        pytest.skip("no loopback launcher (built by scripts/bootstrap.sh when javac exists)")
    if not Path("/proc/net/tcp6").exists():
        pytest.skip("reads the listening sockets from Linux's /proc/net")
    listening = Path("/proc/net/tcp6").read_text() + Path("/proc/net/tcp").read_text()
    port_hex = f"{dynamodb_local.port:04X}"
    local_addresses = [line.split()[1] for line in listening.splitlines()[1:]
                       if line.split()[1].endswith(f":{port_hex}") and line.split()[3] == "0A"]
    assert local_addresses, "the server is not listening"
    loopback = ("0100007F:", "0000000000000000FFFF00000100007F:", "00000000000000000000000001000000:")
    assert all(addr.startswith(loopback) for addr in local_addresses), local_addresses
