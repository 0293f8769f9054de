import gc

from groups import create_app

app = create_app()

# Compile every template now rather than on its first request, so that they are
# part of what is frozen below.
for name in app.jinja_env.list_templates(extensions=["html"]):
    app.jinja_env.get_template(name)

# What loading made (templates, fonts, routes, models) lives as long as the
# worker: keeping it out of the collector's full passes removes their
# 10-40 ms pauses from page times (make bench).
gc.freeze()
# A page allocates tens of thousands of short-lived objects, nearly all freed by
# reference counting when the request ends; collecting the youngest generation
# every 700 allocations (Python's default) ran it several times per page.
gc.set_threshold(20_000, 20, 20)
