"""REST bodies and views of customers (CH-2). Identifiers are written `{"kind": "phone", "value": ...}`;
the service keeps a phone number as its digits and an email address in lower case."""

from datetime import datetime
from typing import Annotated, Literal

from cc.ticketing.v1 import events_pb2 as ticket_events
from cc.ticketing.v1 import ticketing_pb2
from pydantic import BaseModel, Field

from services.gateway.models import (
    ONLY_FIELD_NAMES,
    Call,
    FieldName,
    FieldValue,
    OptionalText,
    Ticket,
    WriteOptions,
    moment,
)

IdentifierKindWord = Literal["phone", "email", "member"]
IDENTIFIER_KINDS = {
    "phone": ticket_events.IDENTIFIER_KIND_PHONE,
    "email": ticket_events.IDENTIFIER_KIND_EMAIL,
    "member": ticket_events.IDENTIFIER_KIND_MEMBER,
}
KIND_WORDS = {kind: word for word, kind in IDENTIFIER_KINDS.items()}
IdentifierValue = Annotated[str, Field(min_length=1, max_length=320, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]
TierWord = Annotated[str, Field(pattern=r"^([A-Za-z0-9][A-Za-z0-9_\-]{0,49})?$", examples=["gold"])]


class Identifier(BaseModel):
    kind: IdentifierKindWord = Field(description="phone (compared as its digits), email, or member number.")
    value: IdentifierValue = Field(examples=["+821012345678"])

    def message(self) -> ticket_events.CustomerIdentifier:
        return ticket_events.CustomerIdentifier(kind=IDENTIFIER_KINDS[self.kind], value=self.value)


Identifiers = Annotated[list[Identifier], Field(max_length=20)]


class RegisterCustomerBody(BaseModel):
    """A name, at least one identifier, or both. An identifier another customer has gets 409."""

    name: OptionalText = ""
    identifiers: Identifiers = []
    vip: bool = Field(
        default=False, description="A VIP's calls wait with the VIP priority (CC_VIP_PRIORITY)."
    )
    tier: TierWord = Field(default="", description="The tenant's own grade of customer, kept in lower case.")
    attributes: dict[FieldName, FieldValue] = Field(
        default={}, max_length=50, json_schema_extra=ONLY_FIELD_NAMES
    )


class ChangeCustomerBody(WriteOptions):
    """Only what is given changes. `identifiers` replaces them all ([] removes them); in `attributes`, a
    null value removes that attribute."""

    name: OptionalText | None = None
    identifiers: Identifiers | None = None
    vip: bool | None = None
    tier: TierWord | None = None
    attributes: dict[FieldName, FieldValue | None] = Field(
        default={}, max_length=50, json_schema_extra=ONLY_FIELD_NAMES
    )


class IdentifierView(BaseModel):
    kind: str
    value: str


class Customer(BaseModel):
    customer_id: str
    name: str
    identifiers: list[IdentifierView]
    vip: bool
    tier: str
    attributes: dict[str, str]
    registered_at: datetime | None
    updated_at: datetime | None
    version: int

    @staticmethod
    def of(customer: ticketing_pb2.Customer) -> "Customer":
        profile = customer.profile
        return Customer(
            customer_id=customer.customer_id,
            name=profile.name,
            identifiers=[
                IdentifierView(kind=KIND_WORDS.get(i.kind, "unknown"), value=i.value)
                for i in profile.identifiers
            ],
            vip=profile.vip,
            tier=profile.tier,
            attributes=dict(profile.attributes),
            registered_at=moment(customer, "registered_at"),
            updated_at=moment(customer, "updated_at"),
            version=customer.version,
        )


class CustomerList(BaseModel):
    customers: list[Customer] = Field(description="The most recently updated first.")


class ScreenPop(BaseModel):
    call: Call
    customer: Customer | None = Field(description="The caller's profile; null for a caller with none yet.")
    tickets: list[Ticket] = Field(
        description="The customer's latest tickets, open or not, last updated first."
    )
    integration_url: str | None = Field(
        description="The line's screen_pop_url with [TEL] as the caller's number; null when it has none."
    )
