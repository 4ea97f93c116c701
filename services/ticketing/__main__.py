from services.common.runtime import run_service
from services.ticketing.app import main

run_service(main())
