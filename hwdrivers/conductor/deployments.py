"""Step-driven deploys: run deploy steps, wait for the agent without the lock, resume.

A deploy interface that declares ``step_driven`` (``direct``) is run here:
its deploy steps (and every other interface's with priority > 0), highest
priority first. A step returning ``wait call-back`` ends the worker: the
node waits in that state **with its lock released** (as Ironic does), and
the agent's next heartbeat (api/ramdisk.py -> :func:`heartbeat`) takes the
lock again, records the agent's URL, and hands the rest to a worker
(:func:`resume`): after the ramdisk booted, the next step; while an agent
command runs, nothing; when it ended, its outcome and the next steps.

Where the deploy is, is in ``driver_internal_info``: ``deploy_steps`` (the
plan), ``deploy_step_index``, ``deploy_step_started_at``, ``wait_started_at``
and the agent's ``agent_url``, ``agent_secret_token`` (a secret: masked in
every output), ``agent_last_heartbeat``, ``agent_command``.

:func:`check_timeouts` is a periodic of the conductor service: a node in
``wait call-back`` past ``[deploy] callback_timeout`` since its last sign of
life, or past ``[deploy] image_download_timeout`` in ``write_image``, is
powered off and fails, ``last_error`` naming the step that timed out (a
node in maintenance is left alone: its heartbeats are recorded but drive
nothing until it leaves maintenance, as in Ironic). It
also powers off, and removes the boot files of, a deploy a conductor
restart failed in ``deploying`` (:func:`tidy_orphans`).

With several conductors both act only on the nodes this conductor owns on
its group's hash ring (``owns``, given by conductor/service.py, as the power
sync's): every conductor reads the same rows, and without it each one timed
out, locked and powered off every node, including those another conductor
drives.
"""

import hmac
import logging
import secrets
import time

from oslo_config import cfg

from hwdrivers.common import exception
from hwdrivers.common import states
from hwdrivers.common.states import PowerState
from hwdrivers.common.states import ProvisionState
from hwdrivers.conductor import controllers
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import agent_client

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

TOKEN_KEY = "agent_secret_token"
#: What a second lookup gets instead of the token (Ironic's answer)
TOKEN_ALREADY_GIVEN = "******"
#: internal keys of one deploy, dropped when it ends
STEP_KEYS = ("deploy_steps", "deploy_step_index", "deploy_step_started_at",
             "wait_started_at")
AGENT_KEYS = ("agent_url", TOKEN_KEY, "agent_last_heartbeat", "agent_version",
              "agent_command", "agent_verify_ca")
#: seconds an agent's call waits for a node busy with another task
AGENT_LOCK_WAIT = 2.0
#: states a lookup may find a node in: waiting, or still finishing the step that
#: booted the ramdisk (the lookup then waits for the lock, briefly)
_LOOKUP_STATES = (ProvisionState.DEPLOYWAIT.value, ProvisionState.DEPLOYING.value)


class StepFailed(exception.HWDriversError):
    fmt = "deploy step %(interface)s.%(step)s: %(error)s"


class AgentTokenInvalid(exception.HWDriversError):
    code = 401
    fmt = "Node %(node)s: invalid or missing agent token; the heartbeat is refused."


class NotWaitingForAgent(exception.Conflict):
    fmt = ("Node %(node)s is in provision state %(state)r and is not waiting for an "
           "agent; the %(call)s is refused.")


def is_step_driven(task) -> bool:
    return bool(getattr(task.driver.deploy, "step_driven", False))


def prepare_task(task) -> None:
    """Give the drivers what a deploy needs: the node's ports and the controller gate."""
    task.ports = db_api.list_ports(node_id=task.node.id)
    task.gate = controllers.LIMITER.slot


def _call(task, interface, func, *args):
    return retry.run(task, interface, func, *args, gate=controllers.LIMITER.slot)


def _internal(task) -> dict:
    return dict(task.node.driver_internal_info or {})


def _set_state(task, state, target=None) -> None:
    task.node.provision_state = ProvisionState(state).value
    task.node.target_provision_state = target.value if target is not None else None
    task.save()


def deploy_steps(task) -> list[dict]:
    """Deploy steps with priority > 0 of every interface, highest first; a tie by interface
    (:data:`states.STEP_INTERFACE_PRIORITY`), as Ironic orders them."""
    steps = []
    for iface in task.driver.interfaces.values():
        steps.extend({"interface": s["interface"], "step": s["step"],
                      "priority": s["priority"]}
                     for s in iface.get_deploy_steps(task) if s["priority"] > 0)
    return sorted(steps, key=states.step_order)


# -- running steps ---------------------------------------------------------------------

def start(task) -> None:
    """A step-driven deploy from its first step (in a worker, holding the lock)."""
    prepare_task(task)
    base.update_internal_info(task, deploy_steps=deploy_steps(task), deploy_step_index=None,
            deploy_step_started_at=None, wait_started_at=None,
            **{key: None for key in AGENT_KEYS})
    run_steps(task, 0)


def run_steps(task, first: int) -> None:
    """Run the plan from step ``first``; stop at a wait, or finish in ``active``."""
    steps = _internal(task).get("deploy_steps") or []
    for index in range(first, len(steps)):
        step = steps[index]
        base.update_internal_info(task, deploy_step_index=index, deploy_step_started_at=time.time(),
                wait_started_at=None)
        _set_state(task, ProvisionState.DEPLOYING, ProvisionState.ACTIVE)
        task.logger.info("deploy step %s.%s (priority %d)", step["interface"],
                         step["step"], step["priority"])
        iface = task.driver.interfaces[step["interface"]]
        try:
            result = _call(task, iface, iface.execute_deploy_step, dict(step))
        except Exception as exc:
            raise StepFailed(interface=step["interface"], step=step["step"],
                             error=exc) from exc
        if result == ProvisionState.DEPLOYWAIT.value:
            base.update_internal_info(task, wait_started_at=time.time())
            _set_state(task, ProvisionState.DEPLOYWAIT, ProvisionState.ACTIVE)
            return
    base.update_internal_info(task, **{key: None for key in STEP_KEYS + AGENT_KEYS})
    task.node.last_error = None
    _set_state(task, ProvisionState.ACTIVE)
    task.logger.info("deployed")


def current_step(task) -> dict | None:
    info = _internal(task)
    index = info.get("deploy_step_index")
    steps = info.get("deploy_steps") or []
    if index is None or not 0 <= index < len(steps):
        return None
    return steps[index]


def fail(task, message: str, power_off: bool = True) -> None:
    """The deploy failed: ``deploy failed``, ``last_error``, ramdisk files gone, node off.

    Powering off stops an agent mid-write and keeps a half-written disk from
    being booted; the agent itself leaves a disk it failed to write unbootable.
    """
    node = task.node
    node.provision_state = ProvisionState.DEPLOYFAIL.value
    node.target_provision_state = None
    node.last_error = message
    base.update_internal_info(task, **{key: None for key in STEP_KEYS + AGENT_KEYS})
    task.save()
    task.logger.error("deploy failed: %s", message)
    if not getattr(task, "ports", None):
        prepare_task(task)
    try:
        _call(task, task.driver.boot, task.driver.boot.clean_up_ramdisk)
    except Exception as exc:
        task.logger.warning("removing the ramdisk boot files failed: %s", exc)
    if power_off:
        try:
            node.power_state = actions.set_power_state(
                task, PowerState.OFF, gate=controllers.LIMITER.slot).value
        except Exception as exc:
            node.last_error = "%s (powering the node off failed too: %s)" % (message, exc)
        task.save()


def _failure_text(exc: Exception) -> str:
    return "deploy failed in provision state deploying: %s" % exc


# -- the agent's calls -----------------------------------------------------------------

def _node_for(addresses: list[str], node_uuid: str | None) -> dict:
    """The node a lookup names: by ``node_uuid`` (which the boot script put on the
    kernel line) when given, checked against the MAC addresses sent with it;
    else by the first address that is one of a node's ports."""
    if node_uuid:
        record = db_api.get_node(node_uuid)
        ports = {p["address"] for p in db_api.list_ports(node_id=record["id"])}
        sent = set()
        for address in addresses:
            try:
                sent.add(db_api.normalize_mac(address))
            except exception.HWDriversError:
                continue
        if ports and sent and not ports & sent:
            raise exception.NotFound(
                "Node %s has no port with MAC address %s; lookup is refused."
                % (node_uuid, ", ".join(addresses)))
        return record
    unknown = []
    for address in addresses:
        try:
            port = db_api.get_port(db_api.normalize_mac(address))
        except exception.HWDriversError:
            unknown.append(address)
            continue
        return db_api.get_node(port["node_id"])
    raise exception.NotFound(
        "No node has a port with MAC address %s; enroll the machine's ports (POST "
        "/v1/ports) before deploying." % ", ".join(unknown or addresses))


#: Key names a lookup masks at any depth, as Ironic's node_sanitize does for a
#: caller without the show_password / show_instance_secrets policies (the
#: ramdisk has no credentials): the generic words of oslo.utils'
#: mask_dict_password list.
LOOKUP_SECRET_WORDS = ("password", "adminpass", "admin_pass", "new_pass", "passphrase",
                       "token", "secret", "private_key", "encrypted_key", "sslkey",
                       "configdrive")
#: node field -> top-level keys a lookup masks whatever their name: Ironic hides
#: ``configdrive`` (user data, maybe a dict) and ``image_url`` (it may be a
#: temporary URL that grants access to the image) from the ramdisk too
LOOKUP_MASKED_VALUES = {"instance_info": ("configdrive", "image_url"),
                        "driver_internal_info": ()}


def lookup_view(values, masked_keys=()):
    """``values`` (a node's dict field) as a lookup may show it to the ramdisk.

    The agent reads its deploy's ``instance_info.root_device`` from the
    lookup, as IPA does, so the field is returned; what could be a secret is
    masked: the keys above, keys naming a secret at any depth, and the
    password of a ``user:password@`` URL (never shown by any output here).
    """
    def clean(value, key=None):
        if isinstance(key, str) and any(word in key.lower() for word in LOOKUP_SECRET_WORDS):
            return params.MASK if value else value
        if isinstance(value, dict):
            return {k: clean(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return params.without_password(value)
    shown = clean(dict(values or {}))
    for key in masked_keys:
        if shown.get(key):
            shown[key] = params.MASK
    return shown


def lookup(context, addresses: list[str], node_uuid: str | None = None) -> dict:
    """IPA's lookup: the node waiting for an agent, and a one-time agent token.

    Only a node in ``wait call-back`` whose ramdisk was just booted (no agent
    has claimed it since) gets a token; a second claim gets ``******`` and
    cannot heartbeat or be sent commands. Other nodes are not found.
    """
    record = _node_for(addresses, node_uuid)
    ident = record.get("name") or record["uuid"]
    if record["provision_state"] not in _LOOKUP_STATES:
        raise exception.NotFound(
            "Node %s is in provision state %r, not waiting for an agent; lookup is "
            "refused." % (ident, record["provision_state"]))
    with task_manager.acquire(context, record["uuid"], purpose="agent lookup",
                              lock_timeout=AGENT_LOCK_WAIT) as task:
        if task.node.provision_state != ProvisionState.DEPLOYWAIT.value:
            raise NotWaitingForAgent(node=ident, state=task.node.provision_state,
                                     call="lookup")
        if _internal(task).get(TOKEN_KEY):
            token = TOKEN_ALREADY_GIVEN
            task.logger.warning("lookup from %s: the agent token was already handed out; "
                                "a second agent is refused", ", ".join(addresses))
        else:
            token = secrets.token_urlsafe(32)
            base.update_internal_info(task, **{TOKEN_KEY: token})
            task.save()
            task.logger.info("lookup: agent token handed out")
        node = task.node
        return {"node": {"uuid": node.uuid, "name": node.name,
                         "properties": node.properties or {},
                         "instance_info": lookup_view(node.instance_info,
                                                      LOOKUP_MASKED_VALUES["instance_info"]),
                         "driver_internal_info": lookup_view(
                             node.driver_internal_info,
                             LOOKUP_MASKED_VALUES["driver_internal_info"]),
                         "provision_state": node.provision_state},
                "config": {"heartbeat_timeout": CONF.deploy.heartbeat_timeout,
                           "agent_token": token, "agent_token_required": True,
                           "agent_md5_checksum_enable": False}}


def heartbeat(manager, context, ident: str, callback_url: str, token: str | None,
              agent_version: str | None = None, agent_verify_ca: str | None = None) -> None:
    """The agent is alive at ``callback_url``; continue the deploy in a worker.

    ``agent_verify_ca``: the certificate an https agent serves with (IPA's
    automatic TLS), which its commands are verified against from then on.
    """
    with task_manager.acquire(context, ident, purpose="agent heartbeat",
                              lock_timeout=AGENT_LOCK_WAIT) as task:
        node = task.node
        expected = _internal(task).get(TOKEN_KEY)
        if not token or not expected or not hmac.compare_digest(
                str(token).encode(), str(expected).encode()):
            raise AgentTokenInvalid(node=node.ident)
        if node.provision_state != ProvisionState.DEPLOYWAIT.value:
            raise NotWaitingForAgent(node=node.ident, state=node.provision_state,
                                     call="heartbeat")
        _check_same_agent(task, callback_url)
        _check_same_certificate(task, agent_verify_ca)
        base.update_internal_info(task, agent_url=callback_url, agent_last_heartbeat=time.time(),
                agent_version=agent_version,
                agent_verify_ca=agent_verify_ca or _internal(task).get("agent_verify_ca"))
        task.save()
        if node.maintenance:
            # As Ironic: a node in maintenance is not driven (no agent command, no
            # power action); the deploy goes on at the first heartbeat after it.
            task.logger.info("heartbeat in maintenance: the deploy waits until the node "
                             "leaves maintenance")
            return
        if manager.workers is None:
            resume(task)
            return
        task.spawn_after(manager.workers.submit, resume, task)


class CallbackURLChanged(exception.Invalid):
    fmt = ("Node %(node)s: the heartbeat's callback_url differs from the agent's first one; "
           "an agent keeps its URL until the node boots into the ramdisk again, so the "
           "heartbeat is refused.")


def _check_same_agent(task, callback_url: str) -> None:
    """Refuse a heartbeat that would move the agent's URL mid-deploy, as Ironic does.

    The conductor sends the agent the image URL and the config drive (user
    data, perhaps secrets): a heartbeat holding the token but naming
    another URL would send the next command, and its data, elsewhere.
    The URL is forgotten whenever the ramdisk boots again (a new deploy).
    """
    known = _internal(task).get("agent_url")
    if known and known != callback_url:
        LOG.error("node %s: heartbeat with callback URL %s, but the agent called back "
                  "from %s; refused", task.node.ident,
                  params.without_password(callback_url), params.without_password(known))
        raise CallbackURLChanged(node=task.node.ident)


class AgentCertificateChanged(exception.Invalid):
    fmt = ("Node %(node)s: the heartbeat's agent_verify_ca differs from the certificate the "
           "agent first sent; it is kept until the node boots into the ramdisk again, so the "
           "heartbeat is refused.")


def _check_same_certificate(task, pem: str | None) -> None:
    """Refuse a heartbeat that would swap the agent's certificate, as Ironic does.

    Only the agent holding the first certificate's key is talked to: a
    token holder could otherwise have the conductor trust a certificate of
    its own for the agent's URL.
    """
    known = _internal(task).get("agent_verify_ca")
    if pem and known and known.strip() != pem.strip():
        LOG.error("node %s: heartbeat with another agent_verify_ca than the agent's first; "
                  "refused", task.node.ident)
        raise AgentCertificateChanged(node=task.node.ident)


def resume(task) -> None:
    """After a heartbeat, in a worker holding the lock: continue, poll or fail."""
    node = task.node
    if node.provision_state != ProvisionState.DEPLOYWAIT.value:
        return
    prepare_task(task)
    step = current_step(task)
    index = _internal(task).get("deploy_step_index")
    try:
        if step is None:
            raise exception.HWDriversError(
                "the node waits in wait call-back with no deploy step recorded; "
                "undeploy it and deploy again")
        iface = task.driver.interfaces[step["interface"]]
        command = _internal(task).get("agent_command")
        if command and step["step"] in getattr(iface, "agent_steps", ()):
            client = agent_client.AgentClient(
                _internal(task)["agent_url"], _internal(task)[TOKEN_KEY], node.ident,
                timeout=CONF.deploy.agent_request_timeout,
                verify_ca=_internal(task).get("agent_verify_ca"))
            try:
                result = client.status(command["id"], command.get("name", ""))
            except exception.DriverConnectionError as exc:
                if not _poll_missed(task, exc):
                    return
                raise
            if command.get("poll_failures"):
                base.update_internal_info(task, agent_command=dict(command, poll_failures=0))
                task.save()
            if result.get("command_status") == agent_client.RUNNING:
                return
            try:
                iface.agent_step_done(task, result)
            except Exception as exc:
                raise StepFailed(interface=step["interface"], step=step["step"],
                                 error=exc) from exc
        run_steps(task, index + 1)
    except Exception as exc:
        fail(task, _failure_text(exc))


#: consecutive heartbeats after which an agent command's status that could not be
#: read fails the deploy (Ironic retries the poll too, before failing)
STATUS_POLL_ATTEMPTS = 3


def _poll_missed(task, exc: Exception) -> bool:
    """The agent did not answer a status poll: True when that ends the deploy.

    The agent heartbeats, so it lives and is writing: one lost poll (a
    network blip, an agent too busy to answer within the request timeout)
    must not power the machine off in the middle of the image. The next
    heartbeat polls again; only several missed in a row fail the deploy.
    """
    command = dict(_internal(task).get("agent_command") or {})
    command["poll_failures"] = int(command.get("poll_failures") or 0) + 1
    if command["poll_failures"] >= STATUS_POLL_ATTEMPTS:
        return True
    task.logger.warning("reading the status of the agent's %s failed (%d of %d tries, "
                        "again at its next heartbeat): %s", command.get("name"),
                        command["poll_failures"], STATUS_POLL_ATTEMPTS, exc)
    base.update_internal_info(task, agent_command=command)
    task.save()
    return False


def abort(task) -> None:
    """An operator aborted a deploy waiting in ``wait call-back`` (now deploy failed)."""
    prepare_task(task)
    step = current_step(task)
    message = "deploy aborted by request in wait call-back%s" % (
        " (during deploy step %s.%s)" % (step["interface"], step["step"]) if step else "")
    fail(task, message)


# -- timeouts --------------------------------------------------------------------------

def _timed_out(info: dict, now: float) -> str | None:
    """Why a waiting deploy timed out, or None."""
    steps = info.get("deploy_steps") or []
    index = info.get("deploy_step_index")
    step = steps[index] if index is not None and 0 <= index < len(steps) else None
    name = "%s.%s" % (step["interface"], step["step"]) if step else "unknown"
    last_sign = max(info.get("agent_last_heartbeat") or 0, info.get("wait_started_at") or 0,
                    info.get("deploy_step_started_at") or 0)
    callback = CONF.deploy.callback_timeout
    if last_sign and now - last_sign > callback:
        waited_for = ("the deploy ramdisk to boot and its agent to call back"
                      if not info.get("agent_last_heartbeat") else "the agent's heartbeat")
        return ("timeout in deploy step %s: no callback for %ds while waiting for %s "
                "([deploy] callback_timeout = %ds); the node was powered off"
                % (name, now - last_sign, waited_for, callback))
    command = info.get("agent_command")
    download = CONF.deploy.image_download_timeout
    if command and now - command.get("started_at", now) > download:
        return ("timeout in deploy step %s: the agent's %s ran for %ds ([deploy] "
                "image_download_timeout = %ds); the node was powered off"
                % (name, command.get("name"), now - command["started_at"], download))
    return None


#: appended to the last_error of a deploy a conductor restart failed, once tidied
ORPHAN_TIDIED = ("; its ramdisk boot files were removed, its agent token forgotten and "
                 "the node powered off")


def tidy_orphans(context, owns=None) -> list[str]:
    """Finish the failure of deploys whose worker died with its conductor.

    A conductor killed while a deploy step ran (``deploying``) has its
    leases released and the node moved to ``deploy failed`` on restart (or
    by a surviving conductor), in the database alone: the machine went on
    running the deploy ramdisk, its agent still holding a token, and boot
    files written by the ``deploy`` step would boot it into the ramdisk
    again. Such a node still has the deploy's plan (``deploy_steps``), which
    every other way into ``deploy failed`` clears (:func:`fail`); here it
    gets what :func:`fail` does — once it is out of maintenance, if in it.
    With ``owns`` (``owns(node) -> bool``), only the nodes it accepts.
    Returns the UUIDs tidied.
    """
    tidied = []
    for task in task_manager.each_locked(
            context, ProvisionState.DEPLOYFAIL.value, _has_plan, "deploy clean-up", owns):
        if not is_step_driven(task):
            continue
        prepare_task(task)
        fail(task, (task.node.last_error or "deploy interrupted") + ORPHAN_TIDIED)
        tidied.append(task.node.uuid)
    return tidied


def _has_plan(node) -> bool:
    return bool((node.driver_internal_info or {}).get("deploy_steps"))


def check_timeouts(context=None, owns=None) -> list[str]:
    """Fail and power off the deploys waiting too long; returns their UUIDs.

    Also tidies the deploys a conductor restart failed (:func:`tidy_orphans`).
    With ``owns`` (``owns(node) -> bool``: this conductor's share of the
    nodes), only the nodes it accepts, checked again under the lease.
    """
    from hwdrivers.common import context as hw_context

    context = context or hw_context.get_admin_context()
    tidy_orphans(context, owns)
    failed = []

    def overdue(node):  # paused in maintenance, as Ironic's deploy timeouts skip it
        return _timed_out(node.driver_internal_info or {}, time.time()) is not None

    for task in task_manager.each_locked(
            context, ProvisionState.DEPLOYWAIT.value, overdue, "deploy timeout", owns):
        reason = _timed_out(_internal(task), time.time())
        if reason is None:
            continue
        prepare_task(task)
        fail(task, reason)
        failed.append(task.node.uuid)
    return failed
