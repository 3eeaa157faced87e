"""Which DB-less nodes serve the Admin API: Kong's default admin_listen, `off`, and no Admin
API on a data plane whatever admin_listen says (kong/templates/nginx_kong.lua)."""

from __future__ import annotations

from dataplane.admin import serves_admin
from dataplane.conf import load_conf


def _conf(tmp_path, **values: str):
    path = tmp_path / "kong.conf"
    path.write_text("".join(f"{k} = {v}\n" for k, v in {"database": "off", **values}.items()))
    return load_conf(str(path))


def test_kongs_default_admin_listen_is_served(tmp_path):
    conf = _conf(tmp_path)
    assert [(listener.ip, listener.port, listener.ssl) for listener in conf.admin_listen] == [
        ("127.0.0.1", 8001, False),
        ("127.0.0.1", 8444, True),
    ]
    assert serves_admin(conf)


def test_off_and_ssl_only_and_data_planes_serve_none(tmp_path):
    assert not serves_admin(_conf(tmp_path, admin_listen="off"))
    assert not serves_admin(_conf(tmp_path, admin_listen="127.0.0.1:8444 ssl"))
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    data_plane = _conf(
        tmp_path, role="data_plane", cluster_cert=str(cert), cluster_cert_key=str(cert), admin_listen="127.0.0.1:9001"
    )
    assert not serves_admin(data_plane)
