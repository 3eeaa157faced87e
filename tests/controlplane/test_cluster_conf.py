"""The cluster keys of kong.conf: Kong's defaults, parsing and cross-key rules."""
from __future__ import annotations

import pytest

from dataplane.conf import ConfError, load_conf


def pair(tmp_path) -> dict[str, str]:
    for name in ("c.crt", "c.key", "ca.crt"):
        (tmp_path / name).write_text("")
    return {"cluster_cert": str(tmp_path / "c.crt"), "cluster_cert_key": str(tmp_path / "c.key")}


def test_defaults():
    conf = load_conf(None, env={})
    assert [str(a) for a in conf.cluster_control_plane] == ["127.0.0.1:8005"]
    assert conf.cluster_mtls == "shared"
    assert (conf.cluster_cert, conf.cluster_cert_key, conf.cluster_ca_cert) == (None, None, None)
    assert conf.cluster_server_name is None and dict(conf.cluster_dp_labels) == {}
    assert conf.cluster_data_plane_purge_delay == 1209600
    assert conf.cluster_max_payload == 16777216


def test_values(tmp_path):
    conf = load_conf(None, env={}, overrides={
        "role": "data_plane", "database": "off", **pair(tmp_path),
        "cluster_control_plane": "cp1.test:8005, cp2.test, [::1]:9000",
        "cluster_mtls": "pki", "cluster_ca_cert": str(tmp_path / "ca.crt"),
        "cluster_server_name": "cp.test", "cluster_dp_labels": "region:eu-west, tier:edge_1",
        "cluster_data_plane_purge_delay": "60"})
    assert [str(a) for a in conf.cluster_control_plane] == ["cp1.test:8005", "cp2.test:443",
                                                            "[::1]:9000"]
    assert conf.cluster_cert == str(tmp_path / "c.crt") and conf.cluster_server_name == "cp.test"
    assert dict(conf.cluster_dp_labels) == {"region": "eu-west", "tier": "edge_1"}


@pytest.mark.parametrize("settings, message", [
    ({"cluster_mtls": "pki_check_cn"}, "cluster_mtls: invalid value 'pki_check_cn'"),
    ({"cluster_data_plane_purge_delay": "59"}, "must be 60 or greater"),
    ({"cluster_dp_labels": "nocolon"}, "label 'nocolon' must be 'key:value'"),
    ({"cluster_dp_labels": "kong_x:1"}, "label key 'kong_x' is reserved"),
    ({"cluster_dp_labels": "a:1,a:2"}, "label key 'a' is set twice"),
    ({"cluster_cert": "/nonexistent.crt"}, "file does not exist"),
    ({"cluster_control_plane": "cp:0"}, "invalid port 0"),
    ({"role": "control_plane"}, "cluster certificate and key must be provided to use Hybrid mode"),
])
def test_invalid(settings, message):
    with pytest.raises(ConfError, match=message):
        load_conf(None, env={}, overrides=settings)


def test_control_plane_rules(tmp_path):
    with pytest.raises(ConfError, match='cluster_ca_cert must be specified when cluster_mtls = "pki"'):
        load_conf(None, env={}, overrides={"role": "control_plane", "cluster_mtls": "pki",
                                           **pair(tmp_path)})
    with pytest.raises(ConfError, match="cluster_dp_labels can only be set when role"):
        load_conf(None, env={}, overrides={"role": "control_plane", "cluster_dp_labels": "a:b",
                                           **pair(tmp_path)})
