"""One module per command. Each takes plain values, checks them before any work, does the work, and returns
an Outcome (_common.py): `to_json()` for --json, `exit_code` for the process, both decided here; render.show
draws it for people. Nothing here prints, except progress through the callback it is given and explain's
hint on a terminal; questions and stdin go through _common.Terminal. _finish.py: how the process ends."""
