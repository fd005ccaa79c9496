package appevents_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"presign/control/appevents"
	"presign/internal/egress"
	"presign/internal/testenv/rabbitenv"
)

// queue declares a durable queue of the test's own on the broker at brokerURL, deleted when t
// ends, and returns its name and a channel to it.
func queue(t *testing.T, brokerURL string) (string, *amqp.Channel) {
	t.Helper()
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		t.Fatalf("amqp: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	name := "presigntest-" + strings.ToLower(appevents.NewID()[4:16])
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := amqp.Dial(brokerURL); err == nil {
			if ch, err := c.Channel(); err == nil {
				ch.QueueDelete(name, false, false, false)
			}
			c.Close()
		}
	})
	return name, ch
}

// drain reads every message in the queue, checking each one's signature, persistence and id,
// and returns the ids in the order received.
func drain(t *testing.T, ch *amqp.Channel, q string, s appevents.Secret) []string {
	t.Helper()
	var ids []string
	for {
		d, ok, err := ch.Get(q, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ids
		}
		h := http.Header{}
		for k, v := range d.Headers {
			h.Set(k, fmt.Sprint(v))
		}
		if err := appevents.Verify(h, d.Body, s); err != nil {
			t.Fatalf("message %s: %v", d.MessageId, err)
		}
		if d.DeliveryMode != amqp.Persistent || d.MessageId != h.Get("webhook-id") || d.ContentType != "application/json" ||
			!appevents.Type(d.Type).Valid() {
			t.Fatalf("message %s: mode %d, type %q, content type %q", d.MessageId, d.DeliveryMode, d.Type, d.ContentType)
		}
		ids = append(ids, d.MessageId)
	}
}

func amqpOptions(s appevents.Secret) appevents.Options {
	return appevents.Options{Secrets: []appevents.Secret{s}, Egress: egress.Policy{AllowPrivate: true}, Timeout: 3 * time.Second}
}

func withQuery(base string, kv ...string) string {
	u, _ := url.Parse(base)
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func TestRabbitMQConfirmsEveryEventIntoTheQueue(t *testing.T) {
	broker := rabbitenv.URL(t)
	q, ch := queue(t, broker)
	s := appevents.NewSecret()
	sink, err := appevents.Open(withQuery(broker, "routing_key", q), amqpOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ms := events(50)
	if _, err := sendAll(t.Context(), sink, ms, 8); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, ms, drain(t, ch, q, s))
}

// A message no queue would take is returned by the broker: the attempt fails, so the event
// waits for the application to bind a queue instead of being dropped.
func TestRabbitMQUnroutableEventIsAFailedAttempt(t *testing.T) {
	broker := rabbitenv.URL(t)
	q, ch := queue(t, broker)
	exchange := "presigntest-x-" + strings.ToLower(appevents.NewID()[4:16])
	if err := ch.ExchangeDeclare(exchange, "topic", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	s := appevents.NewSecret()
	sink, err := appevents.Open(withQuery(broker, "exchange", exchange), amqpOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m := testMessage() // upload.completed, routed by its type
	if _, err := sink.Send(t.Context(), m); err == nil || !strings.Contains(err.Error(), "returned") {
		t.Fatalf("Send with no binding: %v, want the broker's return", err)
	}
	if err := ch.QueueBind(q, "upload.*", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Send(t.Context(), m); err != nil {
		t.Fatalf("Send once bound: %v", err)
	}
	deleted := appevents.Message{ID: appevents.NewID(), Type: appevents.FileDeleted, Key: "u1", Body: []byte("{}")}
	if _, err := sink.Send(t.Context(), deleted); err == nil {
		t.Fatal("file.deleted was taken although only upload.* is bound")
	}
	checkOnce(t, []appevents.Message{m}, drain(t, ch, q, s))
}

func TestRabbitMQRefusesLoopbackUnlessAllowed(t *testing.T) {
	broker := rabbitenv.URL(t)
	sink, err := appevents.Open(broker, appevents.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if _, err := sink.Send(t.Context(), testMessage()); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("Send to a loopback broker under the zero egress policy: %v, want refused", err)
	}
}

// The broker stops in the middle of a run and comes back: every event reaches the durable
// queue. RabbitMQ cannot drop a repeated publish, so an attempt whose confirmation was lost
// in the stop may leave a second copy — with the same message id, for the consumer to drop —
// but never more copies than failed attempts.
func TestRabbitMQDeliversEveryEventAcrossABrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts a broker of its own; runs without -short")
	}
	t.Parallel()
	node := rabbitenv.Start(t)
	q, _ := queue(t, node.URL)
	s := appevents.NewSecret()
	sink, err := appevents.Open(withQuery(node.URL, "routing_key", q), amqpOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ms := events(300)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	failed := sendAcrossRestart(t, sink, ms, func() error { return node.StopBroker(ctx) },
		func() error { return node.StartBroker(ctx) })
	conn, err := amqp.Dial(node.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, ch, q, s)
	seen := map[string]bool{}
	var unique []string
	for _, id := range got {
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	checkOnce(t, ms, unique)
	if dups := int64(len(got) - len(unique)); dups > failed {
		t.Fatalf("%d duplicates from %d failed attempts", dups, failed)
	}
	t.Logf("%d failed attempts during the outage, %d duplicates", failed, len(got)-len(unique))
}
