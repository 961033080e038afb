"""Options every real driver group has: controller limits and retry deadline."""

from oslo_config import cfg

from hwdrivers.conf import finite


def controller_opts(max_concurrency, min_interval=0.0, retry_timeout=30.0):
    return [
        cfg.IntOpt("max_concurrency", default=max_concurrency, min=1,
                   help="Commands sent at once to one controller (BMC, PDU, "
                        "host), across power, management and sensor calls."),
        finite.FloatOpt("min_command_interval", default=min_interval, min=0,
                        help="Seconds between the start of two commands to one "
                             "controller."),
        finite.FloatOpt("command_retry_timeout", default=retry_timeout, min=0,
                        help="Seconds connection and action errors are retried "
                             "for, with backoff; 0 disables retries."),
    ]
