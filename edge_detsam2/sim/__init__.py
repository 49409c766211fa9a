"""Synthetic billiard clips: pooltool physics rendered into overhead-camera video.

Only this subpackage imports pooltool (the ``sim`` extra), and only lazily.
"""
