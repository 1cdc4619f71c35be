-- The recipient acknowledged a routed business message. Set by the ack statement
-- itself (the one that deletes the delivery rows), only for an ack by a device of the
-- route's recipient identity, so the fact is durable the moment the ack is: no later
-- step (push, RCS, SMS) hands anything to a provider for a message the customer has,
-- even if the process dies before the router finishes the route. Not indexed: the ack
-- finds routes by `routes_by_envelope`, and an update that touches no indexed column
-- stays a HOT update.
ALTER TABLE routes ADD COLUMN acked_at timestamptz;
