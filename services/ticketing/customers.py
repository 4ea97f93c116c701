"""The customer aggregate (CH-2): one profile per customer, recognised on any channel by its
identifiers (phone numbers, email addresses, member numbers). Decide and evolve, pure.

Every customer event carries the whole profile as it is after the event, so that other contexts keep
their own copy by taking the latest (telephony finds a caller's customer by ANI) without this code.
Identifiers are kept in one written form: a phone number as its digits, an email address in lower
case, so that "+82 10-1234-5678" on a call finds the customer registered as "+821012345678".
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cc.common.v1 import event_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common import numbers
from services.common.aggregate import evolved
from services.common.envelope import to_datetime
from services.common.errors import IllegalTransition, InvalidArgument, NotFound, optional_text
from services.common.pci import shows_card_number
from services.ticketing.domain import MAX_CUSTOM_FIELDS, clean_field_values, refused

Kind = events_pb2.IdentifierKind
PHONE = Kind.IDENTIFIER_KIND_PHONE
EMAIL = Kind.IDENTIFIER_KIND_EMAIL
MEMBER = Kind.IDENTIFIER_KIND_MEMBER
KIND_NAMES: dict[int, str] = {PHONE: "phone", EMAIL: "email", MEMBER: "member"}
MAX_IDENTIFIERS = 20
MAX_NAME_LENGTH = 200
# A practical address: something@domain.tld, no spaces, at most 254 characters (RFC 5321's path limit).
EMAIL_ADDRESS = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
MEMBER_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")
TIER = re.compile(r"[a-z0-9][a-z0-9_\-]{0,49}")
Identifier = tuple[int, str]  # (kind, value as written canonically)


@dataclass(frozen=True)
class CustomerState:
    customer_id: str
    name: str
    identifiers: tuple[Identifier, ...]
    vip: bool
    tier: str
    attributes: tuple[tuple[str, str], ...]
    registered_at: datetime
    updated_at: datetime

    def profile(self) -> events_pb2.CustomerProfile:
        return profile_message(self.name, self.identifiers, self.vip, self.tier, dict(self.attributes))


def customer_of(state: CustomerState | None, command: commands_pb2.CustomerCommand) -> str:
    """A profile's changes belong to the customer's own journey."""
    return command.meta.aggregate_id


def canonical_identifier(kind: int, value: str, field: str = "identifiers") -> Identifier:
    """The identifier as it is kept and looked up, or a refusal that names what a valid one looks like.
    A card number is never kept as an identifier (SEC-1), however it is dressed: a "phone number" of
    16 digits, an email address or a member number made of one is refused."""
    written = optional_text(value, field, "an identifier").strip()
    if shows_card_number(written):
        raise refused(field, "an identifier must not hold a card number")
    if kind == PHONE:
        digits = numbers.canonical(written)
        if numbers.NUMBER.fullmatch(digits):
            return (PHONE, digits)
        raise refused(field, f"{value[:40]!r} is not a phone number: {numbers.NUMBER_RULE}")
    if kind == EMAIL:
        if len(written) <= 254 and EMAIL_ADDRESS.fullmatch(written):
            return (EMAIL, written.lower())
        raise refused(field, f"{value[:40]!r} is not an email address")
    if kind == MEMBER:
        if MEMBER_NUMBER.fullmatch(written):
            return (MEMBER, written)
        raise refused(field, f"{value[:40]!r} is not a member number: letters, digits, . _ -, at most 64")
    raise refused(field, "each identifier's kind is phone, email or member")


def clean_identifiers(given: Iterable[events_pb2.CustomerIdentifier], field: str) -> tuple[Identifier, ...]:
    """Canonical, each once, in the order given."""
    cleaned = tuple(dict.fromkeys(canonical_identifier(i.kind, i.value, field) for i in given))
    if len(cleaned) > MAX_IDENTIFIERS:
        raise refused(field, f"at most {MAX_IDENTIFIERS} identifiers")
    return cleaned


def _name(name: str) -> str:
    cleaned = optional_text(name, "name", "the customer's name").strip()
    if len(cleaned) > MAX_NAME_LENGTH:
        raise refused("name", f"at most {MAX_NAME_LENGTH} characters")
    return cleaned


def _tier(tier: str) -> str:
    cleaned = tier.strip().lower()
    if cleaned and not TIER.fullmatch(cleaned):
        raise refused("tier", "a word: a-z, digits, - and _, at most 50")
    if shows_card_number(cleaned):
        raise refused("tier", "a tier must not hold a card number")
    return cleaned


def _attributes(attributes: Mapping[str, str], field: str) -> dict[str, str]:
    cleaned = clean_field_values(attributes, field)
    if len(cleaned) > MAX_CUSTOM_FIELDS:
        raise refused(field, f"at most {MAX_CUSTOM_FIELDS} attributes")
    return cleaned


def profile_message(
    name: str, identifiers: Iterable[Identifier], vip: bool, tier: str, attributes: Mapping[str, str]
) -> events_pb2.CustomerProfile:
    return events_pb2.CustomerProfile(
        name=name,
        identifiers=[events_pb2.CustomerIdentifier(kind=k, value=v) for k, v in identifiers],  # type: ignore[arg-type]
        vip=vip,
        tier=tier,
        attributes=dict(attributes),
    )


def _register(given: events_pb2.CustomerProfile) -> list[Message]:
    name = _name(given.name)
    identifiers = clean_identifiers(given.identifiers, "identifiers")
    if not name and not identifiers:
        raise refused("name", "a customer needs a name or at least one identifier")
    attributes = _attributes(given.attributes, "attributes")
    profile = profile_message(name, identifiers, given.vip, _tier(given.tier), attributes)
    return [events_pb2.CustomerRegistered(profile=profile)]


def _change(state: CustomerState, change: commands_pb2.ChangeCustomer) -> list[Message]:
    """The profile after the change and which of its parts differ; a change that changes nothing is
    refused, so that every event records a change."""
    name = _name(change.name) if change.HasField("name") else state.name
    identifiers = (
        clean_identifiers(change.identifiers, "identifiers")
        if change.replace_identifiers
        else state.identifiers
    )
    vip = change.vip if change.HasField("vip") else state.vip
    tier = _tier(change.tier) if change.HasField("tier") else state.tier
    attributes = dict(state.attributes) | _attributes(change.set_attributes, "set_attributes")
    for key in change.removed_attributes:
        attributes.pop(key, None)
    if len(attributes) > MAX_CUSTOM_FIELDS:
        raise refused("set_attributes", f"at most {MAX_CUSTOM_FIELDS} attributes in all")
    if not name and not identifiers:
        raise refused("identifiers", "a customer keeps a name or at least one identifier")
    changed = [
        part
        for part, differs in (
            ("name", name != state.name),
            ("identifiers", identifiers != state.identifiers),
            ("vip", vip != state.vip),
            ("tier", tier != state.tier),
            ("attributes", tuple(sorted(attributes.items())) != state.attributes),
        )
        if differs
    ]
    if not changed:
        raise InvalidArgument("nothing-to-change", f"customer {state.customer_id} already has these values")
    profile = profile_message(name, identifiers, vip, tier, attributes)
    return [events_pb2.CustomerChanged(profile=profile, changed=changed)]


def decide(
    state: CustomerState | None, command: commands_pb2.CustomerCommand, now: datetime
) -> list[Message]:
    customer_id = command.meta.aggregate_id
    match command.WhichOneof("command"):
        case "register":
            if state is not None:
                raise IllegalTransition("customer-exists", f"customer {customer_id} already exists")
            return _register(command.register)
        case "change":
            if state is None:
                raise NotFound("customer-not-found", f"customer {customer_id} does not exist")
            return _change(state, command.change)
    raise InvalidArgument("unknown-command", "the customer command names no known action")


def _from(profile: events_pb2.CustomerProfile) -> dict[str, object]:
    return {
        "name": profile.name,
        "identifiers": tuple((i.kind, i.value) for i in profile.identifiers),
        "vip": profile.vip,
        "tier": profile.tier,
        "attributes": tuple(sorted(profile.attributes.items())),
    }


def evolve(state: CustomerState | None, event: event_pb2.Event) -> CustomerState:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "customer_registered":
            profile = event.customer_registered.profile
            return CustomerState(
                customer_id=event.aggregate_id,
                registered_at=at,
                updated_at=at,
                **_from(profile),  # type: ignore[arg-type]
            )
        case "customer_changed":
            assert state is not None, "customer_changed before customer_registered"
            return evolved(state, **_from(event.customer_changed.profile), updated_at=at)
    raise ValueError(f"not a customer event: {event.event_type}")


def identifiers_of(state: CustomerState) -> list[str]:
    """The customer's lookup keys: each identifier as `kind:value`."""
    return [identifier_key(kind, value) for kind, value in state.identifiers]


def identifier_key(kind: int, value: str) -> str:
    return f"{KIND_NAMES.get(kind, str(kind))}:{value}"
