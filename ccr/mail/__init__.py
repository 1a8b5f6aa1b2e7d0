"""Email: templates, the SMTP/file sender and the outbox worker."""
