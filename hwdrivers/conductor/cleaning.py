"""Manual cleaning: the clean steps an operator asks for, manageable -> cleaning -> manageable.

Ironic's ``PUT /v1/nodes/<node>/states/provision {"target": "clean",
"clean_steps": [{"interface": "bios", "step": "apply_configuration",
"args": {"settings": [...]}}]}``. Every step is checked before the API
answers (:func:`begin`): its interface exists on the node, the step is one
of that interface's clean steps (priority 0 ones included: manual cleaning
may run any), its arguments match the step's ``argsinfo``, and BIOS
settings match the node's cached BIOS registry when there is one. A bad
request is refused (400) naming the step, and nothing changes.

The steps then run in the order given, in a worker holding the node's lock
(:func:`run`); a failing one sends the node to ``clean failed`` naming it.
The in-tree clean steps act out of band (through the BMC), so no ramdisk is
booted; a step that would wait for one (``clean wait``) is refused with a
clear error. After a step of the ``bios`` interface the node's BIOS table
is read again (:func:`cache_bios`), so ``GET /v1/nodes/<node>/bios`` shows
what the machine now has.

Automated cleaning (conductor/provisioning.py) shares the rest: the plan
and the running step shown in ``driver_internal_info`` (:func:`record_plan`,
:func:`forget_plan`) and the refusal of a ``clean wait`` answer
(:func:`refuse_async`), which nothing would resume.
"""

import logging

from oslo_config import cfg

from hwdrivers.common import exception
from hwdrivers.common import log_text
from hwdrivers.common import secrets
from hwdrivers.common.states import PowerState
from hwdrivers.common.states import ProvisionState
from hwdrivers.conductor import controllers
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.db import hardware as db_hardware
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import bios_registry

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

#: Registry fields of a cached BIOS setting (the API's ``detail`` view).
BIOS_DETAIL_FIELDS = db_hardware.BIOS_DETAIL_FIELDS
PLAN_KEY = "clean_steps"
INDEX_KEY = "clean_step_index"
_STEP_KEYS = frozenset({"interface", "step", "args"})
#: Fields of a clean step listing that a manual request must not carry, and why:
#: taken and ignored, they would let the caller believe they mattered.
_REFUSED_STEP_KEYS = {
    "priority": "manual cleaning runs the steps in the order given, whatever their "
                "priority (that orders automated cleaning only): remove it and order the "
                "list",
}


class StepFailed(exception.HWDriversError):
    fmt = "clean step %(interface)s.%(step)s: %(error)s"


#: Ironic's fault of a node whose clean step failed (``faults.CLEAN_FAILURE``):
#: ``GET /v1/nodes?fault=clean failure`` finds them.
CLEAN_FAILURE_FAULT = "clean failure"


def hold_after_failed_step(task, error) -> None:
    """Maintenance with fault ``clean failure`` after a clean step failed (not saved).

    As Ironic's cleaning error handler: a step that failed half-way (a disk
    erase, a BIOS change) may have left the machine in any state, so the
    node is taken out of service until an operator has looked at it.
    Leaving maintenance clears the fault; a maintenance reason already
    there (an operator's) is kept, else it is the error. Failures before
    any step ran (prepare_cleaning, a node already in maintenance) do not
    come here: nothing was done to the machine.
    """
    node = task.node
    node.maintenance = True
    node.fault = CLEAN_FAILURE_FAULT
    if not node.maintenance_reason:
        node.maintenance_reason = "clean failure: %s" % error
    task.logger.warning("node put in maintenance (fault %s): %s", CLEAN_FAILURE_FAULT,
                        error)


class AsyncCleaningRefused(exception.HWDriversError):
    """A clean step (or prepare_cleaning) answered ``clean wait``.

    Nothing in hwdrivers resumes a node waiting in ``clean wait`` (no agent
    clean callback, no clean wait timeout), so taking the answer would leave
    the node there for good; the cleaning fails instead, saying why.
    """

    fmt = ("%(what)s is asynchronous (it answered 'clean wait', to wait for a ramdisk "
           "agent), which hwdrivers' cleaning does not run yet: nothing would resume the "
           "node")


def refuse_async(result, what: str):
    """``result`` of a clean call, or AsyncCleaningRefused when it is ``clean wait``."""
    if result == ProvisionState.CLEANWAIT.value:
        raise AsyncCleaningRefused(what=what)
    return result


def _call(task, interface, func, *args):
    return retry.run(task, interface, func, *args, gate=controllers.LIMITER.slot)


#: How many characters of a caller's name a refusal quotes; it lists at most
#: bios_registry.LISTED problems or names (``bios_registry.listed``): as the BIOS
#: checks do, a refused request is not echoed back whole (5000 bad steps made a
#: 500 kB error, in the answer and in the log).
QUOTED = 60


def _cut(text: str) -> str:
    """``text`` cut after :data:`QUOTED` characters."""
    return log_text.cut(text, QUOTED)


def _step_errors(task, index: int, step) -> tuple[list[str], dict | None]:
    """Problems with one requested step, and the step as it will run."""
    where = "clean_steps[%d]" % index
    if not isinstance(step, dict):
        return ["%s must be an object {\"interface\", \"step\", \"args\"}" % where], None
    kind, name, args = step.get("interface"), step.get("step"), step.get("args")
    if args is None:  # absent or null: no arguments (any other non-object is refused below)
        args = {}
    refused = ["%s: %s is not taken: %s" % (where, key, why)
               for key, why in _REFUSED_STEP_KEYS.items() if key in step]
    if refused:
        return refused, None
    extra = sorted(set(step) - _STEP_KEYS)
    if extra:
        return ["%s has unknown field(s) %s (a step has interface, step and args)"
                % (where, bios_registry.listed([_cut(key) for key in extra]))], None
    if not isinstance(kind, str) or not isinstance(name, str):
        # checked first: a list or object here is not a key of the lookups below
        return ["%s: interface and step must be strings (e.g. \"interface\": \"bios\", "
                "\"step\": \"apply_configuration\")" % where], None
    interfaces = task.driver.interfaces
    if kind not in interfaces:
        return ["%s: interface %s is not one of %s" % (where, _cut(repr(kind)),
                                                        ", ".join(sorted(interfaces)))], None
    iface = interfaces[kind]
    known = {s["step"]: s for s in iface.get_clean_steps(task)}
    label = "clean step %s.%s" % (kind, _cut(name))
    if name not in known:
        return ["%s does not exist: the %s interface (%s) has %s" % (
            label, kind, iface.implementation_name,
            "the clean steps " + ", ".join(sorted(known)) if known else "no clean steps")], None
    if not isinstance(args, dict):
        return ["%s: args must be an object of argument name -> value" % label], None
    argsinfo = known[name]["argsinfo"] or {}
    unknown = sorted(set(args) - set(argsinfo))
    missing = sorted(a for a, info in argsinfo.items() if info.get("required") and a not in args)
    problems = []
    if unknown:
        problems.append("unknown argument(s) %s" % bios_registry.listed([_cut(a) for a in unknown]))
    if missing:
        problems.append("missing argument(s) %s" % ", ".join(missing))
    if problems:
        return ["%s takes %s: %s" % (label, ", ".join(
            "%s%s" % (a, "" if info.get("required") else " (optional)")
            for a, info in sorted(argsinfo.items())) or "no arguments",
            "; ".join(problems))], None
    return [], {"interface": kind, "step": name, "args": args}


def check_steps(task, steps) -> list[dict]:
    """The plan for ``steps``; InvalidParameterValue naming every bad step."""
    if not isinstance(steps, list) or not steps:
        raise exception.InvalidParameterValue(
            "Node %s: manual cleaning needs clean_steps, a non-empty list of "
            "{\"interface\", \"step\", \"args\"}" % task.node.ident)
    errors, plan = [], []
    for index, step in enumerate(steps):
        step_errors, planned = _step_errors(task, index, step)
        errors.extend(step_errors)
        if planned is not None:
            errors.extend(_cached_bios_errors(task, planned))
            plan.append(planned)
    if errors:
        raise exception.InvalidParameterValue("Node %s: %s" % (
            task.node.ident, bios_registry.listed(errors, "; ", "problem")))
    return plan


def _cached_bios_errors(task, step: dict) -> list[str]:
    """BIOS settings checked against the node's cached registry (nothing asked of the BMC).

    Without a cached table (never read) the step checks against the live
    registry itself, still before it sends anything; the shape of
    ``settings`` needs no registry and is checked here either way.
    """
    if step["interface"] != "bios" or step["step"] != "apply_configuration":
        return []
    settings = step["args"].get("settings")
    try:
        # The shape needs no registry: a malformed list is the caller's to fix now,
        # not a node in clean failed after the worker read the BMC.
        bios_registry.check_shape(settings)
        cached = {row["name"]: row for row in db_hardware.list_bios_settings(task.node.id)}
        if cached:
            bios_registry.check_settings(settings, cached)
    except exception.InvalidParameterValue as exc:
        return ["clean step bios.apply_configuration: %s" % exc]
    return []


def begin(task, steps) -> None:
    """Check ``steps`` and record them as the node's cleaning plan (not saved here).

    The steps with their arguments stay with the task that runs them (an
    argument may be a BIOS password); the node shows only which steps
    (``driver_internal_info.clean_steps``) and which one runs.
    """
    plan = check_steps(task, steps)
    task.clean_plan = plan
    record_plan(task, plan)


def record_plan(task, steps) -> None:
    """Show which clean steps will run (not saved here): names only, no arguments.

    Automated cleaning records its plan too, and the index of the step
    running, so an operator sees where a cleaning is (or was, when its
    conductor died), as Ironic's ``clean_step`` shows it.
    """
    base.update_internal_info(task, **{
        PLAN_KEY: [{"interface": s["interface"], "step": s["step"]} for s in steps],
        INDEX_KEY: None})


def forget_plan(task) -> None:
    """Drop a manual cleaning's plan (not saved here): it describes a running cleaning only.

    A conductor dying mid-clean leaves it on the node its restart moves to
    ``clean failed`` (the database alone changes there): :func:`tidy_orphans`
    then names the step it was at in last_error and drops it; failing that
    it goes with the next transition, as Ironic wipes its cleaning info when
    a cleaning ends however it ends.
    """
    info = task.node.driver_internal_info or {}
    if PLAN_KEY in info or INDEX_KEY in info:
        base.update_internal_info(task, **{PLAN_KEY: None, INDEX_KEY: None})


def tear_down_after_failure(task) -> None:
    """The deploy interface's tear_down_cleaning after a failed cleaning; best effort.

    As Ironic's cleaning error handler: what prepare_cleaning set up (a
    ramdisk's boot files...) must not outlive the cleaning; the cleaning's
    own error is what last_error keeps, so a failure here is only logged.
    """
    deploy = task.driver.deploy
    try:
        _call(task, deploy, deploy.tear_down_cleaning)
    except Exception as exc:
        task.logger.warning("tear_down_cleaning after the failed cleaning failed too: %s",
                            exc)


def power_off_if_configured(task) -> None:
    """``[conductor] poweroff_in_cleanfail``: power a node whose cleaning failed off.

    As Ironic's cleaning error handler, after the tear-down; verified like
    any power action. Its failure is appended to last_error (the node stays
    in clean failed either way) rather than replacing the cleaning's error.
    Not saved: the caller saves the failure.
    """
    if not CONF.conductor.poweroff_in_cleanfail:
        return
    node = task.node
    try:
        node.power_state = actions.set_power_state(
            task, PowerState.OFF, gate=controllers.LIMITER.slot).value
    except Exception as exc:
        node.last_error = ("%s (powering the node off, [conductor] poweroff_in_cleanfail, "
                           "failed too: %s)" % (node.last_error, exc))
        task.logger.warning("powering off after the failed cleaning failed: %s", exc)
    else:
        task.logger.info("powered off after the failed cleaning ([conductor] "
                         "poweroff_in_cleanfail)")


def _where_it_stopped(plan: list, index) -> str | None:
    """``clean step deploy.erase_devices (step 1 of 2)``, or None when no step had started."""
    if not isinstance(index, int) or not 0 <= index < len(plan):
        return None
    step = plan[index] if isinstance(plan[index], dict) else {}
    return "clean step %s.%s (step %d of %d)" % (step.get("interface"), step.get("step"),
                                                index + 1, len(plan))


def tidy_orphans(context, owns=None) -> list[str]:
    """Finish the failure of cleanings whose worker died with its conductor.

    A conductor restart (or shutdown, or its death seen by another) moves a
    node caught in ``cleaning`` to ``clean failed`` in the database alone,
    with a generic "operation aborted" last_error: which step, and that it
    was a cleaning, went unsaid, and a disk erase cut half-way left the
    node free to be provided. Such a node still has its plan (every other
    way into ``clean failed`` wipes it), so here, as Ironic's handler of a
    cleaning aborted by a conductor take-over: last_error says what was
    running and that the node was moved to clean failed, the plan goes,
    tear_down_cleaning runs, and when a step was running the node is held
    in maintenance with fault ``clean failure`` (:func:`hold_after_failed_step`).
    With ``owns`` (``owns(node) -> bool``), only the nodes it accepts.
    Returns the UUIDs tidied.
    """
    tidied = []
    state = ProvisionState.CLEANFAIL.value

    def accepted(node):  # on the row read, then again under the lease
        return (node.provision_state == state and _has_plan(node) and not node.maintenance
                and (owns is None or owns(node)))

    for record in db_api.list_nodes(filters={"provision_state": state}):
        if record["maintenance"] or not (record["driver_internal_info"] or {}).get(PLAN_KEY):
            continue  # no lease taken on the others: they are an operator's to act on
        # One node at a time, and one that cannot be tidied (its driver gone...)
        # stops none of the others: this runs as the conductor starts.
        try:
            with task_manager.acquire(context, record["id"], purpose="clean clean-up",
                                      lock_timeout=0) as task:
                if accepted(task.node):
                    _tidy(task)
                    tidied.append(task.node.uuid)
        except (exception.NodeLocked, exception.NodeNotFound):
            continue
        except secrets.SecretUnreadable as exc:  # its key lost: the others still tidied
            LOG.error("clean clean-up: skipped: %s", exc)
        except Exception as exc:
            LOG.warning("Node %s: could not finish the failure of its interrupted "
                        "cleaning (the next check tries again): %s",
                        record.get("name") or record["uuid"], exc)
    return tidied


def _tidy(task) -> None:
    """One node of :func:`tidy_orphans`, under its lease; saved."""
    node = task.node
    info = node.driver_internal_info or {}
    where = _where_it_stopped(info.get(PLAN_KEY) or [], info.get(INDEX_KEY))
    why = node.last_error or "its conductor stopped before the cleaning finished"
    if where is None:
        node.last_error = ("Cleaning interrupted before its first clean step ran "
                           "(while it was being prepared): %s The node was moved to "
                           "clean failed." % why)
    else:
        node.last_error = ("Cleaning interrupted while %s was running, which did not "
                           "finish: %s The node was moved to clean failed." % (where, why))
        hold_after_failed_step(task, node.last_error)
    forget_plan(task)
    tear_down_after_failure(task)
    power_off_if_configured(task)
    task.save()
    task.logger.error("%s", node.last_error)


def _has_plan(node) -> bool:
    return bool((node.driver_internal_info or {}).get(PLAN_KEY))


def set_state(task, state: ProvisionState, target: ProvisionState | None = None,
              **info) -> None:
    """Record the provision state (and target) with ``info`` keys, and save.

    The state and target are written only when they change: a field
    written is a field saved, and a saved provision state is a node history
    event, so recording each step's index in the same state repeated
    "provision state cleaning" once per step.
    """
    base.update_internal_info(task, **info)
    node = task.node
    wanted = (state.value, target.value if target is not None else None)
    if (node.provision_state, node.target_provision_state) != wanted:
        node.provision_state, node.target_provision_state = wanted
    task.save()


def cache_bios(task) -> int | None:
    """Read the node's BIOS settings into its table; how many, or None if it has no BIOS."""
    bios = task.driver.interfaces.get("bios")
    if bios is None or not getattr(bios, "reads_settings", False):
        return None
    settings = _call(task, bios, bios.cache_bios_settings)
    # A plugin's registry numbers as a 64-bit column holds them (or no bound):
    # one odd bound must not lose the node's whole BIOS table.
    settings = [dict(setting, **{field: bios_registry.registry_int(setting[field])
                                 for field in bios_registry.NUMERIC_FIELDS if field in setting})
                for setting in settings]
    db_hardware.replace_bios_settings(task.node.id, settings)
    task.logger.info("BIOS settings cached: %d attributes", len(settings))
    return len(settings)


def run(task) -> None:
    """Run the recorded plan, in a worker holding the lock; ends in manageable."""
    plan = getattr(task, "clean_plan", None) or []
    task.ports = db_api.list_ports(node_id=task.node.id)
    task.gate = controllers.LIMITER.slot
    for index, step in enumerate(plan):
        set_state(task, ProvisionState.CLEANING, ProvisionState.MANAGEABLE, **{INDEX_KEY: index})
        iface = task.driver.interfaces[step["interface"]]
        task.logger.info("manual clean step %s.%s", step["interface"], step["step"])
        try:
            # Not gated as a whole: a step makes several calls (set, reboot, poll),
            # each taking its turn in the controller's queue (task.gate).
            refuse_async(iface.execute_clean_step(task, dict(step)), "the step")
            if step["interface"] == "bios":
                cache_bios(task)
        except Exception as exc:
            # The error names the step; the plan must not outlive the cleaning it
            # described (as Ironic wipes its cleaning info on failure).
            base.update_internal_info(task, **{PLAN_KEY: None, INDEX_KEY: None})
            failed = StepFailed(interface=step["interface"], step=step["step"], error=exc)
            hold_after_failed_step(task, failed)
            raise failed from exc
    task.node.last_error = None
    set_state(task, ProvisionState.MANAGEABLE, None, **{PLAN_KEY: None, INDEX_KEY: None})
    task.logger.info("manual cleaning done: %d step(s)", len(plan))


class BIOSSettingNotFound(exception.NotFound):
    fmt = "Node %(node)s has no BIOS setting %(name)s; %(names)s."


def bios_settings(context, ident) -> tuple[dict, list[dict]]:
    """(node record, its cached BIOS settings by name)."""
    record = db_api.get_node(ident)
    return record, db_hardware.list_bios_settings(record["id"])


def bios_setting(context, ident, name: str) -> tuple[dict, dict]:
    record = db_api.get_node(ident)
    row = db_hardware.get_bios_setting(record["id"], name)
    if row is None:
        names = [r["name"] for r in db_hardware.list_bios_settings(record["id"])]
        node = record.get("name") or record["uuid"]
        raise BIOSSettingNotFound(
            node=node, name=name,
            names=bios_registry.names_hint([name], names, "GET /v1/nodes/%s/bios" % node)
            if names else "it has none cached (inspect or clean the node to read them)")
    return record, row
