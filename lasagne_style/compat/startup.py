"""The start-up file: plain ``import theano`` / ``import lasagne`` get the
fixes in this environment.

``make setup`` (``python -m lasagne_style.compat install``) writes a
one-line ``.pth`` file, :data:`STARTUP_FILE`, into this environment's
site-packages; the wheel carries the same line (``setup.py`` reads
:data:`STARTUP_LINE` from this file without importing the package). At
interpreter start-up it imports :mod:`lasagne_style`, which installs the
import hook: a few milliseconds, and nothing more until Theano is imported.
It marks that import with ``_LASAGNE_STYLE_AT_STARTUP`` so that the package
leaves the idle-thread settings of every other program alone
(:mod:`lasagne_style.threads`). ``LASAGNE_STYLE_STARTUP=0`` switches it off
for one command, ``python -m lasagne_style.compat remove`` deletes it; when
the package cannot be found (uninstalled), the line does nothing.
"""
import os

#: The start-up file ``make setup`` puts in site-packages, and its one line:
#: import lasagne_style (which installs the import hook) unless switched off.
STARTUP_FILE = "lasagne_style-startup.pth"
STARTUP_LINE = ("import os, importlib.util; "
                "os.environ.get('LASAGNE_STYLE_STARTUP', '1') == '0' "
                "or importlib.util.find_spec('lasagne_style') is None "
                "or (os.environ.__setitem__('_LASAGNE_STYLE_AT_STARTUP', "
                "'1'), __import__('lasagne_style'), "
                "os.environ.pop('_LASAGNE_STYLE_AT_STARTUP'))\n")


def startup_file_path():
    """Where :data:`STARTUP_FILE` goes: this environment's site-packages."""
    import sysconfig
    return os.path.join(sysconfig.get_paths()["purelib"], STARTUP_FILE)


def present():
    """Whether the start-up file is installed."""
    return os.path.exists(startup_file_path())


def install():
    """Write the start-up file; returns its path."""
    path = startup_file_path()
    with open(path, "w") as f:
        f.write(STARTUP_LINE)
    return path


def remove():
    """Delete the start-up file if it is there; returns its path."""
    path = startup_file_path()
    if os.path.exists(path):
        os.remove(path)
    return path
