"""Live delivery: the event bus between processes and this process's rooms of sockets."""
