"""A driver author's path, from the doc alone: write a package, install it with
hwdrivers[testing] into a fresh virtualenv, run its tests against our emulators
and the conformance checks.

The package's files are the ``<!-- file: ... -->`` blocks of
doc/writing-a-driver.md, written out as they stand; the example package in
doc/examples/hwdrivers-gpio goes into the same virtualenv and runs its own
conformance tests. To stay offline and fast, the virtualenv sees this
environment's packages through a ``.pth`` file (hwdrivers and what its
``testing`` extra names are therefore already installed), and pip installs
the packages with ``--no-index --no-build-isolation``: pip still resolves
``hwdrivers[testing]`` from each package's requirements, and fails if any of
it were missing.
"""

import os
import pathlib
import re
import subprocess
import sys
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "doc" / "writing-a-driver.md"
GPIO = ROOT / "doc" / "examples" / "hwdrivers-gpio"
FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.S)


def doc_files():
    """``{relative path: text}`` of every file the page spells out."""
    return dict(FILE_BLOCK.findall(DOC.read_text()))


def run(argv, cwd, timeout=300):
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    return subprocess.run(argv, cwd=str(cwd), capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtualenv (no pip of its own) seeing this environment's packages."""
    path = tmp_path_factory.mktemp("author-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                   "['purelib'])"], path).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    pathlib.Path(purelib, "_hwdrivers_dev.pth").write_text(
        "import site; site.addsitedir(%r)\n" % ours)
    return python


def install(python, package, cwd):
    result = run([str(python), "-m", "pip", "install", "--no-index", "--no-build-isolation",
                  "--quiet", "%s[test]" % package], cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = run([str(python), "-m", "pip", "show", "-f", pathlib.Path(package).name], cwd)
    assert str(python.parent.parent) in shown.stdout, shown.stdout  # in the new venv


def test_the_doc_spells_out_a_whole_package():
    files = doc_files()
    assert {"hwdrivers-minirf/setup.cfg", "hwdrivers-minirf/hwdrivers_minirf/power.py",
            "hwdrivers-minirf/tests/test_power.py"} <= set(files)
    assert "hwdrivers[testing]" in files["hwdrivers-minirf/setup.cfg"]


def test_a_fresh_package_passes_its_tests_from_the_doc(venv, tmp_path):
    for name, text in doc_files().items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    package = tmp_path / "hwdrivers-minirf"
    install(venv, str(package), tmp_path)
    result = run([str(venv), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                 package)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout, result.stdout[-2000:]


def test_the_example_package_passes_its_own_conformance_tests(venv, tmp_path):
    # Built from a copy: pip must not leave build/ or egg-info in the doc tree.
    copy = tmp_path / "hwdrivers-gpio"
    subprocess.run(["cp", "-r", str(GPIO), str(copy)], check=True)
    for junk in ("build", "hwdrivers_gpio.egg-info"):
        subprocess.run(["rm", "-rf", str(copy / junk)], check=True)
    install(venv, str(copy), tmp_path)
    result = run([str(venv), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], copy)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "7 passed" in result.stdout, result.stdout[-2000:]
