"""Test helpers: generated TLS certificates and real proxy servers (pytest fixtures).

Register the fixtures in ``tests/conftest.py``::

    pytest_plugins = ["tests.support.certs", "tests.support.proxies"]
"""
