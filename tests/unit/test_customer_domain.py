"""The customer aggregate (CH-2): registering and changing profiles, identifiers in one written form,
and the identifier index lookups use. Pure: no broker."""

from typing import Any

import pytest
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.errors import IllegalTransition, InvalidArgument, NotFound
from services.common.projection import Index
from services.common.snapshots import StateCodec
from services.ticketing import customers
from services.ticketing.customer_servicer import most_recent_first
from tests.unit.support import TENANT, History, at, meta, refused, violated_fields

PHONE, EMAIL, MEMBER = customers.PHONE, customers.EMAIL, customers.MEMBER


def ident(kind: int, value: str) -> events_pb2.CustomerIdentifier:
    return events_pb2.CustomerIdentifier(kind=kind, value=value)  # type: ignore[arg-type]


def command(customer_id: str = "cu-1", **action: Message) -> commands_pb2.CustomerCommand:
    return commands_pb2.CustomerCommand(meta=meta(customer_id), **action)  # type: ignore[arg-type]


class Customer(History):
    def __init__(self, customer_id: str = "cu-1", **profile: Any) -> None:
        super().__init__(
            lambda state, cmd, now, _: customers.decide(state, cmd, now),
            customers.evolve,
            customers.customer_of,
            None,
            "ticketing",
            "customer",
            customer_id,
        )
        fields = {"name": "Kim Minji", "identifiers": [ident(PHONE, "+82 10-1234-5678")]} | profile
        self.handle(command(customer_id, register=events_pb2.CustomerProfile(**fields)), at(0))

    def change(self, at_second: float = 5, **fields: Any) -> list[Message]:
        return self.handle(
            command(self.aggregate_id, change=commands_pb2.ChangeCustomer(**fields)), at(at_second)
        )


def test_a_registered_customer_keeps_its_identifiers_in_one_written_form() -> None:
    customer = Customer(
        identifiers=[
            ident(PHONE, "+82 10-1234-5678"),
            ident(EMAIL, " Minji.Kim@Example.COM "),
            ident(MEMBER, "M-000123"),
            ident(PHONE, "+821012345678"),  # the same number written another way: kept once
        ],
        vip=True,
        tier="Gold",
        attributes={"plan": "family"},
    )
    state = customer.state
    assert state.identifiers == (
        (PHONE, "821012345678"),
        (EMAIL, "minji.kim@example.com"),
        (MEMBER, "M-000123"),
    )
    assert (state.name, state.vip, state.tier, state.attributes) == (
        "Kim Minji",
        True,
        "gold",
        (("plan", "family"),),
    )
    assert state.registered_at == state.updated_at == at(0)
    assert customers.identifiers_of(state) == [
        "phone:821012345678",
        "email:minji.kim@example.com",
        "member:M-000123",
    ]
    assert customer.events[0].event_type == "ticketing.customer.registered"
    assert customer.events[0].customer_id == "cu-1"  # the profile's changes are in its own journey


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (PHONE, "call me"),
        (PHONE, "1"),
        (EMAIL, "kim@"),
        (EMAIL, "kim minji@example.com"),
        (EMAIL, "kim@localhost"),
        (MEMBER, "has space"),
        (MEMBER, "4111111111111111"),  # a card number is never kept as an identifier...
        (PHONE, "4111 1111 1111 1111"),  # ...dressed as a phone number
        (EMAIL, "4111111111111111@example.com"),  # ...or as an address
        (EMAIL, "kim\x00@example.com"),
        (0, "821012345678"),
    ],
)
def test_an_identifier_that_is_not_one_is_refused_naming_the_field(kind: int, value: str) -> None:
    error = refused(lambda: Customer(identifiers=[ident(kind, value)]), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["identifiers"]


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        ({"name": "", "identifiers": []}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Kim\x00"}, "name"),
        ({"tier": "gold star"}, "tier"),
        ({"tier": "4111111111111111"}, "tier"),
        ({"attributes": {"a4111111111111111": "x"}}, "attributes"),
        ({"attributes": {"Plan": "x"}}, "attributes"),
        ({"attributes": {"plan": "x" * 1001}}, "attributes"),
        ({"attributes": {f"a{i}": "x" for i in range(51)}}, "attributes"),
        ({"identifiers": [ident(PHONE, f"0101234{i:04}") for i in range(21)]}, "identifiers"),
    ],
)
def test_a_registration_with_a_bad_field_is_refused_naming_it(profile: dict[str, Any], field: str) -> None:
    error = refused(lambda: Customer(**profile), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == [field]


def test_a_customer_needs_only_a_name_or_an_identifier() -> None:
    assert Customer(identifiers=[]).state.name == "Kim Minji"
    assert Customer(name="").state.identifiers == ((PHONE, "821012345678"),)


def test_registering_twice_is_refused_and_a_change_needs_a_customer() -> None:
    customer = Customer()
    refused(
        lambda: customer.handle(command(register=events_pb2.CustomerProfile(name="Again")), at(1)),
        IllegalTransition,
        "customer-exists",
    )
    refused(
        lambda: customers.decide(None, command(change=commands_pb2.ChangeCustomer(vip=True)), at(1)),
        NotFound,
        "customer-not-found",
    )


def test_a_change_carries_the_whole_profile_after_it_and_names_what_changed() -> None:
    customer = Customer(attributes={"plan": "family", "since": "2019"})
    [changed] = customer.change(
        name="Kim Min-ji",
        vip=True,
        set_attributes={"plan": "single"},
        removed_attributes=["since", "never-set"],
    )
    assert isinstance(changed, events_pb2.CustomerChanged)
    assert list(changed.changed) == ["name", "vip", "attributes"]
    assert changed.profile.name == "Kim Min-ji"
    assert [(i.kind, i.value) for i in changed.profile.identifiers] == [(PHONE, "821012345678")]
    state = customer.state
    assert (state.name, state.vip, state.attributes) == ("Kim Min-ji", True, (("plan", "single"),))
    assert (state.registered_at, state.updated_at) == (at(0), at(5))


def test_identifiers_are_replaced_only_when_asked_and_may_all_go_while_a_name_stays() -> None:
    customer = Customer()
    [kept] = customer.change(tier="silver", identifiers=[ident(EMAIL, "x@example.com")])
    assert list(kept.changed) == ["tier"]
    assert customer.state.identifiers == ((PHONE, "821012345678"),)
    [replaced] = customer.change(replace_identifiers=True, identifiers=[ident(EMAIL, "X@example.com")])
    assert list(replaced.changed) == ["identifiers"]
    assert customer.state.identifiers == ((EMAIL, "x@example.com"),)
    customer.change(replace_identifiers=True)
    assert customer.state.identifiers == ()


def test_a_change_may_not_leave_a_customer_with_neither_name_nor_identifier() -> None:
    customer = Customer(name="")
    error = refused(lambda: customer.change(replace_identifiers=True), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["identifiers"]


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "Kim Minji"},
        {"vip": False},
        {"tier": ""},
        {"replace_identifiers": True, "identifiers": [ident(PHONE, "821012345678")]},
        {"removed_attributes": ["never-set"]},
        {},
    ],
)
def test_a_change_that_changes_nothing_is_refused(fields: dict[str, Any]) -> None:
    refused(lambda: Customer().change(**fields), InvalidArgument, "nothing-to-change")


def test_attributes_in_all_stay_within_the_limit() -> None:
    customer = Customer(attributes={f"a{i}": "x" for i in range(50)})
    error = refused(
        lambda: customer.change(set_attributes={"one_more": "x"}), InvalidArgument, "invalid-argument"
    )
    assert violated_fields(error) == ["set_attributes"]


def test_a_customer_snapshot_round_trips() -> None:
    customer = Customer(identifiers=[ident(EMAIL, "a@example.com")], attributes={"plan": "x"})
    customer.change(vip=True)
    codec = StateCodec(customers.CustomerState)
    assert codec.decode(codec.encode(customer.state)) == customer.state


class _Model:
    """The little of a read model an index needs: entries by key, and observers to call."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Versioned[Any]] = {}
        self.observers: list[Any] = []

    def observe(self, observer: Any) -> None:
        self.observers.append(observer)

    def get(self, tenant_id: str, aggregate_id: str) -> Versioned[Any] | None:
        return self.entries.get((tenant_id, aggregate_id))

    def put(self, customer: Customer, tenant_id: str = TENANT) -> None:
        entry = Versioned(customer.state, customer.version, tenant_id, customer.aggregate_id)
        self.entries[(tenant_id, customer.aggregate_id)] = entry
        for observer in self.observers:
            observer(entry)


def test_the_index_finds_a_customer_by_each_identifier_and_follows_changes() -> None:
    model = _Model()
    index = Index(model, customers.identifiers_of)  # type: ignore[arg-type]
    kim = Customer("cu-kim", identifiers=[ident(PHONE, "01012345678"), ident(EMAIL, "kim@example.com")])
    model.put(kim)
    assert [e.aggregate_id for e in index.find(TENANT, "phone:01012345678")] == ["cu-kim"]
    assert [e.aggregate_id for e in index.find(TENANT, "email:kim@example.com")] == ["cu-kim"]
    assert index.find("another-tenant", "phone:01012345678") == []
    kim.change(replace_identifiers=True, identifiers=[ident(EMAIL, "kim@example.com")])
    model.put(kim)
    assert index.find(TENANT, "phone:01012345678") == []
    assert [e.aggregate_id for e in index.find(TENANT, "email:kim@example.com")] == ["cu-kim"]


def test_two_customers_with_one_identifier_are_both_found_the_most_recently_updated_first() -> None:
    model = _Model()
    index = Index(model, customers.identifiers_of)  # type: ignore[arg-type]
    older, newer = Customer("cu-b"), Customer("cu-a")
    newer.change(at_second=9, vip=True)
    model.put(older)
    model.put(newer)
    found = index.find(TENANT, "phone:821012345678")
    assert [e.aggregate_id for e in found] == ["cu-a", "cu-b"]  # by id
    assert [e.aggregate_id for e in most_recent_first(reversed(found))] == ["cu-a", "cu-b"]
    older.change(at_second=20, tier="gold")
    model.put(older)
    assert [e.aggregate_id for e in most_recent_first(index.find(TENANT, "phone:821012345678"))] == [
        "cu-b",
        "cu-a",
    ]
