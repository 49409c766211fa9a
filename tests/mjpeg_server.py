"""A local MJPEG-over-HTTP camera (multipart/x-mixed-replace) that tests can stall and resume."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np


class MjpegCamera:
    def __init__(self, width: int = 160, height: int = 120, fps: float = 15.0) -> None:
        self.fps = fps
        self.serving = threading.Event()
        self.serving.set()
        self.connections = 0
        self.generation = 0  # bumped on stall: streams of an old generation hang up
        img = np.zeros((height, width, 3), np.uint8)
        cv2.circle(img, (width // 2, height // 2), height // 4, (255, 255, 255), -1)
        self.jpeg = cv2.imencode(".jpg", img)[1].tobytes()
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                cam.connections += 1
                gen = cam.generation
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while True:
                        if not cam.serving.is_set() or gen != cam.generation:
                            # stalled: keep the socket open and silent until told to resume,
                            # then drop this connection so the client must reconnect
                            cam.serving.wait()
                            return
                        part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(cam.jpeg)
                        self.wfile.write(part + cam.jpeg + b"\r\n")
                        self.wfile.flush()
                        time.sleep(1.0 / cam.fps)
                except (OSError, BrokenPipeError, ConnectionResetError):
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stall(self) -> None:
        self.generation += 1
        self.serving.clear()

    def resume(self) -> None:
        self.serving.set()

    def close(self) -> None:
        self.serving.set()
        self.server.shutdown()
