package appevents

import (
	"context"
	"time"
)

// Outbox is the durable side of delivery, kept in the control plane's store beside the
// uploads: events are written there in the same transaction as the transition they tell of,
// with one delivery per endpoint that subscribed to them. Several replicas share it; a claim's
// lease keeps a delivery with one of them at a time.
type Outbox interface {
	// ClaimDeliveries leases up to limit deliveries due at now — pending, their next attempt
	// at or before now, no unexpired lease — for lease, oldest first. Of one endpoint's
	// deliveries for one upload it returns only the one with the lowest sequence still pending,
	// so an upload's events reach an endpoint in order. Each claim carries a fresh token; until
	// now+lease no other claim (on any replica) returns the delivery.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishDeliveries records the outcomes of claims, all in one transaction. An outcome
	// whose claim token is no longer the delivery's (its lease ran out and another claim took
	// it) changes nothing.
	FinishDeliveries(ctx context.Context, outcomes []Outcome) error
}

// Endpoint is where an application's events go.
type Endpoint struct {
	ID     string
	URL    string
	Secret Secret
	// Trusted endpoints come from the administrator's configuration and may connect to any
	// address; the others get the deliverer's egress policy.
	Trusted bool
}

// Delivery is one event to deliver to one endpoint, as a claim returns it.
type Delivery struct {
	ID       int64  // the store's
	Claim    string // the claim's token; FinishDeliveries matches it
	EventID  string
	Type     Type
	UploadID string
	Sequence int64
	// Since is when this round of attempts began — the event's time, or the last redelivery:
	// Retry.DeadAfter counts from it.
	Since    time.Time
	Body     []byte
	Attempts int // attempts made before this claim
	Endpoint Endpoint
}

// Outcome is what became of a claimed delivery.
type Outcome struct {
	DeliveryID int64
	Claim      string
	// Attempted is false when the deliverer did not try (the endpoint is backing off, or the
	// claim was too old to try safely): only NextAttempt changes.
	Attempted bool
	At        time.Time     // when the attempt started
	Duration  time.Duration // how long it took
	Status    int           // the webhook's HTTP status; 0 for brokers or no answer
	Response  string        // the start of the answer's body
	Error     string        // why it failed; "" when delivered
	Delivered bool
	Dead      bool      // given up: no further attempt
	NextAt    time.Time // the next attempt, when neither delivered nor dead
}
