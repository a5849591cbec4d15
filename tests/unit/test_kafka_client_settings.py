"""queue.yaml `kafka:` as kafka-python's settings: names that the installed kafka-python (3.x from
PyPI, 2.0.2 in Debian) knows, for the consumer, the producer and the admin client alike.

The test broker cannot take SASL or TLS (docs/queued.md, Tests), so this is what proves the
security settings reach the client under the right names."""

from __future__ import annotations

import kafka
import pytest

from jobu.config import KafkaConfig
from jobu.queued.kafka import client_settings


def test_sasl_ssl_with_scram_and_a_ca_file():
    settings = client_settings(KafkaConfig(
        bootstrap_servers=("k1:9093", "k2:9093"), client_id="jobu-e2e",
        security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="jobu",
        sasl_password="s3cret", ssl_cafile="/etc/ssl/kafka-ca.pem"))
    assert settings == {
        "bootstrap_servers": ["k1:9093", "k2:9093"], "client_id": "jobu-e2e",
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "jobu", "sasl_plain_password": "s3cret",
        "ssl_cafile": "/etc/ssl/kafka-ca.pem"}


def test_plaintext_names_only_what_is_set():
    assert client_settings(KafkaConfig(bootstrap_servers=("k1:9092",))) == {
        "bootstrap_servers": ["k1:9092"], "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("client", ["KafkaConsumer", "KafkaProducer", "KafkaAdminClient"])
def test_every_setting_is_one_the_client_knows(client):
    settings = client_settings(KafkaConfig(
        bootstrap_servers=("k1:9093",), client_id="c", security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN", sasl_username="u", sasl_password="p", ssl_cafile="ca.pem"))
    known = getattr(kafka, client).DEFAULT_CONFIG
    assert set(settings) <= set(known), set(settings) - set(known)
