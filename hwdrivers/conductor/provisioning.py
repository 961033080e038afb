"""The provision state machine: enroll -> manageable -> available -> active and back.

The transitions themselves are data (:data:`states.PROVISION_TRANSITIONS`);
this module checks a request against them and does the work of each,
inside an exclusive task:

* ``manage`` from enroll: verify the power credentials for real — the power
  interface's ``get_power_state`` through the normal path (validation,
  taxonomy retries, controller queue) — enroll -> verifying -> manageable,
  or back to enroll with ``last_error``;
* ``provide``: automated cleaning (every interface's clean steps with
  priority > 0, highest first, a tie in Ironic's interface order, through
  ``execute_clean_step``, each run to its end), manageable -> cleaning ->
  available; undeploy's cleaning runs none in maintenance (clean failed);
* ``deploy`` (``active``): deploy.prepare, boot.prepare_instance,
  deploy.deploy, available -> deploying -> active; a step-driven deploy
  interface (``direct``) runs its deploy steps instead, waiting for the
  ramdisk agent in ``wait call-back`` (conductor/deployments.py);
* ``rebuild`` (Ironic's): the same deploy again from active (or deploy
  failed, or error), with the node's instance_info and its config drive
  unless a new one is given: active -> deploying -> active;
* ``undeploy`` (``deleted``): deploy.tear_down and clean-up, then cleaning,
  active -> deleting -> cleaning -> available;
* ``abort``: a node waiting for a callback (clean wait, wait call-back)
  goes to its failed state; an aborted deploy's node is powered off and
  its ramdisk boot files removed (in a worker);
* ``inspect`` and ``clean`` (manual cleaning with the requested
  ``clean_steps``), manageable -> inspecting (inspect wait) -> manageable
  and manageable -> cleaning -> manageable: conductor/inspection.py and
  conductor/cleaning.py do the work.

A failure lands the node in the failed state of where it was
(:data:`states.FAILURE_STATES`) with ``last_error`` saying what failed.
:func:`begin` runs before the API answers (state published, bad requests
refused with nothing changed); :meth:`Transition.run` is the work a worker
does holding the same lock.
"""

import logging

from oslo_config import cfg

from hwdrivers.common import exception
from hwdrivers.common import states
from hwdrivers.common.states import ProvisionAction
from hwdrivers.common.states import ProvisionState
from hwdrivers.conductor import cleaning
from hwdrivers.conductor import controllers
from hwdrivers.conductor import deployments
from hwdrivers.conductor import inspection
from hwdrivers.conductor import metrics
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import configdrive as configdrive_mod

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

#: Actions refused while a node is in maintenance: they would drive
#: hardware an operator has taken out of service. Manual cleaning too, as
#: Ironic refuses it (its BIOS steps reboot the node).
_REFUSED_IN_MAINTENANCE = frozenset({ProvisionAction.PROVIDE, ProvisionAction.DEPLOY,
                                     ProvisionAction.REBUILD, ProvisionAction.CLEAN})
#: Actions that write the instance's image (and take a config drive).
_DEPLOYS = frozenset({ProvisionAction.DEPLOY, ProvisionAction.REBUILD})
#: Actions whose request is refused (400, nothing changed) when the node's power
#: driver_info is invalid: manage verifies the credentials; manual cleaning, as
#: Ironic validates power before accepting it (its steps reboot the node), was
#: accepted and failed in the worker, the node left in clean failed.
_VALIDATES_POWER = frozenset({ProvisionAction.MANAGE, ProvisionAction.CLEAN})


def _call(task, interface, func, *args):
    """A driver call with taxonomy retries, through the controller's queue."""
    return retry.run(task, interface, func, *args, gate=controllers.LIMITER.slot)


class StepFailed(exception.HWDriversError):
    """A clean or deploy step failed; says which, the driver's error is the cause."""

    fmt = "%(kind)s step %(interface)s.%(step)s: %(error)s"


class TearDownFailed(exception.HWDriversError):
    """Every step succeeded; undoing what prepare_cleaning set up did not."""

    fmt = ("every %(kind)s step succeeded, but tear_down_cleaning of the %(deploy)s deploy "
           "interface failed: %(error)s")


class CleaningInMaintenance(exception.HWDriversError):
    """Automated clean steps not run: the node is in maintenance (undeploy takes it)."""

    fmt = ("the node is in maintenance (%(reason)s), so its automated clean steps (%(steps)s) "
           "were not run, as provide refuses them: take it out of maintenance, then manage "
           "and provide it")


def parse_action(task, action):
    try:
        return ProvisionAction.parse(action)
    except ValueError as exc:
        raise exception.InvalidParameterValue("Node %s: %s" % (task.node.ident, exc)) from None


class Transition:
    """One accepted request: the states involved and the work to do."""

    def __init__(self, task, action, source, working, target, saved):
        self.task = task
        self.action = action
        self.source = source
        self.working = working
        self.target = target
        #: The fields :func:`begin` changed, as they were (to undo a refused request).
        self.saved = saved

    @property
    def needs_work(self):
        if (self.action is ProvisionAction.ABORT
                and self.source in (ProvisionState.DEPLOYWAIT, ProvisionState.INSPECTWAIT)):
            return True  # power off, remove the ramdisk's boot files
        return self.working != self.target

    def run(self):
        """Do the work (in a worker, holding the lock); records the outcome."""
        node = self.task.node
        with metrics.operation("provision_%s" % self.action.value):
            try:
                _WORK[self.action](self.task)
            except Exception as exc:
                failed_in = ProvisionState(node.provision_state)
                node.provision_state = states.FAILURE_STATES.get(
                    failed_in, ProvisionState.ERROR).value
                node.target_provision_state = None
                node.last_error = "%s failed in provision state %s: %s" % (
                    self.action.value, failed_in.value, exc)
                if node.provision_state == ProvisionState.CLEANFAIL.value:
                    cleaning.power_off_if_configured(self.task)
                self.task.save()
                self.task.logger.error("%s", node.last_error)
                raise
        return ProvisionState(node.provision_state)


def begin(task, action, configdrive=None, clean_steps=None):
    """Check ``action`` against the node's state and publish the transition.

    ``configdrive`` (deploy only): a JSON object built into a config-2 ISO,
    or an encoded ISO or URL passed through; kept in instance_info.
    ``clean_steps`` (clean only, required there): the steps to run, each
    checked against the node's interfaces before anything is written.

    Raises InvalidParameterValue for an unknown action, InvalidStateRequested
    naming the current state and the actions allowed in it, or
    NodeInMaintenance; in each case nothing is written. Transitions that need
    no work (abort, manage from available) are complete on return.
    """
    action = parse_action(task, action)
    node = task.node
    drive = None
    if configdrive not in (None, "", {}):
        if action not in _DEPLOYS:
            raise exception.InvalidParameterValue(
                "Node %s: configdrive is accepted with the deploy (active) and rebuild "
                "targets only, not %s" % (node.ident, action.value))
        try:
            drive = configdrive_mod.normalise(configdrive, node)
        except exception.InvalidParameterValue as exc:
            raise exception.InvalidParameterValue("Node %s: %s" % (node.ident, exc)) from None
    if clean_steps is not None and action is not ProvisionAction.CLEAN:
        raise exception.InvalidParameterValue(
            "Node %s: clean_steps are accepted with the clean target only, not %s"
            % (node.ident, action.value))
    source = ProvisionState(node.provision_state)
    step = states.PROVISION_TRANSITIONS.get((source, action))
    if step is None:
        allowed = states.allowed_actions(source)
        raise exception.InvalidStateRequested(
            reason="Node %s: cannot %s in provision state %r; allowed actions in this "
                   "state: %s" % (node.ident, action.value, source.value,
                                  ", ".join(allowed) or "none"))
    if node.maintenance and action in _REFUSED_IN_MAINTENANCE:
        raise exception.NodeInMaintenance(
            node=node.ident, reason=node.maintenance_reason or "no reason given",
            action=action.value)
    working, target = step
    saved = {f: getattr(node, f) for f in
             ("provision_state", "target_provision_state", "last_error", "instance_info",
              "driver_internal_info")}
    if drive is not None:
        node.instance_info = dict(node.instance_info or {}, configdrive=drive)
    if action in _VALIDATES_POWER and working != target:
        # Checked before answering: missing credentials are the caller's to fix.
        task.driver.power.validate(task)
    if action in _DEPLOYS:
        _validate_deploy(task)
    if action is ProvisionAction.INSPECT:
        inspection.validate(task)
    if action is ProvisionAction.CLEAN:
        cleaning.begin(task, clean_steps)
    else:
        cleaning.forget_plan(task)
    node.provision_state = working.value
    node.target_provision_state = target.value if working != target else None
    node.last_error = ("%s aborted by request" % source.value
                       if action is ProvisionAction.ABORT else None)
    task.save()
    task.logger.info("provision %s: %s -> %s", action.value, source.value, working.value)
    return Transition(task, action, source, working, target, saved)


# -- the work of each transition ---------------------------------------------------

def _set_state(task, state, target=None):
    task.node.provision_state = ProvisionState(state).value
    task.node.target_provision_state = target.value if target is not None else None
    task.save()


def _verify(task):
    """Talk to the BMC with the enrolled credentials; record what it says."""
    task.driver.power.validate(task)
    state = actions.get_power_state(task, gate=controllers.LIMITER.slot)
    task.node.power_state = state.value
    task.node.last_error = None
    _set_state(task, ProvisionState.MANAGEABLE)


def automated_clean_steps(task):
    """Clean steps with priority > 0 from every interface, in Ironic's order.

    Highest priority first; a tie by interface (:data:`states.STEP_INTERFACE_PRIORITY`).
    """
    steps = []
    for iface in task.driver.interfaces.values():
        steps.extend(s for s in iface.get_clean_steps(task) if s["priority"] > 0)
    return sorted(steps, key=states.step_order)


def _clean(task):
    """Automated cleaning (provide, undeploy): cleaning -> available, or clean failed.

    Every step runs to its end here. A step, or the deploy interface's
    prepare_cleaning, answering ``clean wait`` fails the cleaning naming it
    (:func:`cleaning.refuse_async`), as manual cleaning does: nothing would
    resume a node left in ``clean wait`` (no clean callback, no clean wait
    timeout), where it used to stay for good. A failure still runs
    tear_down_cleaning, as Ironic's cleaning error handler does, so what
    prepare_cleaning set up (a ramdisk's boot files...) does not outlive it.
    While it runs, ``driver_internal_info`` shows the plan and the step
    running (:func:`cleaning.record_plan`), as manual cleaning's does.
    """
    deploy = task.driver.deploy
    skipped_by = automated_clean_skipped_by(task.node)
    if skipped_by is not None:
        task.node.last_error = None
        _set_state(task, ProvisionState.AVAILABLE)
        task.logger.info("automated cleaning skipped (%s): available", skipped_by)
        return
    # Written only if not already so: provide's lease published it (one history event).
    cleaning.set_state(task, ProvisionState.CLEANING, ProvisionState.AVAILABLE)
    steps = automated_clean_steps(task)
    _refuse_in_maintenance(task, steps)
    cleaning.record_plan(task, steps)
    try:
        cleaning.refuse_async(_call(task, deploy, deploy.prepare_cleaning),
                              "prepare_cleaning of the %s deploy interface"
                              % deploy.implementation_name)
        for index, step in enumerate(steps):
            cleaning.set_state(task, ProvisionState.CLEANING, ProvisionState.AVAILABLE,
                               **{cleaning.INDEX_KEY: index})
            _run_clean_step(task, step)
    except Exception:
        cleaning.forget_plan(task)  # last_error names the step; saved with the failure
        cleaning.tear_down_after_failure(task)
        raise
    # Every step ran: the plan goes first, so a failing tear-down is not taken
    # for a step that never finished (tidy_orphans holds such a node in maintenance).
    cleaning.forget_plan(task)
    try:
        _call(task, deploy, deploy.tear_down_cleaning)
    except Exception as exc:
        raise TearDownFailed(kind="cleaning", deploy=deploy.implementation_name,
                             error=exc) from exc
    task.node.last_error = None
    _set_state(task, ProvisionState.AVAILABLE)


def automated_clean_skipped_by(node) -> str | None:
    """What turns automated cleaning off for ``node`` (None: it runs), as Ironic decides.

    The node's ``automated_clean`` field wins when set (true cleans even if
    the option is off, false skips it); null follows ``[conductor]
    automated_clean``. Skipped, nothing runs, not even prepare_cleaning,
    and the node goes straight to available (Ironic's skip, which comes
    before its maintenance check, as here).
    """
    if node.automated_clean is None:
        return None if CONF.conductor.automated_clean else "[conductor] automated_clean = False"
    return None if node.automated_clean else "the node's automated_clean is false"


def _refuse_in_maintenance(task, steps):
    """No automated clean step for a node in maintenance; nothing touched, not even prepare.

    ``provide`` is refused in maintenance because its clean steps (a disk
    erase...) would drive hardware taken out of service, yet ``undeploy``,
    which maintenance does not refuse, ran the same steps. As Ironic with
    ``allow_provisioning_in_maintenance = False`` (the policy hwdrivers
    follows for provide, deploy and clean), its cleaning fails instead. A
    node with no automated clean steps has nothing to protect and is
    undeployed to available as before.
    """
    node = task.node
    if node.maintenance and steps:
        raise CleaningInMaintenance(
            reason=node.maintenance_reason or "no reason given",
            steps=", ".join("%s.%s" % (s["interface"], s["step"]) for s in steps))


def _run_clean_step(task, step):
    """One automated clean step, to its end; StepFailed naming it otherwise."""
    iface = task.driver.interfaces[step["interface"]]
    task.logger.info("clean step %s.%s (priority %d)", step["interface"],
                     step["step"], step["priority"])
    try:
        cleaning.refuse_async(_call(task, iface, iface.execute_clean_step, step), "the step")
    except Exception as exc:
        failed = StepFailed(kind="clean", interface=step["interface"], step=step["step"],
                            error=exc)
        cleaning.hold_after_failed_step(task, failed)
        raise failed from exc


def _validate_deploy(task):
    """What a deploy needs (driver_info, instance_info, ports); no hardware touched."""
    if deployments.is_step_driven(task):
        deployments.prepare_task(task)
    for kind in ("power", "deploy", "boot"):
        task.driver.interfaces[kind].validate(task)


def _deploy(task):
    _validate_deploy(task)
    deploy, boot = task.driver.deploy, task.driver.boot
    _call(task, deploy, deploy.prepare)
    if deployments.is_step_driven(task):
        try:
            deployments.start(task)
        except Exception as exc:
            deployments.fail(task, "deploy failed in provision state deploying: %s" % exc)
        return
    _call(task, boot, boot.prepare_instance)
    if _call(task, deploy, deploy.deploy) == ProvisionState.DEPLOYWAIT.value:
        _set_state(task, ProvisionState.DEPLOYWAIT, ProvisionState.ACTIVE)
        return
    task.node.last_error = None
    _set_state(task, ProvisionState.ACTIVE)


def _undeploy(task):
    deploy, boot = task.driver.deploy, task.driver.boot
    if deployments.is_step_driven(task):
        deployments.prepare_task(task)
        # From wait call-back the deploy's plan is still there: it ends here.
        base.update_internal_info(task, **{key: None for key in deployments.STEP_KEYS})
    _call(task, deploy, deploy.tear_down)
    _call(task, boot, boot.clean_up_instance)
    _call(task, deploy, deploy.clean_up)
    task.node.instance_info = {}
    _clean(task)


def _abort(task):
    """An aborted deploy or in-band inspection: the node goes off, its boot files away."""
    if task.node.provision_state == ProvisionState.INSPECTFAIL.value:
        inspection.abort(task)
    elif deployments.is_step_driven(task):
        deployments.abort(task)


_WORK = {
    ProvisionAction.MANAGE: _verify,
    ProvisionAction.PROVIDE: _clean,
    ProvisionAction.DEPLOY: _deploy,
    ProvisionAction.REBUILD: _deploy,
    ProvisionAction.UNDEPLOY: _undeploy,
    ProvisionAction.ABORT: _abort,
    ProvisionAction.INSPECT: inspection.inspect,
    ProvisionAction.CLEAN: cleaning.run,
}
