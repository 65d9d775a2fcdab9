-- The recipients the mail server has accepted an email for, as a JSON list. An email goes to each
-- recipient in an SMTP transaction of its own, so one refused address does not stop the others,
-- and a retry goes only to those not yet accepted.
ALTER TABLE outbox ADD COLUMN delivered_to TEXT NOT NULL DEFAULT '[]';
