"""Training on synthetic tables: the YOLO detector (ultralytics) and the SAM2 video model."""
