import asyncio

from services.ticketing.app import main

asyncio.run(main())
