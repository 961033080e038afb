"""etc/hwdrivers/hwdrivers.conf.sample must list every option as it is now."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sample_config_is_current(tmp_path):
    out = tmp_path / "hwdrivers.conf.sample"
    generator = os.path.join(os.path.dirname(sys.executable), "oslo-config-generator")
    subprocess.run([generator, "--config-file",
                    os.path.join(ROOT, "etc", "hwdrivers", "hwdrivers-config-generator.conf"),
                    "--output-file", str(out)], check=True, timeout=120, cwd=ROOT)
    with open(os.path.join(ROOT, "etc", "hwdrivers", "hwdrivers.conf.sample")) as handle:
        committed = handle.read()
    assert out.read_text() == committed, "stale sample: run tox -e genconfig"
