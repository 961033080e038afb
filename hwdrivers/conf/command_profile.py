"""[command_profile:<name>]: the commands of the command driver, defined by the operator.

Whoever may create or edit a node must not choose what the conductor runs,
so commands live here, in the conductor's configuration: one group per
profile (``[command_profile:libvirt]``), its templates and where they run.
A node selects a profile with driver_info ``command_profile`` and supplies
only the values of its placeholders. Profiles are discovered from the
sections of the parsed configuration files; each one found gets these
options registered under its group. Tests (and embedding programs) add
profiles with :func:`register_profile`.

oslo.config substitutes ``$name`` in values with other options, so a shell
``$`` in a template is written ``$$`` (or ``\\$``).

The sample configuration does not list these groups (a section copied from
it would define a profile); doc/drivers/command.md lists every option.
"""

import re

from oslo_config import cfg

from hwdrivers.conf import finite

PREFIX = "command_profile:"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

#: Profiles added by :func:`register_profile` rather than a config file.
_registered = set()
#: (id(conf), profile) whose group is registered.
_groups = set()

opts = [
    cfg.StrOpt("power_on",
               help="Command that powers the node on: a template with {name}, {uuid} "
                    "and placeholders whose values each node supplies in its "
                    "driver_info (e.g. virsh start {vm}). Required."),
    cfg.StrOpt("power_off", help="Command that powers the node off (a template). "
                                 "Required."),
    cfg.StrOpt("power_status",
               help="Command that reports the power state (a template); unset: the "
                    "state is the last one this driver set."),
    cfg.StrOpt("reboot",
               help="Command that power cycles the node (a template); unset: power "
                    "off, wait reboot_delay, power on."),
    finite.FloatOpt("reboot_delay", default=5.0, min=0, max=3600,
                    help="Seconds between off and on when rebooting without reboot "
                         "(at most an hour: the node stays locked meanwhile)."),
    cfg.StrOpt("status_on_pattern", default=r"^\s*on\s*$",
               help="Regular expression (searched, case-insensitive, ^ and $ match at "
                    "each line) whose match in the status output means on."),
    cfg.StrOpt("status_off_pattern", default=r"^\s*off\s*$",
               help="Regular expression whose match in the status output means off "
                    "(tried after the on pattern; '.*' makes any other output off)."),
    cfg.IntOpt("status_on_exit_code", min=0, max=254,
               help="Read the state from the status command's exit code instead of "
                    "its output: this code means on."),
    cfg.IntOpt("status_off_exit_code", min=0, max=254,
               help="With status_on_exit_code: this code means off (unset: any other "
                    "code but 126, 127, 255 and those of a command killed by a signal, "
                    "above 128)."),
    cfg.StrOpt("host",
               help="Host the commands run on, over SSH. Unset: the conductor host, "
                    "which [command] allow_local_commands must allow."),
    cfg.PortOpt("port", default=22, help="SSH port of host."),
    cfg.StrOpt("user", help="SSH user on host (unset: the conductor's user)."),
    cfg.StrOpt("ssh_key", help="Path of the SSH private key on the conductor host "
                               "(unset: ssh's default keys)."),
    cfg.StrOpt("known_hosts",
               help="Path of the known_hosts file holding host's key; host keys are "
                    "always checked (unset: ~/.ssh/known_hosts)."),
    finite.FloatOpt("timeout", min=0.1,
                    help="Seconds one command may run before it is killed with everything "
                         "it started (unset: [command] command_timeout)."),
    cfg.StrOpt("console",
               help="Command whose standard input and output are the node's serial "
                    "console (a template, e.g. virsh console --force {vm}), for the "
                    "command console interface; it runs as long as the console is "
                    "enabled (no timeout). Unset: the profile has no console."),
]

OPTION_NAMES = tuple(opt.dest for opt in opts)


def group_name(profile):
    return PREFIX + profile


def register_group(conf, profile):
    """Register (once) the options of ``profile``; return its group.

    Registering clears oslo.config's whole value cache, so it is done once
    per profile and process, not on every use.
    """
    name = group_name(profile)
    if (id(conf), profile) not in _groups:
        conf.register_group(cfg.OptGroup(name, help="Command profile %s." % profile))
        conf.register_opts(opts, group=name)
        _groups.add((id(conf), profile))
    return getattr(conf, name)


def profile_names(conf=cfg.CONF):
    """Every profile defined: sections of the parsed files, and registered ones."""
    found = {section[len(PREFIX):] for section in conf.list_all_sections()
             if section.startswith(PREFIX)}
    return sorted(found | _registered)


def file_options(conf, profile):
    """Option names the parsed configuration files set in ``profile``'s section.

    oslo.config ignores options nobody registered, so a misspelt
    ``power_stauts`` would silently leave the status command unset; the
    caller compares these names with :data:`OPTION_NAMES`.
    """
    section = group_name(profile)
    names = set()
    namespace = getattr(conf, "_namespace", None)
    for parsed in getattr(namespace, "_parsed", None) or ():
        names.update(parsed.get(section, {}))
    return names


def register_profile(conf, profile, **values):
    """Define (or redefine) ``profile`` without a file: ``values`` become overrides.

    For tests and programs that embed hwdrivers. ``$`` is written ``$$`` as
    in a file. :func:`forget_registered` (the tests' config fixture calls it)
    drops the definitions again.
    """
    if not NAME.match(profile):
        raise ValueError("command profile name %r: use letters, digits and ._-" % profile)
    unknown = sorted(set(values) - set(OPTION_NAMES))
    if unknown:
        raise ValueError("command profile options %s do not exist; known: %s"
                         % (", ".join(unknown), ", ".join(OPTION_NAMES)))
    register_group(conf, profile)
    for key in OPTION_NAMES:  # a new definition replaces the old one whole
        if key in values:
            conf.set_override(key, values[key], group=group_name(profile))
        else:
            conf.clear_override(key, group=group_name(profile))
    _registered.add(profile)


def forget_registered(conf=cfg.CONF):
    """Undo every :func:`register_profile` (their groups stay registered, unset)."""
    for profile in list(_registered):
        for key in OPTION_NAMES:
            conf.clear_override(key, group=group_name(profile))
    _registered.clear()

