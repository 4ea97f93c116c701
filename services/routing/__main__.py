import asyncio

from services.routing.app import main

asyncio.run(main())
