package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"presign/client"
	"presign/internal/testenv/natsenv"
	"presign/internal/testenv/rabbitenv"
)

// Two replicas on one PostgreSQL, a thousand uploads ending at once: the application's webhook
// accepts every ending exactly once, and both replicas' deliverers took part.
func TestReplicasDeliverEachOfAThousandEndingsOnce(t *testing.T) {
	rcv := newAppReceiver(t)
	rs := newReplicaSet(t, append([]string{"--app-webhook", rcv.URL, "--ticket-rate", "0"}, appFlags...)...)
	admin := rs.admin()
	mo, _ := admin.newUser("mo", map[string]any{"max_pending_uploads": 2000})
	const n = 1000
	begin := time.Now()
	ids := make([]string, n)
	tks := make([]ticket, n)
	for i := range tks {
		rs.api(i%2, mo).must(201, "POST", "/v1/uploads", map[string]any{"filename": fmt.Sprintf("f%d.txt", i),
			"size": 8, "content_type": "text/plain"}, &tks[i])
		ids[i] = tks[i].ID
	}
	t.Logf("%d tickets after %v", n, time.Since(begin))
	// The objects land at once; their storage events reach both replicas together.
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range tks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = rawPut(tks[i], []byte(fmt.Sprintf("file%04d", i)))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d objects stored after %v", n, time.Since(begin))
	for rs.fileRows(t, ids) < n {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d uploads completed after %v; %d events accepted", n, time.Since(begin), len(rcv.received()))
	rcv.waitAccepted(t, appSecret, n, 2*time.Minute)
	t.Logf("%d events accepted after %v", n, time.Since(begin))
	time.Sleep(time.Second) // anything delivered twice would show up now
	got := rcv.accepted(t, appSecret)
	byUpload := map[string]int{}
	byEvent := map[string]int{}
	for _, e := range got {
		byUpload[e.Data.UploadID]++
		byEvent[e.ID]++
	}
	for _, id := range ids {
		if byUpload[id] != 1 {
			t.Errorf("upload %s: %d events accepted", id, byUpload[id])
		}
	}
	if len(byEvent) != n || len(got) != n {
		t.Fatalf("%d accepted deliveries of %d distinct events for %d uploads", len(got), len(byEvent), n)
	}
	for i := range rs.replicas {
		if d := rs.replicaMetric(i, "presign_control_app_event_deliveries_total", `result="delivered"`); d == 0 {
			t.Errorf("replica %d delivered nothing", i)
		}
	}
	if d := rs.metricSum("presign_control_app_event_deliveries_total", `result="delivered"`); d != n {
		t.Fatalf("the replicas count %d deliveries", d)
	}
}

// rawPut sends body to the ticket's URL; it is safe to call from any goroutine.
func rawPut(tk ticket, body []byte) error {
	req, err := http.NewRequest("PUT", tk.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range tk.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("PUT %s: %s", tk.ID, resp.Status)
	}
	return nil
}

// brokerUploads uploads n small files through the process and returns their upload ids.
func brokerUploads(t *testing.T, a *api, n int, between func(i int)) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		if between != nil {
			between(i)
		}
		ids[i] = uploadBytes(t, a, fmt.Sprintf("b%d.txt", i), []byte(fmt.Sprintf("broker %d", i)))
	}
	return ids
}

// checkEndings fails t unless the events are one upload.completed per upload id, each once.
func checkEndings(t *testing.T, what string, ids []string, events []*client.AppEvent) {
	t.Helper()
	seen := map[string]int{}
	for _, e := range events {
		if e.Type != client.EventUploadCompleted {
			t.Fatalf("%s: event %s of type %s", what, e.ID, e.Type)
		}
		seen[e.Data.UploadID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("%s: upload %s received %d times", what, id, seen[id])
		}
	}
	if len(events) != len(ids) {
		t.Fatalf("%s: %d events for %d uploads", what, len(events), len(ids))
	}
}

// verifyHeaders verifies a broker message's Standard Webhooks headers and body.
func verifyHeaders(t *testing.T, h http.Header, body []byte) *client.AppEvent {
	t.Helper()
	e, err := client.VerifyAppEvent(appSecret, h, body)
	if err != nil {
		t.Fatalf("broker message: %v", err)
	}
	return e
}

// The control plane publishes to NATS JetStream, RabbitMQ and Kafka at once; the NATS server
// is stopped in the middle of the run and started again. Each consumer receives every ending
// once.
func TestBrokersReceiveEveryEndingOnceAcrossARestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := natsenv.Start(t)
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "PRESIGN_E2E", Subjects: []string{"presign.e2e.>"},
		Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	amqpURL := rabbitenv.URL(t)
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	q := fmt.Sprintf("presign-e2e-%d", time.Now().UnixNano())
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	defer ch.QueueDelete(q, false, false, false)

	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "presign-e2e"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()

	p := serveProcess(t, append([]string{
		"--app-broker", ns.URL + "/presign.e2e",
		"--app-broker", amqpURL + "?routing_key=" + q,
		"--app-broker", "kafka://" + kc.ListenAddrs()[0] + "/presign-e2e",
	}, appFlags...)...)
	admin := adminAPI(t, p)
	mo, _ := admin.newUser("mo", nil)
	const n = 30
	ids := brokerUploads(t, mo, n, func(i int) {
		switch i {
		case n / 3:
			ns.Stop()
		case 2 * n / 3:
			if err := ns.Start(); err != nil {
				t.Fatal(err)
			}
		}
	})

	// NATS: every ending in the stream, once.
	var natsEvents []*client.AppEvent
	deadline := time.Now().Add(60 * time.Second)
	for {
		nc2, err := nats.Connect(ns.URL)
		if err == nil {
			js2, _ := jetstream.New(nc2)
			st, err := js2.Stream(ctx, "PRESIGN_E2E")
			if err == nil {
				if info, err := st.Info(ctx); err == nil && info.State.Msgs >= n {
					natsEvents = natsConsume(t, ctx, st, int(info.State.Msgs))
					nc2.Close()
					break
				}
			}
			nc2.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream never held %d messages", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkEndings(t, "NATS", ids, natsEvents)
	// The outage was real: some NATS deliveries needed more than one attempt.
	var hooks struct {
		Webhooks []struct{ ID, URL string }
	}
	admin.must(200, "GET", "/v1/webhooks", nil, &hooks)
	retried := 0
	for _, h := range hooks.Webhooks {
		if strings.HasPrefix(h.URL, "nats://") {
			var ds deliveriesView
			admin.must(200, "GET", "/v1/webhooks/"+h.ID+"/deliveries?limit=100", nil, &ds)
			for _, d := range ds.Deliveries {
				if d.Attempts > 1 {
					retried++
				}
			}
		}
	}
	if retried == 0 {
		t.Fatal("no NATS delivery was retried: the broker's outage went unnoticed")
	}

	// RabbitMQ.
	var amqpEvents []*client.AppEvent
	deadline = time.Now().Add(30 * time.Second)
	for len(amqpEvents) < n && time.Now().Before(deadline) {
		d, ok, err := ch.Get(q, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		h := http.Header{}
		for k, v := range d.Headers {
			h.Set(k, fmt.Sprint(v))
		}
		amqpEvents = append(amqpEvents, verifyHeaders(t, h, d.Body))
	}
	checkEndings(t, "RabbitMQ", ids, amqpEvents)

	// Kafka.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumeTopics("presign-e2e"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var kafkaEvents []*client.AppEvent
	for len(kafkaEvents) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			h := http.Header{}
			for _, kv := range r.Headers {
				h.Set(kv.Key, string(kv.Value))
			}
			e := verifyHeaders(t, h, r.Value)
			if string(r.Key) != e.Data.UploadID {
				t.Errorf("record key %q for upload %s", r.Key, e.Data.UploadID)
			}
			kafkaEvents = append(kafkaEvents, e)
		})
	}
	checkEndings(t, "Kafka", ids, kafkaEvents)
}

// natsConsume reads n messages of the stream and verifies each.
func natsConsume(t *testing.T, ctx context.Context, st jetstream.Stream, n int) []*client.AppEvent {
	t.Helper()
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*client.AppEvent
	for len(out) < n {
		batch, err := c.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			h := http.Header{}
			for k, v := range m.Headers() {
				h[http.CanonicalHeaderKey(k)] = v
			}
			if !strings.HasPrefix(m.Subject(), "presign.e2e.") {
				t.Fatalf("subject %s", m.Subject())
			}
			out = append(out, verifyHeaders(t, h, m.Data()))
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
