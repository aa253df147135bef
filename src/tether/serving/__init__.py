"""Cloud-ready serving for any tether handler: health, metrics, drain, proxies, workers.

See :mod:`tether.serving.app` and docs/deploy.md.
"""

from .app import App, ServingOptions, run, serve_app, serve_until_signalled
from .forwarded import TrustedProxies
from .metrics import Metrics

__all__ = ["App", "Metrics", "ServingOptions", "TrustedProxies", "run", "serve_app",
           "serve_until_signalled"]
