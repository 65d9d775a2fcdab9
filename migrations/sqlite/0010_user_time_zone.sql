-- A user's own time zone (IANA name), chosen on the account page. NULL: the zone of the device
-- they use, else the installation's.
ALTER TABLE users ADD COLUMN time_zone TEXT;
