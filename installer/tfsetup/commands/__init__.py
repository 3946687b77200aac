"""One module per command. Each takes plain values, does the work, and returns a result object
(`to_json()` for --json; render.py draws it for people). Nothing here prints, except progress through
the callback it is given."""
