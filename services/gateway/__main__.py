import uvicorn

from services.common.runtime import configure_logging
from services.common.settings import get_settings
from services.gateway.main import create_app

settings = get_settings()
configure_logging("gateway")
uvicorn.run(create_app(settings), host=settings.grpc_host, port=settings.gateway_port, log_level="warning")
