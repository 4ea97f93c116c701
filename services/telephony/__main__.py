from services.common.runtime import run_service
from services.telephony.app import main

run_service(main())
