import asyncio

from services.analytics.app import main

asyncio.run(main())
