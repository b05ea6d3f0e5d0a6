from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from asgiref.sync import sync_to_async
from django.db import connections


@pytest_asyncio.fixture
async def close_async_connections() -> AsyncIterator[None]:
    """Close the connections the async ORM opened in asgiref's sync thread.

    Without it PostgreSQL refuses to drop the test database at the end of the
    session ("being accessed by other users").
    """
    yield
    await sync_to_async(connections.close_all)()
