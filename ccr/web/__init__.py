"""The face: pages, the JSON API and the WebSocket endpoints."""
