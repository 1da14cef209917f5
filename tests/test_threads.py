"""lasagne_style.threads: the variables libraries read when they load set
before they load, a value the user set wins, numpy told directly when
already loaded, and OpenBLAS on one thread."""
import json
import os
import subprocess
import sys

import pytest

from lasagne_style import threads

# What the C libraries will read: libc's environment, not os.environ.
SCRIPT = """
import ctypes, json
import lasagne_style
getenv = ctypes.CDLL(None).getenv
getenv.restype = ctypes.c_char_p
print(json.dumps({name: (getenv(name.encode()) or b"").decode()
                  for name in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT",
                               "NUMPY_MADVISE_HUGEPAGE",
                               "OPENBLAS_CORETYPE")}))
"""
#: OpenBLAS's kernel choice, which some machines set for their processor:
#: kept in every child (never changed in tests), so SCRIPT prints the
#: machine's value, else ours with the package's defaults (CORETYPE) and
#: nothing without them (UNSET).
MACHINE = (None if "OPENBLAS_CORETYPE" in threads.set_here
           else os.environ.get("OPENBLAS_CORETYPE"))
CORETYPE = {"OPENBLAS_CORETYPE": MACHINE or threads.openblas_coretype() or ""}
UNSET = {"OPENBLAS_CORETYPE": MACHINE or ""}


def _without_defaults(*also):
    """This environment without the variables the package sets, except
    the machine's OpenBLAS kernel choice; nor ``also``."""
    env = {k: v for k, v in os.environ.items()
           if k not in threads.ENV_DEFAULTS and k not in also}
    if MACHINE:
        env["OPENBLAS_CORETYPE"] = MACHINE
    return env


def _c_environment(script=SCRIPT, **env):
    base = _without_defaults()
    base.update(env, LASAGNE_STYLE_STARTUP="0")
    out = subprocess.run([sys.executable, "-c", script], env=base, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_importing_the_package_sets_the_defaults_in_the_c_environment():
    assert _c_environment() == {"OMP_WAIT_POLICY": "PASSIVE",
                                "OPENBLAS_THREAD_TIMEOUT": "4",
                                "NUMPY_MADVISE_HUGEPAGE": "0", **CORETYPE}


def test_a_value_the_user_set_wins():
    seen = _c_environment(OMP_WAIT_POLICY="ACTIVE",
                          NUMPY_MADVISE_HUGEPAGE="1")
    assert seen == {"OMP_WAIT_POLICY": "ACTIVE",
                    "OPENBLAS_THREAD_TIMEOUT": "4",
                    "NUMPY_MADVISE_HUGEPAGE": "1", **CORETYPE}


def test_set_env_defaults_fills_only_what_is_missing():
    environ = {"OPENBLAS_THREAD_TIMEOUT": "10", "HOME": "/x",
               "NUMPY_MADVISE_HUGEPAGE": "1", "OPENBLAS_CORETYPE": "Zen"}
    assert threads.set_env_defaults(environ) == ["OMP_WAIT_POLICY"]
    assert environ == {"OPENBLAS_THREAD_TIMEOUT": "10", "HOME": "/x",
                       "NUMPY_MADVISE_HUGEPAGE": "1",
                       "OPENBLAS_CORETYPE": "Zen",
                       "OMP_WAIT_POLICY": "PASSIVE"}
    assert threads.set_env_defaults(environ) == []


UNSET_SCRIPT = SCRIPT.replace(
    "import lasagne_style\n",
    "import sys, lasagne_style.bench\n"
    "from lasagne_style import threads\n"
    "assert 'numpy' not in sys.modules  # nothing has read them yet\n"
    "threads.unset_env_defaults()\n")


def test_the_benchmark_reference_can_take_the_defaults_back():
    assert _c_environment(script=UNSET_SCRIPT) == {
        "OMP_WAIT_POLICY": "", "OPENBLAS_THREAD_TIMEOUT": "",
        "NUMPY_MADVISE_HUGEPAGE": "", **UNSET}
    assert _c_environment(script=UNSET_SCRIPT, OMP_WAIT_POLICY="ACTIVE") == {
        "OMP_WAIT_POLICY": "ACTIVE", "OPENBLAS_THREAD_TIMEOUT": "",
        "NUMPY_MADVISE_HUGEPAGE": "", **UNSET}


def _startup_environment(script):
    """What a program of the venv sees, with the start-up file active."""
    base = _without_defaults("LASAGNE_STYLE_STARTUP")
    out = subprocess.run([sys.executable, "-c", script], env=base,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_start_up_file_keeps_them_out_of_other_programs():
    from lasagne_style import compat

    if not os.path.exists(compat.startup_file_path()):
        pytest.skip("no start-up file in this environment (make setup)")
    plain = SCRIPT.replace("import lasagne_style\n",
                           "import sys\n"
                           "assert 'lasagne_style' in sys.modules\n")
    assert _startup_environment(plain) == {"OMP_WAIT_POLICY": "",
                                           "OPENBLAS_THREAD_TIMEOUT": "",
                                           "NUMPY_MADVISE_HUGEPAGE": "",
                                           **UNSET}
    for module in ("lasagne_style.api", "lasagne_style.cli"):
        ours = SCRIPT.replace("import lasagne_style\n",
                              "import %s\n" % module)
        assert _startup_environment(ours) == {
            "OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4",
            "NUMPY_MADVISE_HUGEPAGE": "0", **CORETYPE}


@pytest.mark.parametrize("flags, expected", [
    ("fpu avx2 avx512f avx512cd avx512bw avx512dq avx512vl", "SkylakeX"),
    ("fpu avx2 avx512f avx512cd avx512bw avx512dq", None),  # no VL
    ("fpu sse2 avx avx2 fma", None)])
def test_the_avx512_kernels_only_where_the_processor_has_them(
        tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: %s\n"
                       "\nprocessor\t: 1\nflags\t\t: fpu\n" % flags)
    assert threads.openblas_coretype(str(cpuinfo)) == expected
    assert threads.openblas_coretype(str(tmp_path / "none")) is None


def test_numpys_openblas_loads_with_the_avx512_kernels():
    """numpy and scipy's OpenBLAS, loaded after the package, use the
    kernels the variable names (their own choice on this machine's
    processor may be the generic ones)."""
    if threads.openblas_coretype() is None or MACHINE:
        pytest.skip("no AVX-512 here, or the machine chose the kernels")
    script = ("import json, lasagne_style.api, numpy, scipy.linalg\n"
              "from threadpoolctl import threadpool_info\n"
              "print(json.dumps([i.get('architecture') for i in "
              "threadpool_info() if i['internal_api'] == 'openblas']))\n")
    assert set(_c_environment(script=script)) == {"SkylakeX"}


HUGEPAGE_SCRIPT = """
import numpy
{first}
import lasagne_style.api
print(numpy.core.multiarray._get_madvise_hugepage())
"""


@pytest.mark.parametrize("env, expected", [({}, "False"),
                                           ({"NUMPY_MADVISE_HUGEPAGE": "1"},
                                            "True")])
def test_numpy_loaded_first_is_told_directly_unless_the_user_chose(
        env, expected):
    base = _without_defaults()
    base.update(env, LASAGNE_STYLE_STARTUP="0")
    # numpy's default (advice on) before the package is imported
    script = HUGEPAGE_SCRIPT.format(
        first="assert numpy.core.multiarray._get_madvise_hugepage()")
    out = subprocess.run([sys.executable, "-c", script], env=base,
                         check=True, capture_output=True, text=True).stdout
    assert out.split()[-1] == expected


def test_blas_on_one_thread_sets_openblas_to_one_thread():
    code = ("import scipy_openblas32 as s\n"
            "from lasagne_style import threads\n"
            "assert threads.blas_on_one_thread()\n"
            "print(s.dll.scipy_openblas_get_num_threads())\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.split()[-1] == "1"
