-- When the customer was last emailed about an agent's reply they were not online to see.
ALTER TABLE tickets ADD COLUMN reply_email_at timestamptz;
