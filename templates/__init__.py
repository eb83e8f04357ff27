"""The built-in Jinja2 templates of the report (installed as the package evalgate.templates)."""
