"""[snmp] options: a section moved from Ironic keeps its UDP tuning.

Ironic names the per-request timeout and resends ``udp_transport_timeout``
and ``udp_transport_retries``; hwdrivers ignored them without a word, so a
slow PDU tuned for in Ironic got 1 s and 2 resends again (the console's
``socat_address`` is read the same way).
"""

from oslo_config import cfg

from hwdrivers.conf import snmp as snmp_conf


def _read(tmp_path, text):
    path = tmp_path / "hwdrivers.conf"
    path.write_text(text)
    conf = cfg.ConfigOpts()
    snmp_conf.register_opts(conf)
    conf(args=["--config-file", str(path)], project="hwdrivers-test",
         default_config_files=[], default_config_dirs=[])
    return conf


def test_ironic_udp_transport_options_set_timeout_and_retries(tmp_path):
    conf = _read(tmp_path, "[snmp]\nudp_transport_timeout = 0.5\nudp_transport_retries = 4\n")
    assert (conf.snmp.timeout, conf.snmp.retries) == (0.5, 4)


def test_hwdrivers_names_win_and_defaults_stay(tmp_path):
    conf = _read(tmp_path, "[snmp]\ntimeout = 0.7\nudp_transport_timeout = 0.5\n")
    assert (conf.snmp.timeout, conf.snmp.retries) == (0.7, 2)
