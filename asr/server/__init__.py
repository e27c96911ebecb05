"""`asr serve`: an OpenAI-compatible transcription server on uvicorn + Starlette (see app.py for the routes)."""

from asr.server.run import Server, make_server

__all__ = ["Server", "make_server"]
