"""A tiny TCP service for the tests: accepts connections on ``argv[1]`` and echoes one line."""

import socket
import sys
import threading


def serve(conn: socket.socket) -> None:
    with conn:
        data = conn.recv(1024)
        if data:
            conn.sendall(data)


listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("echo listening", flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
