"""Which root device hints a lookup gives: a deploy's own before the node's.

Ironic's lookup returns the node's ``instance_info`` as well as its
``properties``, and IPA takes ``instance_info.root_device`` (set for one
deploy) over ``properties.root_device``. The agent read only the
properties: the image went to the disk the node's hints named, not the
one the deploy asked for, and the other disk was overwritten.
"""

from hwdrivers.agent import agent as agent_mod
from hwdrivers.agent import cmd
from tests.agent import servers

MAC = "52:54:00:aa:bb:02"
TOKEN = "t" * 40


def _looked_up(conductor, *flags):
    conf = cmd.make_config(cmd.build_parser().parse_args(
        ["--api-url", conductor.url, "--mac", MAC, "--lookup-timeout", "5", *flags]))
    agent = agent_mod.Agent(conf)
    agent.process_lookup(agent.lookup())
    return agent


def test_instance_info_hints_win_over_the_node_properties():
    with servers.FakeConductor() as conductor:
        conductor.add_node(MAC, "node-1", TOKEN, properties={"root_device": {"serial": "S1"}},
                           instance_info={"root_device": {"serial": "S2"}})
        assert _looked_up(conductor).root_device_hints == {"serial": "S2"}


def test_the_node_properties_serve_when_the_deploy_names_none():
    with servers.FakeConductor() as conductor:
        conductor.add_node(MAC, "node-1", TOKEN, properties={"root_device": {"serial": "S1"}},
                           instance_info={"image_source": "http://images/disk.raw"})
        assert _looked_up(conductor).root_device_hints == {"serial": "S1"}


def test_the_command_line_hints_win_over_both():
    with servers.FakeConductor() as conductor:
        conductor.add_node(MAC, "node-1", TOKEN, properties={"root_device": {"serial": "S1"}},
                           instance_info={"root_device": {"serial": "S2"}})
        agent = _looked_up(conductor, "--root-device-hints", '{"name": "sdc"}')
        assert agent.root_device_hints == {"name": "sdc"}
