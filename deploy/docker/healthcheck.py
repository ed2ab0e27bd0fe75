"""The image's HEALTHCHECK: GET /healthz on the port the effective configuration names
(mirror.http_port,
from the image's defaults and the mounted config), so moving the port moves the check with it."""

import os
import sys
import urllib.request

from syncer.config import load_settings
from syncer.core.config_text import find_config

settings = load_settings(find_config(None, dict(os.environ)))
if not settings.mirror.http_port:
    sys.exit("mirror.http_port is not set: the mirror serves no /healthz")
urllib.request.urlopen(f"http://127.0.0.1:{settings.mirror.http_port}/healthz", timeout=4)
