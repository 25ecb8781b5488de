"""The network explorer: a passive overlay peer with a live web page and JSON API.

`service.open_explorer(ExplorerConfig(...))` joins the overlay; `server.serve_http(explorer,
"127.0.0.1:8080")` serves `app.ExplorerApp` with hypercorn's trio worker.
"""
