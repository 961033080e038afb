"""[conductor]: locks, power-state verification, workers and periodic sync."""

from oslo_config import cfg

from hwdrivers.conf import finite

group = cfg.OptGroup("conductor", help="Conductor behaviour.")

opts = [
    finite.FloatOpt("lease_duration", default=60.0, min=1.0,
                    help="Seconds a node lock (lease) lasts unless renewed. A "
                         "conductor that dies leaves locks that expire after "
                         "this long. Held locks are renewed every third of it."),
    finite.FloatOpt("node_locked_retry_timeout", default=3.0, min=0,
                    help="Seconds to keep trying to lock a busy node before "
                         "answering NodeLocked (HTTP 409)."),
    finite.FloatOpt("node_locked_retry_interval", default=0.05, min=0.001,
                    help="First pause between attempts to lock a busy node; "
                         "doubles up to 1 s."),
    finite.FloatOpt("power_state_change_timeout", default=60.0, min=0,
                    help="Seconds to wait for a node to reach the requested power "
                         "state after the driver acted."),
    finite.FloatOpt("soft_power_off_timeout", default=600.0, min=1,
                    help="Default timeout for soft power off and soft reboot."),
    cfg.IntOpt("workers_pool_size", default=100, min=1,
               help="Operations run at once by this conductor."),
    cfg.IntOpt("sync_power_state_interval", default=60,
               help="Seconds between power-state syncs; 0 or less disables."),
    cfg.IntOpt("sync_power_state_workers", default=80, min=1,
               help="Nodes whose power state is read at once during a sync. "
                    "A cycle over N nodes at d seconds per read takes about "
                    "N * d / workers; size it so that fits in half of "
                    "sync_power_state_interval: workers >= 2 * N * d / "
                    "interval. The default keeps up with 10,000 nodes at "
                    "0.2 s per read (IPMI-like) in about 25 s of the 60 s "
                    "interval. A cycle that overruns the interval logs a "
                    "warning naming this option (doc/scale-out.md)."),
    cfg.IntOpt("power_state_sync_max_retries", default=3, min=0,
               help="Failed power-state reads, or corrections (see "
                    "force_power_state_during_sync), of one node in a row before it "
                    "is put in maintenance with fault 'power failure'; a read that "
                    "matches the recorded state resets the count."),
    cfg.BoolOpt("force_power_state_during_sync", default=True,
                help="During sync, put a node back in its recorded power "
                     "state (True) or record the state found (False)."),
    cfg.IntOpt("power_failure_recovery_interval", default=300,
               help="Seconds between checks of nodes the sync put in maintenance "
                    "(fault 'power failure'): those whose BMC answers again leave "
                    "maintenance. 0 or less disables."),
    cfg.StrOpt("conductor_group", default="",
               help="Conductor group this conductor serves (Ironic's option): it "
                    "only takes nodes whose conductor_group field is the same. "
                    "Each group has its own hash ring, e.g. one group per "
                    "data centre or network segment. Letters, digits, '.', "
                    "'-' and '_', at most 255, case-insensitive (used in "
                    "lower case); empty is the default group."),
    finite.FloatOpt("hash_ring_reset_interval", default=10.0, min=0.1,
                    help="Seconds a process keeps its hash ring (the live "
                         "conductors of each group) before reading membership "
                         "again. A dead conductor's nodes move to others within "
                         "heartbeat_timeout plus this."),
    cfg.IntOpt("heartbeat_interval", default=10, min=1,
               help="Seconds between conductor heartbeats."),
    cfg.IntOpt("heartbeat_timeout", default=60, min=1,
               help="A conductor silent this long is considered dead."),
    cfg.IntOpt("graceful_shutdown_timeout", default=60, min=0,
               help="Seconds in-flight operations get to finish on SIGTERM."),
    cfg.BoolOpt("node_history", default=True,
                help="Record node history (Ironic's option): each error a task "
                     "records in last_error, each provision state reached and "
                     "each maintenance change, shown by 'hwdrivers node "
                     "history' and GET /v1/nodes/<node>/history. Successful "
                     "power changes are not recorded (they stay one write)."),
    cfg.IntOpt("node_history_max_entries", default=300, min=1,
               help="Events kept per node; recording one more drops the oldest."),
    cfg.BoolOpt("automated_clean", default=True, mutable=True,
                help="Run automated cleaning (Ironic's option): the clean steps "
                     "with a priority above 0, such as erasing disks, that "
                     "'provide' (manageable -> available) and 'undeploy' run "
                     "before a node is available again. False moves such nodes "
                     "straight to available. A node's automated_clean field "
                     "(API 1.47) overrides it: false skips the cleaning of "
                     "that node, true cleans it even when this is False."),
    cfg.BoolOpt("poweroff_in_cleanfail", default=False, mutable=True,
                help="Power off a node whose cleaning failed (Ironic's option), "
                     "once the cleaning is torn down; a failed power off is "
                     "added to last_error. Off by default: a machine cut off "
                     "half-way through a firmware update or BIOS change may be "
                     "left unbootable by losing power then."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
