import uvicorn

from services.common.runtime import collect_young_garbage_less_often, configure_logging
from services.common.settings import get_settings
from services.gateway.main import create_app

settings = get_settings()
configure_logging("gateway")
collect_young_garbage_less_often()
uvicorn.run(
    create_app(settings),
    host=settings.listen_host,
    port=settings.gateway_port,
    log_level="warning",
    # Longer than the idle time of clients' connection pools (httpx 5 s, Go 90 s): a server that closes
    # an idle connection just as a client reuses it fails that request (a POST cannot be retried blindly).
    timeout_keep_alive=settings.cc_http_keep_alive_seconds,
)
