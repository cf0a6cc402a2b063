"""srelab items service: Flask + Redis, run by gunicorn (see services/web/gunicorn.conf.py)."""
