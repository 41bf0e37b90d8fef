-- A re-read item (overlap window, AMQP redelivery) is dead-lettered once, not on every read.
ALTER TABLE dead_letters ADD COLUMN fingerprint TEXT;
CREATE UNIQUE INDEX dead_letters_once ON dead_letters (tenant, source, fingerprint);
