"""The CA config map: Consul's defaults, key spellings, durations and validation messages."""

from __future__ import annotations

import pytest

from proconsul.lib.duration import HOUR
from proconsul.structs.connect import (
    CAConfigError,
    CAConfiguration,
    CARoot,
    IndexedCARoots,
    parse_ca_config,
)


def test_defaults_are_consuls():
    cfg = parse_ca_config(None)
    assert (cfg.leaf_cert_ttl, cfg.intermediate_cert_ttl, cfg.root_cert_ttl) == (
        72 * HOUR, 8760 * HOUR, 87600 * HOUR)
    assert (cfg.private_key_type, cfg.private_key_bits) == ("ec", 256)
    assert (cfg.csr_max_per_second, cfg.csr_max_concurrent) == (50.0, 0)


def test_camel_snake_and_lower_case_keys_and_weak_types():
    cfg = parse_ca_config({"LeafCertTTL": "1h", "intermediate_cert_ttl": "24h",
                           "ROOTCERTTTL": 100 * HOUR, "csr_max_per_second": "0",
                           "CSRMaxConcurrent": "2", "private_key_type": "rsa",
                           "PrivateKeyBits": 2048.0, "RotationPeriod": "2160h"})
    assert (cfg.leaf_cert_ttl, cfg.intermediate_cert_ttl, cfg.root_cert_ttl) == (
        HOUR, 24 * HOUR, 100 * HOUR)
    assert (cfg.csr_max_per_second, cfg.csr_max_concurrent) == (0.0, 2)
    assert (cfg.private_key_type, cfg.private_key_bits) == ("rsa", 2048)


@pytest.mark.parametrize(("config", "message"), [
    ({"LeafCertTTL": "59m"}, "leaf cert TTL must be greater or equal than 1h0m0s"),
    ({"LeafCertTTL": "8761h", "IntermediateCertTTL": "30000h", "RootCertTTL": "90000h"},
     "leaf cert TTL must be less than 8760h0m0s"),
    ({"LeafCertTTL": "1h", "IntermediateCertTTL": "2h"},
     "Intermediate Cert TTL must be greater or equal than 3h"),
    ({"LeafCertTTL": "72h", "IntermediateCertTTL": "100h"},
     "Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL (>=216h0m0s)."),
    ({"RootCertTTL": "1000h"},
     "root cert TTL is set and is not greater than intermediate cert ttl. "
     "root cert ttl: 1000h0m0s, intermediate cert ttl: 8760h0m0s"),
    ({"PrivateKeyType": "ec", "PrivateKeyBits": 512},
     "EC key length must be one of (224, 256, 384, 521) bits"),
    ({"PrivateKeyType": "rsa"}, "RSA key length must be 2048 or 4096 bits"),
    ({"PrivateKeyType": "dsa"}, "private key type must be either 'ec' or 'rsa'"),
    ({"RootCert": "-----BEGIN CERTIFICATE-----"},
     "must provide a private key when providing a root cert"),
])
def test_validation_messages(config, message):
    with pytest.raises(CAConfigError) as exc:
        parse_ca_config(config)
    assert str(exc.value) == message


def test_skip_validate_and_decode_errors():
    assert parse_ca_config({"LeafCertTTL": "1m", "SkipValidate": True}).leaf_cert_ttl == 60 * 10**9
    with pytest.raises(CAConfigError, match=r"^error decoding config: 'LeafCertTTL' "):
        parse_ca_config({"LeafCertTTL": "soon"})
    with pytest.raises(CAConfigError, match=r"^error decoding config: 'PrivateKeyBits' "):
        parse_ca_config({"PrivateKeyBits": [256]})


def test_public_views_hide_server_secrets():
    import msgspec

    root = CARoot(ID="x", SigningKey="KEY", SigningCert="CERT", Active=True)
    body = msgspec.json.decode(msgspec.json.encode(
        IndexedCARoots(ActiveRootID="x", TrustDomain="td", Roots=[root], Index=9).public()))
    assert set(body) == {"ActiveRootID", "TrustDomain", "Roots"}
    assert "SigningKey" not in body["Roots"][0] and "RotatedOutAt" not in body["Roots"][0]
    assert body["Roots"][0]["NotBefore"] == "0001-01-01T00:00:00Z"
    conf = CAConfiguration(Provider="consul", Config={"LeafCertTTL": "72h"}, ClusterID="c")
    assert "ClusterID" not in msgspec.json.decode(msgspec.json.encode(conf.public()))
    # the raft copy keeps them
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(root), type=CARoot).SigningKey == "KEY"
