"""One error hierarchy for the platform: a stable kebab-case `error_id`, a gRPC status and an HTTP
status, mapped here and nowhere else (in the manner of google-api-core's exceptions)."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import grpc
from cc.common.v1 import types_pb2


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class PlatformError(Exception):
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    http_status: ClassVar[int] = 500

    def __init__(self, error_id: str, message: str, field_violations: Iterable[FieldViolation] = ()) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.field_violations = tuple(field_violations)

    def to_proto(self) -> types_pb2.CommandError:
        return types_pb2.CommandError(
            error_id=self.error_id,
            message=self.message,
            grpc_code=self.grpc_code.value[0],
            field_violations=[
                types_pb2.FieldViolation(field=v.field, description=v.description)
                for v in self.field_violations
            ],
        )

    @staticmethod
    def from_proto(error: types_pb2.CommandError) -> "PlatformError":
        cls = _BY_CODE.get(error.grpc_code, PlatformError)
        violations = [FieldViolation(v.field, v.description) for v in error.field_violations]
        return cls(error.error_id, error.message, violations)


class InvalidArgument(PlatformError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 422


class NotFound(PlatformError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404


class IllegalTransition(PlatformError):
    """The aggregate is in a state where the command makes no sense (FAILED_PRECONDITION)."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409


class VersionConflict(PlatformError):
    grpc_code = grpc.StatusCode.ABORTED
    http_status = 409


class Unauthenticated(PlatformError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class PermissionDenied(PlatformError):
    """The credential is valid but its role, or its agent, may not do this."""

    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403


class Unavailable(PlatformError):
    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503


_BY_CODE: dict[int, type[PlatformError]] = {
    cls.grpc_code.value[0]: cls
    for cls in (
        InvalidArgument,
        NotFound,
        IllegalTransition,
        VersionConflict,
        Unauthenticated,
        PermissionDenied,
        Unavailable,
    )
}


# Text the platform accepts: no control characters (tab, newline and carriage return only in multi-line
# text such as notes) and at least one visible character. The gateway's OpenAPI patterns say the same.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_VISIBLE = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """What is wrong with `value` as text ("is required", ...), or None when nothing is."""
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
        return "must not contain control characters"
    if not _VISIBLE.search(value):
        return "is required"
    return None


def optional_text(value: str, field: str, what: str, *, multiline: bool = False) -> str:
    """Validate optional text (a reason, a display name): empty is fine, control characters are not."""
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
        problem = "must not contain control characters"
        raise InvalidArgument(
            "invalid-argument", f"{field} {problem}", [FieldViolation(field, f"{what} {problem}")]
        )
    return value


def require(value: str, field: str, what: str, *, multiline: bool = False) -> str:
    """Validate a required text field; the message names the field so clients can fix the request."""
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        raise InvalidArgument(
            "invalid-argument", f"{field} {problem}", [FieldViolation(field, f"{what} {problem}")]
        )
    return value


def http_status_for(code: grpc.StatusCode) -> int:
    """The HTTP status the gateway answers for a service's gRPC status."""
    cls = _BY_CODE.get(code.value[0])
    if cls is not None:
        return cls.http_status
    return 504 if code == grpc.StatusCode.DEADLINE_EXCEEDED else 502
