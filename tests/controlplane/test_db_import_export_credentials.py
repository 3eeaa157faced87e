"""db_import / db_export of every credential entity (basic-auth, acl, jwt, hmac-auth, key-auth):
kong.yml -> PostgreSQL -> kong.yml, with basic-auth passwords hashed once (Kong's `_transform`)."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controlplane import export
from controlplane.cli import with_db
from controlplane.database import Database, UniqueViolation
from dataplane.declarative import parse_file, parse_text

FILE = Path(__file__).resolve().parents[1] / "fixtures" / "declarative" / "credentials.yml"
TYPES = ("consumers", "keyauth_credentials", "basicauth_credentials", "acls", "jwt_secrets", "hmacauth_credentials")


def by_id(flat: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    return {name: {row["id"]: row for row in rows} for name, rows in flat.items() if rows}


def sha1(password: str, consumer_id: str) -> str:
    return hashlib.sha1((password + consumer_id).encode()).hexdigest()


def passwords(flat: dict[str, list[dict]]) -> dict[str, str]:
    return {c["username"]: c["password"] for c in flat["basicauth_credentials"]}


def consumer_ids(flat: dict[str, list[dict]]) -> dict[str, str]:
    return {c["username"]: c["id"] for c in flat["consumers"]}


def test_import_then_export_round_trips_every_credential(db_conf):
    flat = parse_file(str(FILE), timestamp=1700000000)
    ids = consumer_ids(flat)
    assert passwords(flat) == {"alice": sha1("alice-password", ids["alice"]), "bob": sha1("bob-password", ids["bob"])}

    async def scenario(db: Database):
        before = await db.entities.current_version()
        await db.entities.import_flat(flat)
        async with db._pool.acquire() as c:
            logged = {(r["entity"], r["entity_id"]) for r in await c.fetch(
                'SELECT "entity", "entity_id"::text FROM "change_log" WHERE "version" = $1', before + 1)}
        return await db.entities.export(), logged

    exported, logged = with_db(db_conf, scenario)
    assert {k: v for k, v in by_id(exported).items() if k in TYPES} == by_id(flat)
    assert logged == {(name, row["id"]) for name in TYPES for row in flat[name]}
    # the export says its passwords are stored forms: read back, they are not hashed again
    text = export.to_yaml(exported)
    doc = yaml.safe_load(text)
    assert doc["_transform"] is False
    assert {c["username"]: c["password"] for c in doc["basicauth_credentials"]} == passwords(flat)
    assert {c["username"]: c["consumer"] for c in doc["hmacauth_credentials"]} == {
        "alice-hmac": ids["alice"], "alice-hmac-generated": ids["alice"], "bob-hmac": ids["bob"]}
    assert by_id(parse_text(text, timestamp=1)) == by_id(flat)


def test_transform_false_keeps_a_dumps_hashes_and_its_absence_hashes(db_conf):
    consumer = "0c8f0b55-9a3e-4d1c-8b1a-6f2d3e4a5b6c"
    stored = sha1("dumped", consumer)
    doc = (f'_format_version: "3.0"\n{{transform}}consumers:\n- id: {consumer}\n  username: dumped\n'
           f'basicauth_credentials:\n- id: 1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f\n  consumer: {consumer}\n'
           f'  username: dumped\n  password: {stored}\n')

    kept = with_db(db_conf, lambda db: _import_export(db, parse_text(doc.format(transform="_transform: false\n"))))
    assert passwords(kept)["dumped"] == stored
    hashed = with_db(db_conf, lambda db: _import_export(db, parse_text(doc.format(transform=""))))
    assert passwords(hashed)["dumped"] == sha1(stored, consumer)


async def _import_export(db: Database, flat: dict[str, list[dict]]) -> dict[str, list[dict]]:
    await db.entities.import_flat(flat)
    return await db.entities.export()


def test_import_conflicting_with_stored_credentials_writes_nothing(db_conf):
    first = parse_text('_format_version: "3.0"\nconsumers:\n- username: holder\n  basicauth_credentials:\n'
                       '  - {username: taken, password: p}\n  jwt_secrets:\n  - {key: taken-key}\n')
    # ids derive from the username or key (Kong's cache key): the same ones replace the stored
    # credentials; other ids with the same unique values are a conflict
    second = parse_text('_format_version: "3.0"\nconsumers:\n- username: intruder\n  basicauth_credentials:\n'
                        '  - {id: 2a0e4b9c-1111-4d2e-9f00-aaaaaaaaaaaa, username: taken, password: q}\n')
    third = parse_text('_format_version: "3.0"\nconsumers:\n- username: intruder2\n  jwt_secrets:\n'
                       '  - {id: 2a0e4b9c-2222-4d2e-9f00-aaaaaaaaaaaa, key: taken-key}\n')

    async def scenario(db: Database):
        await db.entities.import_flat(first)
        version = await db.entities.current_version()
        errors = []
        for flat in (second, third):
            with pytest.raises(UniqueViolation) as info:
                await db.entities.import_flat(flat)
            errors.append((info.value.entity, info.value.fields))
        assert await db.entities.current_version() == version
        return errors, await db.entities.export()

    errors, exported = with_db(db_conf, scenario)
    assert errors == [("basicauth_credentials", {"username": None}), ("jwt_secrets", {"key": None})]
    assert "intruder" not in consumer_ids(exported) and "intruder2" not in consumer_ids(exported)


def _cli(conf_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controlplane.cli", *args, "-c", str(conf_path)],
                          capture_output=True, text=True, timeout=120)


def _conf(postgres, path: Path) -> Path:
    path.write_text(f"pg_host = {postgres.host}\npg_port = {postgres.port}\n"
                    f"pg_user = postgres\npg_database = {postgres.create_database()}\n")
    assert _cli(path, "migrations", "bootstrap").returncode == 0
    return path


def test_cli_round_trip_into_a_second_database(postgres, tmp_path):
    """db_import, db_export, then the export into a fresh database: the same entities, the
    passwords hashed exactly once."""
    one, two = _conf(postgres, tmp_path / "one.conf"), _conf(postgres, tmp_path / "two.conf")
    done = _cli(one, "config", "db_import", str(FILE))
    assert done.returncode == 0, done.stderr
    assert "basicauth_credentials: 2, acls: 3, jwt_secrets: 4, hmacauth_credentials: 3" in done.stdout
    first = tmp_path / "first.yml"
    assert _cli(one, "config", "db_export", str(first)).returncode == 0
    doc = yaml.safe_load(first.read_text())
    assert doc["_transform"] is False
    ids = {c["username"]: c["id"] for c in doc["consumers"]}
    assert {c["username"]: c["password"] for c in doc["basicauth_credentials"]} == {
        "alice": sha1("alice-password", ids["alice"]), "bob": sha1("bob-password", ids["bob"])}
    again = _cli(two, "config", "db_import", str(first))
    assert again.returncode == 0, again.stderr
    second = tmp_path / "second.yml"
    assert _cli(two, "config", "db_export", str(second)).returncode == 0
    assert by_id(parse_file(str(second))) == by_id(parse_file(str(first)))
    untimed = [by_id(parse_file(str(f))) for f in (first, FILE)]
    for flat in untimed:
        for rows in flat.values():
            for row in rows.values():
                row.pop("created_at", None)
                row.pop("updated_at", None)
    assert untimed[0] == untimed[1]  # what was written is what the file said, passwords hashed
