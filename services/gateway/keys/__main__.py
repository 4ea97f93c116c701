from services.common.runtime import run_service
from services.gateway.keys.app import main

run_service(main())
