"""What a user can do; one transaction each, events and emails after commit."""
