// Package appevents tells an application what became of its uploads: the control plane's
// application events (upload.completed, upload.failed, upload.expired, file.deleted), signed
// the Standard Webhooks way and delivered to a webhook or a message broker.
//
// Start with Event (event.go), the JSON envelope every target receives. Signature and Headers
// (sign.go) sign it; Open (sink.go) returns the Sink for an endpoint URL: a webhook
// (webhook.go, with the egress policy of package internal/egress on every connection), NATS
// JetStream (nats.go), RabbitMQ (amqp.go) or Kafka (kafka.go). The Deliverer (deliverer.go)
// takes deliveries from an Outbox — kept by the control plane's store, where each event is
// written in the same transaction as the upload's transition — and retries them by Retry
// (retry.go) until they are delivered or dead.
//
// The package knows nothing of the control plane's types or of the storage node; the control
// plane fills in Events and implements Outbox.
package appevents
