"""One blueprint per area; the factory registers them in this order."""

from . import admin, auth, main

BLUEPRINTS = [auth.bp, main.bp, admin.bp]
