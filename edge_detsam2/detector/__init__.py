"""Object detection: the ``Detections`` currency and the ultralytics YOLO backend."""
