from services.common.runtime import run_service
from services.routing.app import main

run_service(main())
