"""ASGI entry point for production servers: `uvicorn api.asgi:app --workers N`."""

from api.main import create_app

app = create_app()
