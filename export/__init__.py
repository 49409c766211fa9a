"""The export stage (installed as ``edge_detsam2.export``): ONNX and TensorRT artifacts.

Run once on the target machine with ``edge-detsam2 export --config FILE``; the daemon
then loads the artifacts from the cache directory and never builds them itself.
"""
