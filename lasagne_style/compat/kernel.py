"""A ``python2`` Jupyter kernel name for notebooks of the Python 2 era.

Notebooks saved under Python 2 declare the kernel ``python2``; ``jupyter
execute`` and ``nbconvert --execute`` then stop with ``No such kernel named
python2``. ``python -m lasagne_style.compat install`` (run by ``make setup``)
adds a kernel spec of that name to this environment
(``<prefix>/share/jupyter/kernels/python2``) that starts this environment's
Python 3, with the compatibility fixes. The notebook's code still has to be
Python 3 code (see docs/legacy.md); the alternative is naming the kernel
yourself: ``jupyter execute --kernel_name=python3 old.ipynb``.
"""
import json
import os
import shutil
import sys

NAME = "python2"
DISPLAY_NAME = "Python 2 notebooks (runs this environment's Python 3)"


def kernel_dir(prefix=None):
    """Where the alias's ``kernel.json`` goes."""
    return os.path.join(prefix or sys.prefix, "share", "jupyter", "kernels",
                        NAME)


def spec(python=None):
    """The alias's kernel spec: ipykernel on ``python`` (this one)."""
    return {"argv": [python or sys.executable, "-m", "ipykernel_launcher",
                     "-f", "{connection_file}"],
            "display_name": DISPLAY_NAME, "language": "python",
            "metadata": {"lasagne_style": "python2 alias"}}


def install(prefix=None):
    """Write the alias; an existing ``python2`` kernel that is not ours
    (a real Python 2) is left alone. Returns its directory, or None."""
    folder = kernel_dir(prefix)
    path = os.path.join(folder, "kernel.json")
    if os.path.exists(path) and not ours(path):
        return None
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        json.dump(spec(), f, indent=1)
    return folder


def ours(path):
    try:
        with open(path) as f:
            return json.load(f).get("metadata", {}).get(
                "lasagne_style") == "python2 alias"
    except (OSError, ValueError):
        return False


def remove(prefix=None):
    folder = kernel_dir(prefix)
    if ours(os.path.join(folder, "kernel.json")):
        shutil.rmtree(folder, ignore_errors=True)


def present(prefix=None):
    return ours(os.path.join(kernel_dir(prefix), "kernel.json"))
