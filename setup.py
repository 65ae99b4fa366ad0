"""Build hook: everything else lives in pyproject.toml.

- The C extension is built by cffi (``csrc/build_ffi.py``). cffi builds it against the
  stable ABI (``_pat.abi3.so``), so the wheel is tagged ``cp310-abi3`` to match: one wheel
  serves every CPython >= 3.10.
- The link drops the absolute ``-Wl,-rpath`` entries a Python build may carry in its own
  link command (a pyenv or conda Python adds its ``lib/``): the extension's only rpath is
  ``$ORIGIN/../scipy_openblas32/lib``, relative to where it is installed.
"""

from setuptools import setup
from setuptools.command.build_ext import build_ext


def _absolute_rpath(arg: str) -> bool:
    return arg.startswith(("-Wl,-rpath,/", "-Wl,-rpath=/", "-Wl,-R/", "-R/"))


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        linker = getattr(self.compiler, "linker_so", None)
        if linker:
            self.compiler.linker_so = [a for a in linker if not _absolute_rpath(a)]
        super().build_extensions()


setup(
    cffi_modules=["csrc/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt},
    options={"bdist_wheel": {"py_limited_api": "cp310"}},
)
