"""The compatibility fixes: Theano flags, BLAS linkage, Lasagne import."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from conftest import wait_until
from lasagne_style import compat


def test_user_flags_override_ours(tmp_path):
    from theano.configparser import parse_config_string
    (tmp_path / "libmine.so").write_bytes(b"")  # a BLAS that is here
    mine = "-L%s -lmine" % tmp_path
    flags = compat.theano_flags("floatX=float64,blas.ldflags=%s" % mine,
                                "/lib x")
    parsed = parse_config_string(flags)
    assert parsed["floatX"] == "float64"
    assert parsed["blas.ldflags"] == mine
    # our values survive Theano's comma splitting intact
    ours = parse_config_string(compat.theano_flags("", "/a,b"))
    assert ours["blas.ldflags"] == compat.blas_flags("/a,b")["blas.ldflags"]
    assert "-Dsgemm_=scipy_sgemm_" in ours["gcc.cxxflags"]


def test_without_openblas_the_numpy_distutils_probe_is_skipped():
    from theano.configparser import parse_config_string
    assert parse_config_string(compat.theano_flags("", None))[
        "blas.ldflags"] == ""


def test_theano_uses_scipy_openblas_and_gemm_is_correct():
    import theano
    import theano.tensor as T
    assert compat.blas_library is not None
    assert "scipy_openblas" in theano.config.blas.ldflags
    assert theano.config.floatX == "float32"
    a, b = T.matrices("a", "b")
    f = theano.function([a, b], T.dot(a, b))
    ops = [type(node.op).__name__ for node in f.maker.fgraph.toposort()]
    assert any("Dot22" in op or "Gemm" in op for op in ops), ops
    rng = np.random.RandomState(0)
    A = rng.rand(70, 50).astype(np.float32)
    B = rng.rand(50, 30).astype(np.float32)
    np.testing.assert_allclose(f(A, B), A @ B, rtol=1e-5)


def test_lasagne_imports_and_average_pooling_works():
    import lasagne  # noqa: F401  (fails on Theano 1.0 without the shim)
    import theano
    import theano.tensor as T
    from theano.tensor.signal import downsample
    x = T.tensor4()
    f = theano.function([x], downsample.max_pool_2d(
        x, (2, 2), ignore_border=True, mode="average_exc_pad"))
    data = np.arange(2 * 5 * 6, dtype=np.float32).reshape(1, 2, 5, 6)
    expected = data[:, :, :4, :].reshape(1, 2, 2, 2, 3, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(f(data), expected)


# Module keys of a DimShuffle (a COp) and of a Dot22 (empty __props__) in a
# fresh interpreter: the version part and a digest of the whole key.
KEY_SCRIPT = """
import hashlib
import lasagne_style
import theano
import theano.tensor as T
from theano.gof.cc import CLinker
x, a, b = T.vector('x'), T.matrix('a'), T.matrix('b')
for out, ins in ((x.dimshuffle('x', 0) * 2, [x]), (T.dot(a, b), [a, b])):
    f = theano.function(ins, out)
    linker = CLinker().accept(f.maker.fgraph)
    key = linker.cmodule_key()
    print(bool(key[0]), hashlib.sha256(repr(key[0]).encode()).hexdigest())
"""


def test_compiled_modules_have_versions_stable_across_processes():
    import subprocess
    import sys
    runs = [subprocess.run([sys.executable, "-c", KEY_SCRIPT], check=True,
                           capture_output=True, text=True).stdout.split()
            for _ in range(2)]
    # versioned (found in the cache by the next process) ...
    assert runs[0][0::2] == ["True", "True"], runs[0]
    # ... and the same version in two processes with different hash salts
    assert runs[0] == runs[1]


PARALLEL_SCRIPT = """
import json, os, sys
import numpy as np
import lasagne_style.compat.compiling as compiling
import theano
import theano.tensor as T
jobs = []
describe = compiling._compiler_jobs
compiling._compiler_jobs = lambda linker: jobs.extend(describe(linker)) or jobs
x, a = T.vector('x'), T.matrix('a')
f = theano.function([x, a], [T.exp(x).sum() * 3, T.dot(a, a.T), a[::-1] ** 2])
x0 = np.arange(4, dtype='float32')
outs = f(x0, np.arange(6, dtype='float32').reshape(2, 3))
cache = theano.config.compiledir
libraries = [name for _, _, names in os.walk(cache) for name in names
             if name.endswith('.so')]
headers = os.path.join(cache, 'lasagne_style_pch')
print(json.dumps(dict(
    jobs=[job['module_name'] for job in jobs], libraries=libraries,
    counts=compiling.build_counts,
    outputs=[o.tolist() for o in outs],
    headers=[name for _, _, names in os.walk(headers) for name in names],
    left=os.listdir(os.environ['TMPDIR']))))
"""


def test_modules_compiled_in_parallel_are_the_ones_theano_loads(tmp_path):
    """Fix 7: at the first cache miss, every missing module is described as
    ``Op.make_c_thunk`` describes it and built in parallel; Theano then takes
    each of them instead of compiling it (needs 2 processors); their
    outputs are right; no build directory is left over; the module headers
    are precompiled."""
    import json
    import os
    import subprocess
    import sys
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"),
               THEANO_FLAGS="compiledir=%s" % (tmp_path / "cache"))
    report = json.loads(subprocess.run(
        [sys.executable, "-c", PARALLEL_SCRIPT], env=env, check=True,
        capture_output=True, text=True).stdout.splitlines()[-1])
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one processor: nothing is built in parallel")
    assert len(report["jobs"]) >= 3, report
    assert report["counts"] == {"built": len(report["jobs"]),
                                "used": len(report["jobs"])}, report
    loaded = {name.split(".")[0] for name in report["libraries"]}
    assert set(report["jobs"]) <= loaded
    x, a = np.arange(4.0), np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(report["outputs"][0], np.exp(x).sum() * 3,
                               rtol=1e-6)
    np.testing.assert_allclose(report["outputs"][1], a @ a.T)
    np.testing.assert_allclose(report["outputs"][2], a[::-1] ** 2)
    assert report["left"] == []
    assert any(name.endswith(".gch") for name in report["headers"]), report


INTERRUPTED_SCRIPT = """
import signal
# Ctrl-C raises KeyboardInterrupt even where SIGINT was ignored on start
# (a job a shell put in the background)
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
import lasagne_style.compat
import theano
import theano.tensor as T
x, a = T.vector('x'), T.matrix('a')
theano.function([x, a], [T.exp(x).sum() * 3, T.dot(a, a.T), a[::-1] ** 2,
                         T.tanh(a).max(axis=0), T.sqrt(abs(x)).cumsum()])
"""


def test_an_interrupt_during_the_parallel_build_leaves_no_build_folder(
        tmp_path):
    """Fix 7 and Ctrl-C: compilers still running when the interrupt comes
    (a SIGTERM, or Ctrl-C outside the compilers' process group) finish
    after the batch was given up; what they build is deleted, not left in
    the temporary directory."""
    import os
    import signal
    import subprocess
    import sys
    import time
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one processor: nothing is built in parallel")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = dict(os.environ, TMPDIR=str(temporary),
               THEANO_FLAGS="compiledir=%s" % (tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED_SCRIPT],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_until(lambda: any(n.startswith("lasagne_style_build_")
                           for n in os.listdir(temporary)),
               proc, 300, "no parallel build started", interval=0.01)
    time.sleep(0.5)  # compilers running (a module takes about 2 s here)
    os.kill(proc.pid, signal.SIGINT)  # the process only, not its compilers
    stderr = proc.communicate(timeout=300)[1]
    assert "KeyboardInterrupt" in stderr, stderr
    assert [n for n in os.listdir(temporary)
            if n.startswith("lasagne_style_build_")] == []


def test_only_modules_beginning_with_theano_headers_get_the_pch(tmp_path):
    other = tmp_path / "mod.cpp"
    other.write_text("#include <stdio.h>\n" + compat.MODULE_HEADERS)
    assert compat._precompiled_header(
        ["g++", "-shared", "-O3", "-o", str(tmp_path / "m.so"),
         str(other)], build=True) is None


def test_a_home_that_cannot_hold_a_directory_gets_the_temporary_cache():
    # root's permission bits say /proc is writable; creating a folder there
    # fails all the same (it used to end in Theano's traceback)
    with pytest.warns(UserWarning, match="is not writable"):
        flags = compat.compile_cache_flags("", home="/proc/nohome")
    assert flags["base_compiledir"].startswith(tempfile.gettempdir())


@pytest.fixture
def march_check(tmp_path, monkeypatch):
    """Fix 15's wrapper around a stand-in for Theano's check, which counts
    its calls and passes unless the flags contain '-mbad'; the record in
    ``tmp_path``."""
    from theano.gof import cmodule

    from lasagne_style.compat import compiling
    calls = []

    def check(flags):
        calls.append(list(flags))
        return "-mbad" not in flags, True

    monkeypatch.setattr(cmodule, "try_march_flag", check)
    monkeypatch.setattr(compiling, "march_record",
                        lambda: str(tmp_path / "march.json"))
    compiling._remember_march_checks()
    return cmodule.try_march_flag, calls, tmp_path / "march.json"


def test_a_passed_march_check_is_not_run_again(march_check):
    check, calls, record = march_check
    assert check(["-march=x"]) == (True, True)
    assert check(["-march=x"]) == (True, True)
    assert calls == [["-march=x"]]
    assert check(["-march=y"]) == (True, True)  # other flags: checked
    assert calls == [["-march=x"], ["-march=y"]]
    assert len(json.loads(record.read_text())) == 2


def test_a_failed_march_check_is_run_again(march_check):
    check, calls, record = march_check
    assert check(["-mbad"]) == (False, True)
    assert check(["-mbad"]) == (False, True)
    assert len(calls) == 2 and not record.exists()


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', '["x"]',
                                     '[' + '"' + "0" * 64 + '", 3]'])
def test_a_march_record_that_does_not_parse_is_ignored(march_check,
                                                       content):
    check, calls, record = march_check
    record.write_text(content)
    assert check(["-march=x"]) == (True, True)
    assert calls == [["-march=x"]]
    assert check(["-march=x"]) == (True, True)
    assert calls == [["-march=x"]]


def fake_module(compiledir, name):
    """A cache directory as Theano leaves one: a module file and the
    pickled key of that module (a versioned key of the form Theano checks);
    returns the key."""
    from theano.gof import cmodule
    folder = compiledir / name
    folder.mkdir()
    (folder / "mod.so").write_bytes(b"")
    key = ((1,), ("CLinker.cmodule_key", ("-O3",), "hash:" + name))
    cmodule.KeyData(keys={key}, module_hash=cmodule.get_module_hash(
        name, key), key_pkl=str(folder / "key.pkl"),
        entry=str(folder / "mod.so")).save_pkl()
    return key


class SourceOnly:
    """Stands for a CLinker: gives a module's source, never compiles."""

    def __init__(self, source):
        self.source = source

    def get_src_code(self):
        return self.source

    def compile_cmodule(self, location):
        raise AssertionError("compiled " + self.source)


@pytest.fixture
def module_cache(tmp_path, monkeypatch):
    """Fix 17: a cache of three modules, two of them in the record; a new
    ``ModuleCache`` on it (module files are not loaded: they are empty)."""
    from theano.gof import cmodule

    from lasagne_style.compat import compiling
    keys = {name: fake_module(tmp_path, name)
            for name in ("tmpa", "tmpb", "tmpc")}
    record = compiling.module_record(str(tmp_path))
    with open(record, "w") as f:
        json.dump(["tmpa", "tmpc"], f)
    monkeypatch.setattr(cmodule.ModuleCache, "_get_module",
                        lambda self, name: type("M", (), {"__file__": name}))
    return cmodule.ModuleCache(str(tmp_path)), keys


def test_only_the_recorded_modules_keys_are_read_at_first(module_cache):
    cache, keys = module_cache
    assert set(cache.entry_from_key) == {keys["tmpa"], keys["tmpc"]}
    cache.refresh()
    cache.clear_old()  # as at exit: expired modules only, no key read
    assert set(cache.entry_from_key) == {keys["tmpa"], keys["tmpc"]}
    module = cache.module_from_key(keys["tmpa"], SourceOnly("tmpa"))
    assert module.__file__.endswith(os.path.join("tmpa", "mod.so"))
    assert not getattr(cache, "refresh_all", False)


def test_a_key_not_recorded_reads_them_all_and_compiles_nothing(
        module_cache):
    """The module only another program used is found, not compiled again
    (SourceOnly fails if Theano compiles), and the other keys are read."""
    cache, keys = module_cache
    module = cache.module_from_key(keys["tmpb"], SourceOnly("tmpb"))
    assert module.__file__.endswith(os.path.join("tmpb", "mod.so"))
    assert set(cache.entry_from_key) == set(keys.values())


@pytest.mark.parametrize("content", ["{not json", '["../x"]', '[3]'])
def test_a_module_record_that_does_not_parse_reads_no_key_first(
        module_cache, content):
    from theano.gof import cmodule

    from lasagne_style.compat import compiling
    cache, keys = module_cache
    with open(compiling.module_record(cache.dirname), "w") as f:
        f.write(content)
    fresh = cmodule.ModuleCache(cache.dirname)
    assert fresh.entry_from_key == {}
    module = fresh.module_from_key(keys["tmpc"], SourceOnly("tmpc"))
    assert module.__file__.endswith(os.path.join("tmpc", "mod.so"))


def test_the_modules_used_in_the_context_are_added_to_the_record(
        module_cache):
    from lasagne_style.compat import compiling
    cache, keys = module_cache
    cache.module_from_key(keys["tmpa"], SourceOnly("tmpa"))  # not recorded
    with compiling.remembered_modules():
        cache.module_from_key(keys["tmpb"], SourceOnly("tmpb"))
        with compiling.remembered_modules():  # nested: one record
            cache.module_from_key(keys["tmpc"], SourceOnly("tmpc"))
    with open(compiling.module_record(cache.dirname)) as f:
        assert json.load(f) == ["tmpa", "tmpb", "tmpc"]
    with compiling.remembered_modules():  # nothing new: not written
        cache.module_from_key(keys["tmpb"], SourceOnly("tmpb"))
    os.rename(os.path.join(cache.dirname, "tmpa"),
              os.path.join(cache.dirname, "gone"))
    new = fake_module(pathlib.Path(cache.dirname), "tmpd")
    with compiling.remembered_modules():  # gone directories are dropped
        cache.module_from_key(new, SourceOnly("tmpd"))
    with open(compiling.module_record(cache.dirname)) as f:
        assert json.load(f) == ["tmpb", "tmpc", "tmpd"]


DEFERRED_SCRIPT = """
import sys
import numpy as np
import lasagne_style.api  # imports Theano and Lasagne
loaded = type(sys.modules["scipy.stats"]).__name__ != "_LazyModule"
print("signal" if "scipy.signal" in sys.modules else "-",
      "stats" if loaded else "-")
import theano
import theano.tensor as T
from theano.tensor.nnet import conv
x, w, v = T.tensor4(), T.tensor4(), T.vector()
f = theano.function([x, w, v], [conv.conv2d(x, w), T.chi2sf(v, 2)],
                    mode="FAST_COMPILE")  # Python code: scipy's functions
a = np.arange(30, dtype="float32").reshape(1, 1, 5, 6)
b = np.array([[[[1, 2, 0], [0, -1, 3], [2, 0, 1]]]], "float32")
y, p = f(a, b, np.array([1.0, 3.0], "float32"))
print(y.ravel().tolist(), p.tolist())
"""


def test_scipy_modules_for_theano_fallbacks_load_when_first_used():
    out = subprocess.run([sys.executable, "-c", DEFERRED_SCRIPT],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, LASAGNE_STYLE_STARTUP="0")
                         ).stdout.splitlines()
    assert out[0] == "- -"  # neither loaded with Theano
    conved, p = map(json.loads, out[1].replace("] [", "]\n[").split("\n"))
    a = np.arange(30, dtype=np.float64).reshape(5, 6)
    k = np.array([[1, 2, 0], [0, -1, 3], [2, 0, 1]], np.float64)[::-1, ::-1]
    expected = [sum(a[i + u, j + v] * k[u, v] for u in range(3)
                    for v in range(3)) for i in range(3) for j in range(4)]
    assert conved == pytest.approx(expected)
    # chi-square survival function, 2 degrees of freedom: exp(-x / 2)
    assert p == pytest.approx(np.exp([-0.5, -1.5]), rel=1e-6)


def test_a_failed_theano_import_stops_the_deferral(monkeypatch):
    class Failing:
        def exec_module(self, module):
            raise ImportError("theano is broken")

    monkeypatch.setitem(compat._state, "loading_theano", True)
    loader = compat._PatchingLoader(Failing(), patch=lambda: None)
    with pytest.raises(ImportError, match="broken"):
        loader.exec_module(None)
    assert compat._state["loading_theano"] is False
    # scipy.signal is found again, not refused
    assert compat.ImportHook().find_spec("scipy.signal") is None
