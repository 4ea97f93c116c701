"""Twilio accounts (CC_TWILIO_ACCOUNTS) and the webhook signature check, with requests signed by the
`twilio` library itself."""

import pytest
from twilio.request_validator import RequestValidator

from services.common.errors import PermissionDenied
from services.gateway.twilio.accounts import TwilioAccounts

SID, TOKEN = "AC" + "0" * 32, "secret-token"
URL = "https://cc.example.com/v1/adapters/twilio/voice"
FORM = {"AccountSid": SID, "CallSid": "CA1", "From": "+821012345678", "To": "+8215880000"}
ACCOUNTS = TwilioAccounts.parse(f"{SID}:acme:{TOKEN}:acme-adapter-key, AC1:globex:t2:k2")


def signed(url: str = URL, form: dict[str, str] = FORM, token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


def test_a_request_signed_with_the_accounts_token_gets_its_tenant() -> None:
    account = ACCOUNTS.verified(URL, FORM, signed())

    assert (account.tenant_id, account.api_key) == ("acme", "acme-adapter-key")
    assert ACCOUNTS.of_tenant("globex") is not None and ACCOUNTS.of_tenant("initech") is None


@pytest.mark.parametrize(
    "url, form, signature",
    [
        (URL, FORM, ""),  # not signed
        (URL, FORM, signed(token="another-token")),  # signed with another token
        (URL + "?call_id=x", FORM, signed()),  # for another URL
        (URL, {**FORM, "Digits": "1"}, signed()),  # over another form
        (URL, {**FORM, "AccountSid": "AC9"}, signed(form={**FORM, "AccountSid": "AC9"})),  # unknown account
    ],
)
def test_anything_else_is_refused(url: str, form: dict[str, str], signature: str) -> None:
    with pytest.raises(PermissionDenied) as refused:
        ACCOUNTS.verified(url, form, signature)

    assert refused.value.error_id == "invalid-twilio-signature"


@pytest.mark.parametrize("text", ["AC1:acme:token", "AC1:acme::key", "XX1:acme:token:key", "AC1:a:b:c:d"])
def test_a_malformed_account_stops_the_start(text: str) -> None:
    with pytest.raises(ValueError, match="AccountSid:tenant:auth_token:api_key"):
        TwilioAccounts.parse(text)


@pytest.mark.parametrize("text", ["AC1:acme:t:k,AC1:globex:t:k", "AC1:acme:t:k,AC2:acme:t:k"])
def test_an_account_or_a_tenant_named_twice_stops_the_start(text: str) -> None:
    with pytest.raises(ValueError, match="once"):
        TwilioAccounts.parse(text)


def test_no_accounts_no_adapter() -> None:
    assert not TwilioAccounts.parse("")
    assert ACCOUNTS
