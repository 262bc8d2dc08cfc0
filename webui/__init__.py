"""pnsbox-web: the Flask web UI and REST API. It changes the box only through pnsboxd's
control socket and never imports the kernel-touching code. `webui.app.create_app` builds it."""
