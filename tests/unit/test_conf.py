import dataclasses
import logging
import os
from pathlib import Path

import pytest

from dataplane.conf import Conf, ConfError, load_conf, loader
from dataplane.conf.keys import HONOURED, REPLACEMENTS
from dataplane.conf.kong_keys import ALL_DEFAULTS, KONG_DEFAULTS
from dataplane.conf.syntax import parse_text

DOC_FILE = Path(__file__).resolve().parents[2] / "conf" / "kong.conf.default"


@pytest.fixture(autouse=True)
def no_system_conf(monkeypatch):
    # A kong.conf installed on the machine must not leak into these tests.
    monkeypatch.setattr(loader, "DEFAULT_PATHS", ())


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "kong.conf"
    path.write_text(text)
    return str(path)


def cluster_pair(tmp_path: Path) -> dict[str, str]:
    """cluster_cert and cluster_cert_key settings (hybrid roles need them; contents unread)."""
    for name in ("cluster.crt", "cluster.key"):
        (tmp_path / name).write_text("")
    return {"cluster_cert": str(tmp_path / "cluster.crt"),
            "cluster_cert_key": str(tmp_path / "cluster.key")}


def test_defaults_are_kongs():
    conf = load_conf(None, env={})
    assert conf.prefix == "/usr/local/kong"
    assert (conf.role, conf.database, conf.log_level) == ("traditional", "postgres", "notice")
    assert [(l.ip, l.port, l.ssl) for l in conf.proxy_listen] == [("0.0.0.0", 8000, False), ("0.0.0.0", 8443, True)]
    assert [(l.ip, l.port) for l in conf.status_listen] == [("127.0.0.1", 8007)]
    assert conf.lmdb_environment_path == "/usr/local/kong/dbless.lmdb"
    assert conf.lmdb_map_size == 2048 << 20
    assert (conf.upstream_keepalive_pool_size, conf.upstream_keepalive_max_requests) == (512, 10000)
    assert conf.upstream_keepalive_idle_timeout == 60
    assert conf.nginx_http_client_max_body_size == 0
    assert (conf.max_request_line_size, conf.max_header_line_size, conf.max_header_size) == (8192, 8192, 32768)
    assert conf.headers_upstream == {"X-Kong-Request-Id"}
    assert conf.nginx_worker_processes == (os.cpu_count() or 1)
    assert conf.source("log_level") == "default"
    assert conf.raw["pg_host"] == "127.0.0.1"


def test_conf_has_one_attribute_per_honoured_key_and_is_frozen():
    names = {field.name for field in dataclasses.fields(Conf)}
    assert names - {"raw", "_sources"} == set(HONOURED)
    conf = load_conf(None, env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        conf.log_level = "debug"  # type: ignore[misc]
    with pytest.raises(TypeError):
        conf.raw["log_level"] = "debug"  # type: ignore[index]


def test_file_values_are_typed_and_sourced(tmp_path):
    path = write(tmp_path, "# comment\nlog_level = debug\nproxy_listen = 127.0.0.1:9000 http2  # inline\n"
                           "real_ip_recursive = on\ntrusted_ips = 10.0.0.0/8, unix:\nlmdb_map_size = 1g\n")
    conf = load_conf(path, env={})
    assert conf.log_level == "debug"
    assert conf.proxy_listen[0].http2 and conf.proxy_listen[0].port == 9000
    assert conf.real_ip_recursive is True
    assert conf.trusted_ips.unix and "10.1.1.1" in conf.trusted_ips
    assert conf.lmdb_map_size == 1 << 30
    assert conf.source("proxy_listen") == f"{path}:3"
    assert conf.raw["proxy_listen"] == "127.0.0.1:9000 http2"


def test_bad_value_names_key_file_and_line(tmp_path):
    path = write(tmp_path, "\nlog_level = loud\n")
    with pytest.raises(ConfError) as caught:
        load_conf(path, env={})
    assert caught.value.errors == [
        f"{path}:2: log_level: invalid value 'loud' (debug, info, notice, warn, error, crit, alert, emerg)"
    ]


def test_every_error_is_reported_at_once(tmp_path):
    path = write(tmp_path, "proxy_listen = 0.0.0.0:99999\nreal_ip_recursive = maybe\n"
                           "lmdb_map_size = lots\nupstream_keepalive_pool_size = -1\n")
    with pytest.raises(ConfError) as caught:
        load_conf(path, env={"KONG_LOG_LEVEL": "loud"})
    assert caught.value.errors == [
        f"{path}:1: proxy_listen: invalid port 99999 in '0.0.0.0:99999'",
        "KONG_LOG_LEVEL: log_level: invalid value 'loud' (debug, info, notice, warn, error, crit, alert, emerg)",
        f"{path}:3: lmdb_map_size: invalid size 'lots' (bytes, or a number followed by k, m or g)",
        f"{path}:4: upstream_keepalive_pool_size: must be 0 or greater, got -1",
        f"{path}:2: real_ip_recursive: invalid boolean 'maybe' (on, off, true, false)",
    ]
    assert "proxy_listen: invalid port 99999" in str(caught.value)


def test_environment_beats_file_and_overrides_beat_environment(tmp_path):
    path = write(tmp_path, "log_level = info\nrole = traditional\nnginx_worker_processes = 2\n")
    env = {"KONG_LOG_LEVEL": " warn ", "KONG_ROLE": "control_plane", "KONG_PG_PASSWORD": "a#b"}
    conf = load_conf(path, env=env, overrides={"role": "data_plane", "database": "off",
                                               **cluster_pair(tmp_path)})
    assert conf.log_level == "warn" and conf.source("log_level") == "KONG_LOG_LEVEL"
    assert conf.role == "data_plane" and conf.source("role") == "override"
    assert conf.nginx_worker_processes == 2 and conf.source("nginx_worker_processes") == f"{path}:3"
    assert conf.raw["pg_password"] == "a#b"  # no comment stripping in the environment


def test_environment_needs_exact_upper_case_kong_names():
    conf = load_conf(None, env={"kong_log_level": "debug", "KONG_Log_Level": "debug", "KONG_NOT_A_KEY": "x",
                                "KONG_NGINX_HTTP_SSL_BUFFER_SIZE": "4k"})
    assert conf.log_level == "notice"
    assert conf.raw["nginx_http_ssl_buffer_size"] == "4k"
    assert "not_a_key" not in conf.raw


def test_overrides_are_stringified_and_checked():
    conf = load_conf(None, env={}, overrides={"real_ip_recursive": True, "trusted_ips": ["10.0.0.1", "::1"],
                                             "upstream_keepalive_pool_size": 0})
    assert conf.real_ip_recursive and "::1" in conf.trusted_ips and conf.upstream_keepalive_pool_size == 0
    with pytest.raises(ConfError, match="override: no_such_key: unknown property"):
        load_conf(None, env={}, overrides={"no_such_key": 1})


def test_replacement_keys_win_like_kong(tmp_path):
    path = write(tmp_path, "nginx_worker_processes = 2\nnginx_main_worker_processes = 3\n"
                           "real_ip_header = X-Client\n")
    conf = load_conf(path, env={"KONG_NGINX_PROXY_REAL_IP_HEADER": "proxy_protocol"})
    assert conf.nginx_worker_processes == 3 and conf.source("nginx_worker_processes") == f"{path}:2"
    assert conf.real_ip_header == "proxy_protocol"
    assert conf.source("real_ip_header") == "KONG_NGINX_PROXY_REAL_IP_HEADER"
    with pytest.raises(ConfError, match=r"kong.conf:1: nginx_main_worker_processes: must be 'auto'"):
        load_conf(write(tmp_path, "nginx_main_worker_processes = zero\n"), env={})


def test_paths_resolve_against_prefix_and_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "prefix = servroot\nproxy_access_log = off\nproxy_error_log = /dev/stderr\n"
                           "declarative_config = kong.yml\nlmdb_environment_path = cache/../db\n")
    conf = load_conf(path, env={})
    assert conf.prefix == str(tmp_path / "servroot")
    assert conf.proxy_access_log is None
    assert conf.proxy_error_log == "/dev/stderr"
    assert conf.lmdb_environment_path == str(tmp_path / "servroot" / "db")
    assert conf.declarative_config == str(tmp_path / "kong.yml")
    conf = load_conf(None, env={"KONG_PREFIX": "/srv/kong", "KONG_PROXY_ACCESS_LOG": "logs/a.log json"})
    assert conf.proxy_access_log == "/srv/kong/logs/a.log"


def test_hybrid_role_rules(tmp_path):
    with pytest.raises(ConfError) as caught:
        load_conf(write(tmp_path, "role = data_plane\nproxy_listen = off\n"), env={})
    assert caught.value.errors == [
        'default: database: only in-memory storage can be used when role = "data_plane" (set database = off)',
        f'{tmp_path}/kong.conf:2: proxy_listen: proxy_listen must be specified when role = "data_plane"',
        "default: cluster_cert: cluster certificate and key must be provided to use Hybrid mode",
    ]
    with pytest.raises(ConfError, match='KONG_DATABASE: database: in-memory storage can not be used'):
        load_conf(None, env={"KONG_ROLE": "control_plane", "KONG_DATABASE": "off"})
    conf = load_conf(None, env={"KONG_ROLE": "data_plane", "KONG_DATABASE": "off",
                                "KONG_CLUSTER_CONTROL_PLANE": "cp.internal:8005"},
                     overrides=cluster_pair(tmp_path))
    assert [str(cp) for cp in conf.cluster_control_plane] == ["cp.internal:8005"]


def test_empty_value_means_unset(tmp_path):
    with pytest.raises(ConfError, match="kong.conf:1: proxy_listen: must be of form"):
        load_conf(write(tmp_path, "proxy_listen =\n"), env={})
    conf = load_conf(write(tmp_path, "headers =\ndns_valid_ttl =\n"), env={})
    assert conf.headers == frozenset() and conf.dns_valid_ttl is None


def test_missing_file():
    with pytest.raises(ConfError, match="no file at: /no/such/kong.conf"):
        load_conf("/no/such/kong.conf", env={})


def test_default_locations_are_used_when_no_path(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "DEFAULT_PATHS", (str(tmp_path / "absent"), write(tmp_path, "log_level = crit\n")))
    assert load_conf(None, env={}).log_level == "crit"


def test_unknown_keys_warn_and_are_dropped(tmp_path, caplog):
    path = write(tmp_path, "proxy_lisen = 0.0.0.0:80\nLog_Level = debug\nnot an assignment\n")
    with caplog.at_level(logging.WARNING, logger="dataplane.conf"):
        conf = load_conf(path, env={})
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"{path}:3: line ignored, it assigns nothing: not an assignment",
        f"{path}:1: unknown property 'proxy_lisen' ignored",
        f"{path}:2: unknown property 'Log_Level' ignored (did you mean 'log_level'?)",
    ]
    assert conf.log_level == "notice" and "proxy_lisen" not in conf.raw


def kong_style_file() -> str:
    """A kong.conf setting every key Kong knows to Kong's default."""
    return "".join(f"{key} = {value}\n" for key, value in ALL_DEFAULTS.items())


def test_every_kong_key_at_its_default_loads(tmp_path, caplog):
    path = write(tmp_path, kong_style_file() + "nginx_http_ssl_buffer_size = 4k\nvault_env_prefix_x = y\n")
    with caplog.at_level(logging.DEBUG, logger="dataplane.conf"):
        conf = load_conf(path, env={})
    assert conf.proxy_listen == load_conf(None, env={}).proxy_listen
    records = [record for record in caplog.records if record.name == "dataplane.conf"]
    assert [record.levelno for record in records] == [logging.DEBUG]
    listed = records[0].getMessage().split(": ", 1)[1].split(", ")
    expected = sorted(set(ALL_DEFAULTS) - set(HONOURED) - set(REPLACEMENTS)
                      | {"nginx_http_ssl_buffer_size", "vault_env_prefix_x"})
    assert listed == expected
    assert len(KONG_DEFAULTS) > 200
    for key in HONOURED:
        assert conf.source(key).startswith(path)


def test_not_applicable_keys_logged_once_per_load(tmp_path, caplog):
    path = write(tmp_path, "pg_ro_host = db\nplugins = bundled\n")  # plugins is honoured: not listed
    with caplog.at_level(logging.DEBUG, logger="dataplane.conf"):
        conf = load_conf(path, env={"KONG_ANONYMOUS_REPORTS": "off"})
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug == ["Kong settings not applicable to Gantry, accepted and ignored: anonymous_reports, pg_ro_host"]
    assert conf.plugins == ("bundled",)


def test_sanitized_dict_masks_secrets(tmp_path):
    key = cluster_pair(tmp_path)["cluster_cert_key"]
    conf = load_conf(None, env={"KONG_PG_PASSWORD": "hunter2", "KONG_CLUSTER_CERT_KEY": key})
    clean = conf.as_sanitized_dict()
    assert clean["pg_password"] == "******" and clean["cluster_cert_key"] == "******"
    assert clean["pg_ro_password"] == "" and clean["pg_user"] == "kong"
    assert conf.raw["pg_password"] == "hunter2"


def documented_defaults() -> dict[str, str]:
    commented = "\n".join(line[1:] if line.startswith("#") else "" for line in DOC_FILE.read_text().splitlines())
    lines, _ = parse_text(commented)
    return {line.key: line.value for line in lines if line.key in ALL_DEFAULTS}


def test_documented_file_lists_every_honoured_key_with_its_default():
    documented = documented_defaults()
    for key, spec in HONOURED.items():
        assert key in documented, f"{key} missing from conf/kong.conf.default"
        assert documented[key] == spec.default, key


def test_documented_file_loads():
    conf = load_conf(str(DOC_FILE), env={})
    assert all(conf.source(key) == "default" for key in HONOURED)


def test_ssl_cert_needs_a_key_per_certificate(tmp_path):
    cert = tmp_path / "a.crt"
    cert.write_text("x")
    with pytest.raises(ConfError) as err:
        load_conf(None, env={}, overrides={"ssl_cert": str(cert)})
    assert any("ssl_cert_key" in line for line in err.value.errors)
    conf = load_conf(None, env={}, overrides={"ssl_cert": str(cert), "ssl_cert_key": str(cert)})
    assert conf.ssl_cert == (str(cert),)
