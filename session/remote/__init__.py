"""A running session seen from other processes: a Unix socket that ``framedeck attach``
and ``framedeck status`` open (server.py), the line protocol (protocol.py), finding the
sockets (paths.py) and the client side of a connection (client.py). No textual here."""
