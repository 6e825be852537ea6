"""The optional C part (pubinbox._native, from src/native/): built when a C
compiler is there.

Everything else is in pyproject.toml.  Without a compiler the build goes
on without it (optional=True) and pubinbox uses the pure-Python code the
C functions are tested against.
"""

from pathlib import Path

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pubinbox._native",
            sorted(str(p) for p in Path("src/native").glob("*.c")),
            depends=["src/native/native.h"],
            optional=True,
            extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra"],
        )
    ]
)
