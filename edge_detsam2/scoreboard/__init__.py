"""The reference web scoreboard: a client of the public MQTT topics (INTERFACES.md) only.

``edge-detsam2 scoreboard --config FILE`` subscribes to every table under the configured
prefix (``hub.py``) and serves a live page over Server-Sent Events (``server.py``,
``static/``). It reads nothing the daemon does not publish, which keeps the contract honest.
"""
