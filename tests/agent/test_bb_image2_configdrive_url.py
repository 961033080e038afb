"""A config drive URL serving the ISO itself (binary), plain or gzipped."""

import base64
import binascii
import gzip
import itertools

import pytest

from hwdrivers.agent import configdrive
from hwdrivers.agent import fetch
from hwdrivers.drivers.modules import configdrive as builder
from tests.agent.servers import ImageServer


def iso_a_lenient_base64_decode_accepts():
    """A real config drive ISO whose bytes also "decode" as base64 when
    non-alphabet bytes are skipped (about half of them do)."""
    for n in itertools.count():
        iso = builder.build_iso({"meta_data": {"uuid": "node-%d" % n, "hostname": "web%d" % n}})
        try:
            base64.b64decode(iso, validate=False)
            return iso
        except (binascii.Error, ValueError):
            continue


@pytest.fixture(scope="module")
def server():
    with ImageServer() as running:
        yield running


def test_a_binary_iso_behind_a_url_is_taken_as_is(server):
    iso = iso_a_lenient_base64_decode_accepts()
    url = server.add("web1.iso", data=iso)
    assert configdrive.decode(url, fetch.HTTPOptions(timeout=10)) == iso


def test_a_gzipped_iso_behind_a_url_is_unzipped(server):
    iso = builder.build_iso({"meta_data": {"uuid": "node-1"}})
    url = server.add("web1.iso.gz", data=gzip.compress(iso))
    assert configdrive.decode(url, fetch.HTTPOptions(timeout=10)) == iso


def test_base64_with_line_breaks_still_decodes(server):
    iso = builder.build_iso({"meta_data": {"uuid": "node-1"}})
    wrapped = base64.encodebytes(gzip.compress(iso))  # 76-column lines, as base64(1) writes
    url = server.add("web1.b64", data=wrapped)
    assert configdrive.decode(url, fetch.HTTPOptions(timeout=10)) == iso
