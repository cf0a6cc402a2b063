"""srelab items service: Flask + Redis, served by granian under a drain supervisor (server.py)."""
