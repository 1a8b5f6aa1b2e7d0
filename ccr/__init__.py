"""Customer Care Registry: a self-hosted helpdesk with real live chat."""
