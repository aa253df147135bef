"""Build script for the optional compiled hot path (``tether._native._speedups``).

Everything else about the package lives in ``pyproject.toml``.  The extension is
plain C (no Cython needed).  Where it can't be built (no compiler, no Python
headers), the build warns and the package installs without it: the pure-Python
twin in ``tether/_native/_python.py`` is then used.  ``TETHER_NO_EXTENSIONS=1``
at build time skips it (and at run time ignores a built one).
"""

from __future__ import annotations

import os
import sys
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Build the extension if possible; warn and carry on without it if not."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any failure means "no compiled module"
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc: BaseException) -> None:
        msg = (f"tether: could not build the compiled hot path ({exc}); "
               "installing the pure-Python implementation instead")
        warnings.warn(msg, stacklevel=1)
        print("WARNING: " + msg, file=sys.stderr)


def extensions() -> list[Extension]:
    if os.environ.get("TETHER_NO_EXTENSIONS"):
        print("tether: TETHER_NO_EXTENSIONS is set: not building the compiled hot path",
              file=sys.stderr)
        return []
    if sys.implementation.name != "cpython":
        return []
    args = ["-O3", "-std=c99"] if os.name != "nt" else ["/O2"]
    return [Extension("tether._native._speedups", ["src/tether/_native/_speedups.c"],
                      extra_compile_args=args, optional=True)]


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
    # A module built in place (pip install -e) is not package data: a wheel gets only
    # what build_ext makes for it (or nothing, with TETHER_NO_EXTENSIONS=1 or no compiler).
    exclude_package_data={"tether": ["_native/*.so", "_native/*.pyd"]},
)
