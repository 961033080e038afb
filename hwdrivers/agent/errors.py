"""Errors the agent reports, serialised the way ironic-python-agent does.

A failed command's ``command_error`` and an API error body are what a
conductor reads to fill ``last_error``, so each error carries IPA's four
fields (``type``, ``code``, ``message``, ``details``) and its HTTP status.
"""

from typing import Any


class AgentError(Exception):
    """Base class: ``message`` says what failed, ``details`` says why."""

    message = "An error occurred"
    status_code = 500
    #: whether another attempt may succeed (an image download is tried again)
    retryable = False

    def __init__(self, details: str = "") -> None:
        super().__init__(details)
        self.details = details or self.message

    def __str__(self) -> str:
        return "%s: %s" % (self.message, self.details)

    def serialize(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "code": self.status_code,
                "message": self.message, "details": self.details}


class InvalidCommandError(AgentError):
    """Unknown command, or a body that is not ``{"name", "params"}`` (HTTP 400)."""

    message = "Invalid command"
    status_code = 400


class InvalidCommandParamsError(AgentError):
    """A command's parameters are missing or of the wrong type (HTTP 400)."""

    message = "Invalid command parameters"
    status_code = 400


class RequestedObjectNotFoundError(AgentError):
    message = "Not found"
    status_code = 404


class AgentIsBusy(AgentError):
    """A command is still running; IPA runs one at a time (HTTP 409)."""

    message = "Agent is busy"
    status_code = 409


class Unauthorized(AgentError):
    message = "Unauthorized"
    status_code = 401


class CommandExecutionError(AgentError):
    message = "Command execution failed"


class LookupNodeError(AgentError):
    message = "Error getting configuration from Ironic"


class InspectionError(AgentError):
    message = "Inspection data could not be posted"


class HeartbeatError(AgentError):
    message = "Error heartbeating to agent API"


class HeartbeatConflictError(HeartbeatError):
    message = "ConflictError heartbeating to agent API"


class ImageDownloadError(AgentError):
    message = "Error downloading image"

    def __init__(self, image_id: str, reason: str, retryable: bool = True) -> None:
        super().__init__("Download of image %s failed: %s" % (image_id, reason))
        self.retryable = retryable


class ImageChecksumError(AgentError):
    """The image's bytes do not hash to the expected digest.

    Retryable, as in IPA: bytes corrupted in transit (a flaky NIC, a proxy)
    hash differently on the next download; an image that is wrong at its
    source fails every attempt and is reported after the last.
    """

    message = "Error verifying image checksum"
    retryable = True

    def __init__(self, image_id: str, location: str, expected: str, actual: str) -> None:
        super().__init__(
            "Image failed to verify against checksum. location: %s; image ID: %s; "
            "image checksum: %s; verification checksum: %s"
            % (location, image_id, expected, actual))
        self.expected = expected
        self.actual = actual


class ImageWriteError(AgentError):
    message = "Error writing image to device"


class ToolMissingError(ImageWriteError):
    """A system tool the command needs (qemu-img, sgdisk) is not installed."""

    def __init__(self, tool: str, package: str, needed_for: str) -> None:
        super().__init__("tool missing: %s is not installed (Debian package %s); it is "
                         "needed to %s" % (tool, package, needed_for))


class DeviceNotFound(AgentError):
    message = "Error finding the root device"


class ConfigDriveError(AgentError):
    """IPA reports these as InstanceDeployFailure."""

    message = "Error writing the config drive"


class SystemRebootError(AgentError):
    message = "Error rebooting system"
