"""`controlplane hybrid gen_cert`: Kong's shared cluster certificate."""
from __future__ import annotations

import datetime
import os
import stat
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID

from tests.support.paths import ROOT


def gen_cert(cwd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controlplane.cli", "hybrid", "gen_cert", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_default_files(tmp_path):
    done = gen_cert(tmp_path)
    assert done.returncode == 0, done.stderr
    crt, key = tmp_path / "cluster.crt", tmp_path / "cluster.key"
    assert f"'{crt}' and '{key}'" in done.stdout
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    private = load_pem_private_key(key.read_bytes(), None)
    assert isinstance(private.curve, ec.SECP384R1)
    assert cert.public_key().public_numbers() == private.public_key().public_numbers()
    cn = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    assert cn == ["kong_clustering"] and cert.issuer == cert.subject
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert validity == datetime.timedelta(days=1095)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((cert.not_valid_before_utc - now).total_seconds()) < 60
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(crt.stat().st_mode) == 0o644


@pytest.mark.slow  # the CLI run three times, a process each
def test_named_files_days_and_no_overwrite(tmp_path):
    crt, key = tmp_path / "a.pem", tmp_path / "b.pem"
    assert gen_cert(tmp_path, str(crt), str(key), "--days", "10").returncode == 0
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=10)
    before = crt.read_bytes(), key.read_bytes()
    again = gen_cert(tmp_path, str(crt), str(tmp_path / "new.key"))
    assert again.returncode == 1
    assert f"Error: {crt} already exists.\nWill not overwrite it." in again.stderr
    assert not (tmp_path / "new.key").exists() and (crt.read_bytes(), key.read_bytes()) == before
    one = gen_cert(tmp_path, str(tmp_path / "only.crt"))
    assert one.returncode == 1 and "both cert and key path needs to be provided" in one.stderr
