-- A paid Checkout Session credits once, whichever events announce it: Stripe sends both
-- checkout.session.completed and checkout.session.async_payment_succeeded (each with its
-- own event id) for a delayed payment. Rows recorded before this migration have no session.
ALTER TABLE stripe_events ADD COLUMN IF NOT EXISTS session_id text;
CREATE UNIQUE INDEX IF NOT EXISTS stripe_events_session_unique ON stripe_events (session_id);
