"""A kong.yml with consumer groups (decK's forms) through db_import and db_export, the CLI
included: the export writes Kong's flat form, which imports back to the same config, and the
Admin API sees what was imported."""
from __future__ import annotations

import subprocess
import sys

import yaml

from controlplane import export
from controlplane.cli import with_db
from controlplane.database import Database
from dataplane.declarative import parse_text

PLUGINS = {"response-transformer", "key-auth"}

FILE = """
_format_version: "3.0"
consumers:
- username: ann
  tags: [t]
  groups:
  - name: gold
  keyauth_credentials:
  - key: ann-key
- username: ben
consumer_groups:
- name: gold
  tags: [tier]
  plugins:
  - name: response-transformer
    config: {add: {headers: ["x-tier:gold"]}}
  consumers:
  - username: ben
- name: empty
plugins:
- name: response-transformer
"""


def by_id(flat):
    return {name: {row["id"]: row for row in rows} for name, rows in flat.items() if rows}


def test_a_file_with_groups_round_trips(db_conf, api):
    flat = parse_text(FILE, plugins=PLUGINS, timestamp=1700000000)

    async def scenario(db: Database):
        await db.entities.import_flat(flat)
        return await db.entities.export()

    exported = with_db(db_conf, scenario)
    assert by_id(exported) == by_id(flat)
    document = export.to_document(exported)
    assert [m["consumer_group"] for m in document["consumer_group_consumers"]] == \
        [m["consumer_group"]["id"] for m in exported["consumer_group_consumers"]]
    assert set(document["consumer_group_consumers"][0]) == {"id", "created_at", "consumer_group", "consumer"}
    assert sorted(p.get("consumer_group", "") for p in document["plugins"]) == \
        sorted(p["consumer_group"]["id"] if p["consumer_group"] else "" for p in exported["plugins"])
    # a plugin of no group carries no consumer_group (a file Kong's open-source edition reads)
    assert [p for p in document["plugins"] if p.get("consumer_group", 0) is None] == []
    reparsed = parse_text(export.to_yaml(exported), plugins=PLUGINS, timestamp=1)
    assert by_id(reparsed) == by_id(flat)
    # importing the export again changes nothing
    assert with_db(db_conf, scenario) == exported

    gold = api.get("/consumer_groups/gold").json()
    assert sorted(c["username"] for c in gold["consumers"]) == ["ann", "ben"]
    assert api.get("/consumers/ann/consumer_groups").json()["data"] == [gold["consumer_group"]]
    plugin = api.get("/consumer_groups/gold/plugins").json()["data"]
    assert [p["config"]["add"]["headers"] for p in plugin] == [["x-tier:gold"]]
    assert api.get("/consumer_groups/empty").json()["consumers"] == []


def test_the_cli_imports_and_exports_groups(postgres, tmp_path):
    source = tmp_path / "kong.yml"
    source.write_text(FILE)
    conf = tmp_path / "kong.conf"
    conf.write_text(f"pg_host = {postgres.host}\npg_port = {postgres.port}\n"
                    f"pg_user = postgres\npg_database = {postgres.create_database()}\n")

    def cli(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "controlplane.cli", *args, "-c", str(conf)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    cli("migrations", "bootstrap")
    cli("config", "db_import", str(source))
    first, second = tmp_path / "out.yml", tmp_path / "again.yml"
    cli("config", "db_export", str(first))
    doc = yaml.safe_load(first.read_text())
    names = {g["id"]: g["name"] for g in doc["consumer_groups"]}
    users = {c["id"]: c["username"] for c in doc["consumers"]}
    members = sorted((names[m["consumer_group"]], users[m["consumer"]]) for m in doc["consumer_group_consumers"])
    assert members == [("gold", "ann"), ("gold", "ben")]
    cli("config", "db_import", str(first))
    cli("config", "db_export", str(second))
    assert yaml.safe_load(second.read_text()) == doc
