from services.analytics.app import main
from services.common.runtime import run_service

run_service(main())
