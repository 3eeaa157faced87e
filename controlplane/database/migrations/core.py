"""Core migrations. Never edit one that has shipped: add the next instead."""

from __future__ import annotations

from . import Migration

_ENTITY_COLUMNS = """
    "id"          UUID PRIMARY KEY,
    "created_at"  DOUBLE PRECISION,
    "updated_at"  DOUBLE PRECISION,
    "tags"        TEXT[],
    "row"         JSONB NOT NULL"""

# Plugins and targets are unique per cache key; NULL foreign keys must compare equal there,
# so they are folded to the nil uuid (portable to PostgreSQL < 15, no NULLS NOT DISTINCT).
_NIL = "'00000000-0000-0000-0000-000000000000'::uuid"

_ENTITY_TABLES: tuple[str, ...] = (
    "ca_certificates",
    "certificates",
    "snis",
    "services",
    "routes",
    "upstreams",
    "targets",
    "consumers",
    "keyauth_credentials",
    "plugins",
)
_TAG_INDEXES = "\n".join(
    f'CREATE INDEX IF NOT EXISTS "{t}_tags_idx" ON "{t}" USING GIN ("tags");' for t in _ENTITY_TABLES
)
_TAGS_VIEW = "\nUNION ALL\n".join(
    f'''SELECT '{t}'::text AS "entity_name", "id" AS "entity_id", unnest("tags") AS "tag" FROM "{t}"'''
    for t in _ENTITY_TABLES
)

BASE_000 = Migration(
    "000_base",
    up=f"""
CREATE TABLE IF NOT EXISTS "ca_certificates" ({_ENTITY_COLUMNS},
    "cert_digest" TEXT CONSTRAINT "ca_certificates_cert_digest_key" UNIQUE
);

CREATE TABLE IF NOT EXISTS "certificates" ({_ENTITY_COLUMNS}
);

CREATE TABLE IF NOT EXISTS "snis" ({_ENTITY_COLUMNS},
    "name" TEXT CONSTRAINT "snis_name_key" UNIQUE,
    "certificate_id" UUID CONSTRAINT "snis_certificate_id_fkey" REFERENCES "certificates" ("id")
);
CREATE INDEX IF NOT EXISTS "snis_certificate_id_idx" ON "snis" ("certificate_id");

CREATE TABLE IF NOT EXISTS "services" ({_ENTITY_COLUMNS},
    "name" TEXT CONSTRAINT "services_name_key" UNIQUE,
    "client_certificate_id" UUID
        CONSTRAINT "services_client_certificate_id_fkey" REFERENCES "certificates" ("id")
);
CREATE INDEX IF NOT EXISTS "services_client_certificate_id_idx"
    ON "services" ("client_certificate_id");

CREATE TABLE IF NOT EXISTS "routes" ({_ENTITY_COLUMNS},
    "name" TEXT CONSTRAINT "routes_name_key" UNIQUE,
    "service_id" UUID CONSTRAINT "routes_service_id_fkey" REFERENCES "services" ("id")
);
CREATE INDEX IF NOT EXISTS "routes_service_id_idx" ON "routes" ("service_id");

CREATE TABLE IF NOT EXISTS "upstreams" ({_ENTITY_COLUMNS},
    "name" TEXT CONSTRAINT "upstreams_name_key" UNIQUE,
    "client_certificate_id" UUID
        CONSTRAINT "upstreams_client_certificate_id_fkey" REFERENCES "certificates" ("id")
);
CREATE INDEX IF NOT EXISTS "upstreams_client_certificate_id_idx"
    ON "upstreams" ("client_certificate_id");

CREATE TABLE IF NOT EXISTS "targets" ({_ENTITY_COLUMNS},
    "target" TEXT NOT NULL,
    "upstream_id" UUID CONSTRAINT "targets_upstream_id_fkey"
        REFERENCES "upstreams" ("id") ON DELETE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS "targets_cache_key" ON "targets" ("upstream_id", "target");
CREATE INDEX IF NOT EXISTS "targets_target_idx" ON "targets" ("target");

CREATE TABLE IF NOT EXISTS "consumers" ({_ENTITY_COLUMNS},
    "username" TEXT CONSTRAINT "consumers_username_key" UNIQUE,
    "custom_id" TEXT CONSTRAINT "consumers_custom_id_key" UNIQUE
);

CREATE TABLE IF NOT EXISTS "keyauth_credentials" ({_ENTITY_COLUMNS},
    "key" TEXT CONSTRAINT "keyauth_credentials_key_key" UNIQUE,
    "consumer_id" UUID CONSTRAINT "keyauth_credentials_consumer_id_fkey"
        REFERENCES "consumers" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "keyauth_credentials_consumer_id_idx"
    ON "keyauth_credentials" ("consumer_id");

CREATE TABLE IF NOT EXISTS "plugins" ({_ENTITY_COLUMNS},
    "name" TEXT NOT NULL,
    "instance_name" TEXT CONSTRAINT "plugins_instance_name_key" UNIQUE,
    "route_id" UUID CONSTRAINT "plugins_route_id_fkey"
        REFERENCES "routes" ("id") ON DELETE CASCADE,
    "service_id" UUID CONSTRAINT "plugins_service_id_fkey"
        REFERENCES "services" ("id") ON DELETE CASCADE,
    "consumer_id" UUID CONSTRAINT "plugins_consumer_id_fkey"
        REFERENCES "consumers" ("id") ON DELETE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS "plugins_cache_key" ON "plugins" (
    "name", COALESCE("route_id", {_NIL}), COALESCE("service_id", {_NIL}),
    COALESCE("consumer_id", {_NIL}));
CREATE INDEX IF NOT EXISTS "plugins_route_id_idx" ON "plugins" ("route_id");
CREATE INDEX IF NOT EXISTS "plugins_service_id_idx" ON "plugins" ("service_id");
CREATE INDEX IF NOT EXISTS "plugins_consumer_id_idx" ON "plugins" ("consumer_id");

{_TAG_INDEXES}

-- Kong's /tags as a view: one row per (entity, tag).
CREATE OR REPLACE VIEW "tags" AS
{_TAGS_VIEW};

-- Writers take the single row's lock as their last statement: versions are gap-free and in
-- commit order, which a sequence (gaps on rollback, out-of-order commits) cannot promise.
CREATE TABLE IF NOT EXISTS "change_version" (
    "singleton" BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK ("singleton"),
    "version"   BIGINT NOT NULL
);
INSERT INTO "change_version" ("version") VALUES (0) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS "change_log" (
    "version"     BIGINT NOT NULL,
    "entity"      TEXT NOT NULL,
    "entity_id"   UUID NOT NULL,
    "op"          TEXT NOT NULL CHECK ("op" IN ('insert', 'update', 'delete')),
    "at"          TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    PRIMARY KEY ("version", "entity", "entity_id")
);
""",
)

# Data planes seen by any control plane on this database (Kong's clustering_data_planes);
# times are epoch seconds, `expires_at` is last report + cluster_data_plane_purge_delay.
CLUSTERING_001 = Migration(
    "001_clustering_data_planes",
    up="""
CREATE TABLE IF NOT EXISTS "clustering_data_planes" (
    "id"             UUID PRIMARY KEY,
    "hostname"       TEXT NOT NULL,
    "ip"             TEXT NOT NULL,
    "version"        TEXT NOT NULL,
    "sync_status"    TEXT NOT NULL DEFAULT 'unknown',
    "config_hash"    TEXT NOT NULL,
    "config_version" BIGINT NOT NULL DEFAULT 0,
    "labels"         JSONB NOT NULL DEFAULT '{}',
    "cert_expiry"    BIGINT,
    "last_seen"      BIGINT NOT NULL,
    "updated_at"     BIGINT NOT NULL,
    "expires_at"     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS "clustering_data_planes_expires_at_idx"
    ON "clustering_data_planes" ("expires_at");
""",
)

from .consumer_groups import CONSUMER_GROUPS_003  # noqa: E402  (a module of its own)
from .credentials import CREDENTIALS_002  # noqa: E402  (a module of its own)

CORE: tuple[Migration, ...] = (BASE_000, CLUSTERING_001, CREDENTIALS_002, CONSUMER_GROUPS_003)
