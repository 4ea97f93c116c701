"""The contracts' limits, checked once at the gRPC edge for every service (REST reaches the same check
through the gateway): the `buf.validate` annotations in `proto/` say how long each text field and how
many items each list may be, so a request that would swell an event, a Kafka record, a routing board or
a ClickHouse row is refused where it enters, naming its fields (INVALID_ARGUMENT, HTTP 422)."""

from typing import Any

import protovalidate
from google.protobuf.message import Message

from services.common.errors import FieldViolation, InvalidArgument

# Rules are compiled per message type on first use and cached by the validator.
_validator = protovalidate.Validator()
# Violations spelled out in the status message; every one is in its details all the same.
_SUMMARISED = 5


def check_request(request: Message) -> None:
    """Refuse a request that breaks its contract's limits; every broken rule is named."""
    violations = _validator.collect_violations(request)
    if not violations:
        return
    named = [FieldViolation(_path(v.proto.field), v.proto.message) for v in violations]
    summary = "; ".join(f"{v.field} {v.description}" for v in named[:_SUMMARISED])
    if len(named) > _SUMMARISED:
        summary += f"; and {len(named) - _SUMMARISED} more"
    raise InvalidArgument("invalid-argument", summary, named)


def _path(field: Any) -> str:
    """`skills[3].name` from a violation's field path (none for a rule on the whole message)."""
    parts: list[str] = []
    for element in field.elements if field is not None else ():
        part = element.field_name
        if element.subscript is not None:
            key = element.subscript.value
            part += f"[{key}]" if isinstance(key, int) and not isinstance(key, bool) else f"[{key!r}]"
        parts.append(part)
    return ".".join(parts)
