"""db_import / db_export: kong.yml -> PostgreSQL -> kong.yml, through the store and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controlplane import export
from controlplane.cli import with_db
from controlplane.database import Database, UniqueViolation
from dataplane.declarative import parse_file, parse_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "declarative"
RICH = FIXTURES / "rich.yml"


def by_id(flat: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    return {name: {row["id"]: row for row in rows} for name, rows in flat.items()}


def test_import_then_export_round_trips_the_rich_file(db_conf):
    flat = parse_file(str(RICH), timestamp=1700000000)

    async def scenario(db: Database):
        before = await db.entities.current_version()
        await db.entities.import_flat(flat)
        assert await db.entities.current_version() == before + 1
        return await db.entities.export()

    exported = with_db(db_conf, scenario)
    assert by_id(exported) == by_id(flat)
    reparsed = parse_text(export.to_yaml(exported), timestamp=1)
    assert by_id(reparsed) == by_id(flat)


def test_import_upserts_by_id_keeps_the_rest_and_logs_it(db_conf):
    """Kong's db_import upserts each entity of the file by primary key: what the file names is
    created or replaced, everything else stays."""
    first = parse_text('_format_version: "3.0"\nservices:\n- {name: keep, host: a.example}\n'
                       '- {name: other, host: b.example}\n')
    second = parse_text('_format_version: "3.0"\nservices:\n- {name: keep, host: c.example}\n'
                        '- {name: new, host: d.example}\n')
    ids = {r["name"]: r["id"] for r in first["services"] + second["services"]}

    async def scenario(db: Database):
        await db.entities.import_flat(first)
        version = await db.entities.current_version()
        await db.entities.import_flat(second)
        async with db._pool.acquire() as c:
            log = {(r["entity_id"], r["op"]) for r in await c.fetch(
                'SELECT "entity_id"::text, "op" FROM "change_log" WHERE "version" = $1',
                version + 1)}
        return await db.entities.export(), log

    exported, log = with_db(db_conf, scenario)
    assert sorted((r["name"], r["host"]) for r in exported["services"] if r["name"] in ids) == \
        [("keep", "c.example"), ("new", "d.example"), ("other", "b.example")]
    assert log == {(ids["keep"], "update"), (ids["new"], "insert")}


def test_import_is_one_transaction(db_conf):
    """A name taken by another id fails the import, and nothing of the file is written."""
    taken = parse_text('_format_version: "3.0"\nservices:\n- {id: 9748f662-7711-4a90-8186-dc02f10eb0f5, '
                       'name: taken, host: a.example}\n')
    clash = parse_text('_format_version: "3.0"\nservices:\n- {name: fine, host: a.example}\n'
                       '- {name: taken, host: b.example}\n')

    async def scenario(db: Database):
        await db.entities.import_flat(taken)
        version = await db.entities.current_version()
        with pytest.raises(UniqueViolation):
            await db.entities.import_flat(clash)
        return version, await db.entities.current_version(), await db.entities.export()

    before, after, exported = with_db(db_conf, scenario)
    assert before == after
    assert "fine" not in {r["name"] for r in exported["services"]}


def test_import_of_certificates_with_snis(db_conf):
    leaf = FIXTURES / "leaf.pem"
    key = FIXTURES / "leaf.key"
    text = (f'_format_version: "3.0"\ncertificates:\n- cert: {json.dumps(leaf.read_text())}\n'
            f'  key: {json.dumps(key.read_text())}\n  snis:\n  - name: imported.test\n')
    flat = parse_text(text)

    async def scenario(db: Database):
        await db.entities.import_flat(flat)
        return await db.entities.export(), await db.entities.get_by_key("snis", "imported.test")

    exported, sni = with_db(db_conf, scenario)
    cert = next(c for c in exported["certificates"] if c["id"] == flat["certificates"][0]["id"])
    assert "snis" not in cert  # the list is the SNI rows, exported on their own
    assert sni["certificate"] == {"id": cert["id"]}


def test_export_document_is_shaped_like_kongs():
    flat = parse_file(str(RICH), timestamp=1700000000)
    doc = export.to_document(flat)
    assert doc["_format_version"] == "3.0" and doc["_transform"] is False
    route = next(r for r in doc["routes"] if r["name"] == "billing-route")
    service = next(s for s in doc["services"] if s["name"] == "billing")
    assert route["service"] == service["id"]  # foreign keys as plain ids
    assert list(doc["services"][0])[:3] == ["id", "created_at", "updated_at"]
    assert "snis" not in doc or doc["snis"]  # empty types are left out


def _cli(conf_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controlplane.cli", *args, "-c", str(conf_path)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def conf_file(postgres, tmp_path) -> Path:
    path = tmp_path / "kong.conf"
    path.write_text(f"pg_host = {postgres.host}\npg_port = {postgres.port}\n"
                    f"pg_user = postgres\npg_database = {postgres.create_database()}\n")
    return path


def test_cli_import_export_round_trip(conf_file, tmp_path):
    assert _cli(conf_file, "migrations", "bootstrap").returncode == 0
    imported = _cli(conf_file, "config", "db_import", str(RICH))
    assert imported.returncode == 0, imported.stderr
    assert "parse successful, beginning import" in imported.stdout
    assert "import successful" in imported.stdout
    out = tmp_path / "exported.yml"
    exported = _cli(conf_file, "config", "db_export", str(out))
    assert exported.returncode == 0, exported.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["_format_version"] == "3.0"
    # the export imports again, to the same entities
    again = _cli(conf_file, "config", "db_import", str(out))
    assert again.returncode == 0, again.stderr
    second = tmp_path / "second.yml"
    assert _cli(conf_file, "config", "db_export", str(second)).returncode == 0
    assert by_id(parse_file(str(second))) == by_id(parse_file(str(out)))
    refused = _cli(conf_file, "config", "db_export", str(out))
    assert refused.returncode == 1 and "Will not overwrite" in refused.stderr


def test_cli_import_of_an_invalid_file_writes_nothing(conf_file, tmp_path):
    assert _cli(conf_file, "migrations", "bootstrap").returncode == 0
    assert _cli(conf_file, "config", "db_import", str(RICH)).returncode == 0
    bad = _cli(conf_file, "config", "db_import", str(FIXTURES / "invalid.yml"))
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: Failed parsing:\n")
    assert "Traceback" not in bad.stderr
    out = tmp_path / "after.yml"
    assert _cli(conf_file, "config", "db_export", str(out)).returncode == 0
    assert {k: set(v) for k, v in by_id(parse_file(str(out))).items()} == \
        {k: set(v) for k, v in by_id(parse_file(str(RICH))).items()}


def test_cli_import_needs_a_bootstrapped_database(conf_file):
    done = _cli(conf_file, "config", "db_import", str(RICH))
    assert done.returncode == 1
    assert "needs bootstrapping" in done.stderr
