"""The web console's session: sign in with an API key (a user's or a development key) and the gateway
keeps it in an HttpOnly, SameSite=Strict cookie. A browser's EventSource cannot send headers, so the
live streams need the cookie; and no script of the page can read the key (nothing in local storage).
SameSite=Strict keeps other sites' pages from sending it, and a change made with it must come from the
console's own origin (deps.same_origin). An X-API-Key header still wins over it."""

from fastapi import APIRouter, Request, Response

from services.common.errors import Unauthenticated
from services.common.keys import KeyRing
from services.gateway.deps import SESSION_COOKIE, AuthenticatedCaller
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import SessionView, SignIn

router = APIRouter(prefix="/v1/session", tags=["session"], responses=ERROR_RESPONSES)


@router.post("", summary="Sign in: the key is kept in an HttpOnly session cookie")
async def sign_in(body: SignIn, request: Request, response: Response) -> SessionView:
    keys: KeyRing = request.app.state.keys
    credential = keys.authenticate(body.api_key)
    if credential is None:
        raise Unauthenticated("invalid-api-key", "the key is not one this platform issued, or it was revoked")
    response.set_cookie(
        SESSION_COOKIE, body.api_key, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )
    return SessionView.of(credential)


@router.get("", summary="Who the session (or the X-API-Key header) is: tenant, role, name")
async def whoami(who: AuthenticatedCaller) -> SessionView:
    return SessionView.of(who.credential)


@router.delete("", status_code=204, summary="Sign out: the session cookie is removed")
async def sign_out(request: Request) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )
    return response


def _secure(request: Request) -> bool:
    """Over HTTPS, also where a proxy ended TLS (a Secure cookie is never the wrong choice there)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
