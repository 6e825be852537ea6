"""The optional C part (pubinbox._native): built when a C compiler is there.

Everything else is in pyproject.toml.  Without a compiler the build goes
on without it (optional=True) and pubinbox uses the pure-Python code the
C functions are tested against.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pubinbox._native",
            ["src/pubinbox/_native.c"],
            optional=True,
            extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra"],
        )
    ]
)
