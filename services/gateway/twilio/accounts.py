"""Which tenant a Twilio account belongs to (CC_TWILIO_ACCOUNTS), and whether a webhook is Twilio's.

Twilio sends no API key: a webhook names its AccountSid, and is signed (`X-Twilio-Signature`) with that
account's auth token over the URL Twilio requested and the form it posted. Only a request whose
signature the `twilio` library's RequestValidator accepts for a configured account gets in."""

from dataclasses import dataclass
from functools import cached_property

from twilio.request_validator import RequestValidator

from services.common.errors import PermissionDenied


@dataclass(frozen=True)
class TwilioAccount:
    account_sid: str
    tenant_id: str
    auth_token: str
    # An integration key of the tenant: what the adapter acts on the services with.
    api_key: str

    @cached_property
    def validator(self) -> RequestValidator:
        return RequestValidator(self.auth_token)


class TwilioAccounts:
    def __init__(self, accounts: list[TwilioAccount]) -> None:
        self._by_sid = {a.account_sid: a for a in accounts}
        self._by_tenant = {a.tenant_id: a for a in accounts}

    @staticmethod
    def parse(text: str) -> "TwilioAccounts":
        """`AccountSid:tenant:auth_token:api_key`, comma-separated; a malformed entry stops the gateway at
        start rather than turning every webhook of that account away."""
        accounts = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            fields = item.split(":")
            if len(fields) != 4 or not all(fields) or not fields[0].startswith("AC"):
                raise ValueError(
                    f"CC_TWILIO_ACCOUNTS: {fields[0][:6]}… needs AccountSid:tenant:auth_token:api_key "
                    "(the AccountSid starts with AC)"
                )
            accounts.append(TwilioAccount(*fields))
        for kind, ids in (
            ("AccountSid", [a.account_sid for a in accounts]),
            ("tenant", [a.tenant_id for a in accounts]),
        ):
            if len(set(ids)) < len(ids):  # the dialer acts on a tenant's calls with its one account
                raise ValueError(f"CC_TWILIO_ACCOUNTS: each {kind} once")
        return TwilioAccounts(accounts)

    def __bool__(self) -> bool:
        return bool(self._by_sid)

    def of_tenant(self, tenant_id: str) -> TwilioAccount | None:
        return self._by_tenant.get(tenant_id)

    def verified(self, url: str, form: dict[str, str], signature: str) -> TwilioAccount:
        """The account of a webhook whose signature is valid for it; PermissionDenied (403) otherwise,
        saying no more than that, since the caller may be anyone."""
        account = self._by_sid.get(form.get("AccountSid", ""))
        if account is None or not signature or not account.validator.validate(url, form, signature):
            raise PermissionDenied("invalid-twilio-signature", "the request is not signed by a known account")
        return account
