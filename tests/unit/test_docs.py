"""Docs check: what README.md and doc/ promise is checked against the code.

Every relative link resolves to a file in the repository (a link to a
document outside it, like a design note next to the checkout, is a broken
link for whoever clones it); writing-a-driver.md's PowerState table and
parse_driver_info description match the code; the README's one-shot
example runs as written with its sample file, doc/examples/bmc.json.
"""

import ast
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from hwdrivers.common.states import PowerState
from hwdrivers.drivers import params

ROOT = pathlib.Path(__file__).resolve().parents[2]
HWDRIVERS = os.path.join(os.path.dirname(sys.executable), "hwdrivers")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
#: A document named in code font (`../shared/DESIGN.md`) is a link too.
NAMED_DOC = re.compile(r"`([\w./-]*/[\w.-]+\.md)`")
WRITING = ROOT / "doc" / "writing-a-driver.md"


def documents():
    docs = [ROOT / "README.md"] + sorted((ROOT / "doc").rglob("*.md"))
    return [d for d in docs if "build" not in d.relative_to(ROOT).parts
            and ".egg-info" not in str(d)]


def relative_links(path):
    text = path.read_text()
    for target in LINK.findall(text) + NAMED_DOC.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        yield target


@pytest.mark.parametrize("doc", documents(), ids=lambda d: str(d.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(doc):
    broken = []
    for target in relative_links(doc):
        path = target.split("#", 1)[0]
        # Relative to the page, or (for names in code font) to the repository.
        candidates = [(base / path).resolve() for base in (doc.parent, ROOT)]
        if not any(c.exists() and ROOT in (c, *c.parents) for c in candidates):
            broken.append(target)
    assert not broken, "%s links to what a clone does not have: %s" % (
        doc.relative_to(ROOT), ", ".join(broken))


def test_the_link_check_sees_a_link_outside_the_repository(tmp_path):
    page = ROOT / "doc" / "architecture.md"
    assert "../shared/DESIGN.md" not in page.read_text()
    sample = tmp_path / "page.md"
    sample.write_text("See [the design](../shared/DESIGN.md), [home](https://x.org) "
                      "and `../shared/NOTES.md`.")
    assert list(relative_links(sample)) == ["../shared/DESIGN.md", "../shared/NOTES.md"]


def test_power_state_table_lists_every_member_with_its_value():
    rows = re.findall(r"^\| `PowerState\.(\w+)` \| `\"([^\"]+)\"` \|", WRITING.read_text(),
                      re.MULTILINE)
    assert dict(rows) == {member.name: member.value for member in PowerState}
    text = WRITING.read_text()
    assert "PowerState.REBOOT.resting is PowerState.ON" in text
    assert PowerState.REBOOT.resting is PowerState.ON
    for word in ("on", "off", "reboot", "soft-off", "soft-reboot"):  # "the CLI's words"
        assert "`%s`" % word in text
        PowerState.parse(word)


def test_parse_driver_info_is_what_the_page_says():
    sys.path.insert(0, str(ROOT / "doc" / "examples" / "hwdrivers-gpio"))
    try:
        from hwdrivers_gpio import power
    finally:
        sys.path.pop(0)
    text = WRITING.read_text()
    example = ast.literal_eval(re.search(r"gives\n`(\{[^`]+\})`", text).group(1))
    schema = power.GPIOPower.driver_info_schema
    given = {"gpio_value_path": example["gpio_value_path"], "not_declared": "x"}
    assert schema.parse(given, check_unknown=False) == example  # default filled, extra left out

    typed = params.Schema(
        params.Param("a", "", type="int"), params.Param("b", "", type="port"),
        params.Param("c", "", type="float"), params.Param("d", "", type="bool"),
        params.Param("e", "", type="choice", choices=("bios", "uefi")),
        params.Param("f", "", type="address"), params.Param("g", "", default="dflt"),
        params.Param("h", ""))
    values = typed.parse({"a": "7", "b": "623", "c": "1.5", "d": "off", "e": "UEFI",
                          "f": "[::1]"})
    assert values == {"a": 7, "b": 623, "c": 1.5, "d": False, "e": "uefi", "f": "::1",
                      "g": "dflt", "h": None}
    for word in ("true", "false", "yes", "no", "1", "0", "on", "off"):
        params.parse_bool(word)


def test_readme_one_shot_example_runs_with_the_sample_file(redfish_single_emulator, tmp_path):
    sample = json.loads((ROOT / "doc" / "examples" / "bmc.json").read_text())
    assert set(sample) == {"redfish_address", "redfish_username", "redfish_password"}
    readme = (ROOT / "README.md").read_text()
    assert "(doc/examples/bmc.json)" in readme
    (command,) = [line for line in readme.splitlines()
                  if line.startswith("hwdrivers power status") and "bmc.json" in line]
    bmc = tmp_path / "bmc.json"  # the sample, edited as the README says
    bmc.write_text(json.dumps({"redfish_address": redfish_single_emulator.url,
                               "redfish_username": redfish_single_emulator.username,
                               "redfish_password": redfish_single_emulator.password}))
    argv = shlex.split(command)
    argv = [HWDRIVERS] + [str(bmc) if arg == "bmc.json" else arg for arg in argv[1:]]
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text("[redfish]\ncommand_retry_timeout = 5\n")
    result = subprocess.run(argv[:1] + ["--config-file", str(conf), "-f", "json"] + argv[1:],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, HOME=str(tmp_path),
                                     HWDRIVERS_STATE_PATH=str(tmp_path / "state")))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"power_state": "power off"}
