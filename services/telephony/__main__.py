import asyncio

from services.telephony.app import main

asyncio.run(main())
