"""The ``tether`` command line: serve, connect, demo."""
