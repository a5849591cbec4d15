"""Rules between the keys of one mapping of a configuration file: a database's connection keys,
Kafka's SASL settings, a secret given at most one way, a key at most another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError

#: Error messages by key, as marshmallow takes them ("_schema": the mapping as a whole).
Problems = dict[str, Any]


def raise_if_any(problems: Problems) -> None:
    if problems:
        raise ValidationError(dict(problems))


def secret_source_problems(data: Mapping[str, Any], key: str) -> Problems:
    """Refuses more than one of `key`, `key`_file and `key`_env: which one wins would be a guess."""
    given = [name for name in (key, f"{key}_file", f"{key}_env") if data.get(name) is not None]
    return {name: [f"cannot be combined with {given[0]}; give the secret one way only"]
            for name in given[1:]}


CONNECTION_KEYS = ("driver", "host", "port", "user", "dbname", "path")
SERVER_ONLY_KEYS = ("host", "port", "user", "dbname", "password", "password_file", "password_env")
SQLITE_ONLY_KEYS = ("path", "busy_timeout_seconds")


def connection_problems(data: Mapping[str, Any], written: Mapping[str, Any]) -> Problems:
    """What is wrong with how one database entry says where its database is.

    `written` is the entry as written: a key that is there but missing from the loaded `data`
    was invalid, is reported already, and so is neither "missing" nor a driver to check against.
    """
    if "url" in written:
        return {key: ["cannot be combined with url; give either url or the separate keys"]
                for key in CONNECTION_KEYS if key in written}
    if "driver" not in written:
        return {"_schema": ["needs either url or driver"]}
    driver = data.get("driver")
    if driver == "sqlite":
        problems = {key: ["is not used by driver sqlite"]
                    for key in SERVER_ONLY_KEYS if key in written}
        required = "path"
    elif driver is not None:
        problems = {key: [f"is used by driver sqlite only, not by {driver}"]
                    for key in SQLITE_ONLY_KEYS if key in written}
        required = "dbname"
    else:
        return {}
    if required not in written:
        problems[required] = [f"is required with driver {driver}"]
    return problems


SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def sasl_problems(data: Mapping[str, Any], written: Mapping[str, Any]) -> Problems:
    """SASL settings must match the security protocol, and password mechanisms need both parts.
    (`written` as for connection_problems.)"""
    protocol, mechanism = data.get("security_protocol"), data.get("sasl_mechanism")
    if protocol is None or (mechanism is None and written.get("sasl_mechanism") is not None):
        return {}
    if protocol in SASL_PROTOCOLS and mechanism is None:
        return {"sasl_mechanism": [f"is required with security_protocol {protocol}"]}
    if protocol not in SASL_PROTOCOLS and mechanism is not None:
        return {"sasl_mechanism": [f"is used with security_protocol {' or '.join(SASL_PROTOCOLS)}"
                                   f" only, not {protocol}"]}
    if mechanism not in PASSWORD_MECHANISMS:
        return {}
    needed = {"sasl_username": ("sasl_username",),
              "sasl_password": ("sasl_password", "sasl_password_file", "sasl_password_env")}
    return {key: [f"is required with sasl_mechanism {mechanism}"]
            for key, sources in needed.items()
            if all(written.get(source) is None for source in sources)}


def require_order(small: str, large: str, data: Mapping[str, Any], *, strictly: bool) -> None:
    """Refuses `small` above `large` (or equal to it, when `strictly`). A key that is unset,
    null or invalid makes no rule: its own problem is reported already."""
    low, high = data.get(small), data.get(large)
    if low is None or high is None or low < high or (low == high and not strictly):
        return
    relation = "less than" if strictly else "at most"
    raise ValidationError(f"must be {relation} {large} ({high:g}), got {low:g}", small)
