"""/metrics: jobu's numbers in Prometheus' text format, read from the jobs database.

The registry is `jobu.metrics`'s, the one a daemon serves on its `metrics_bind`, built once
per admin process. Like every page it needs a session or an API token (``Authorization:
Bearer``); admin.yaml ``metrics_public: true`` opens it to everyone. The format follows the
scraper's Accept header (the text format, or OpenMetrics when asked for).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from jobu.admin import access
from jobu.admin.security import public_if
from jobu.metrics import build_registry

bp = Blueprint("metrics", __name__)

#: Where the registry of this admin process is kept, in app.extensions.
REGISTRY_KEY = "jobu.metrics"


def registry() -> CollectorRegistry:
    """This process's registry over its store and clock, made on first use."""
    extensions = current_app.extensions
    if REGISTRY_KEY not in extensions:
        extensions[REGISTRY_KEY] = build_registry(access.store(), access.config(),
                                                  access.clock())
    return extensions[REGISTRY_KEY]


@bp.get("/metrics")
@public_if("metrics_public")
def metrics():
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry()), status=200, headers={"Content-Type": content_type})
