"""gunicorn settings for the web process: `gunicorn -c config/gunicorn.py config.wsgi`.

Only what differs from gunicorn's defaults, each for a reason of ours. Everything else
(bind, workers) is given on the command line or in `GUNICORN_CMD_ARGS` by the deployment.
"""

# The longest request line (method, target, version) gunicorn passes on: its maximum. Longer
# lines get gunicorn's own plain-text 414, which cannot carry the API's error shape; every
# shorter one reaches Django, which answers a target over
# config.exceptions.MAXIMUM_API_URL_LENGTH (4096) under /api/ with a JSON 414 of its own.
limit_request_line = 8190
