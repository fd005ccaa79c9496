package appevents_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"presign/control/appevents"
	"presign/internal/egress"
	"presign/internal/testenv/natsenv"
)

// stream creates a JetStream stream for a test's own subjects on the server at url, and returns
// the subject prefix to publish under.
func stream(t *testing.T, url string) (jetstream.Stream, string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := "PRESIGNTEST_" + strings.ToUpper(appevents.NewID()[4:16])
	prefix := "presigntest." + strings.ToLower(name)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var st jetstream.Stream
	for { // a server just started may not yet have JetStream ready
		st, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{prefix + ".>"},
			Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), name) })
	return st, prefix
}

// consume reads every message of the stream, returning their Nats-Msg-Id headers, and checks
// each one's signature and subject.
func consume(t *testing.T, st jetstream.Stream, prefix string, s appevents.Secret) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for uint64(len(ids)) < info.State.Msgs {
		batch, err := c.Fetch(int(info.State.Msgs)-len(ids), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			h := http.Header{}
			for k, v := range m.Headers() {
				h[http.CanonicalHeaderKey(k)] = v
			}
			if err := appevents.Verify(h, m.Data(), s); err != nil {
				t.Fatalf("message %s: %v", h.Get(jetstream.MsgIDHeader), err)
			}
			if !strings.HasPrefix(m.Subject(), prefix+".") || !appevents.Type(strings.TrimPrefix(m.Subject(), prefix+".")).Valid() {
				t.Fatalf("subject %s", m.Subject())
			}
			ids = append(ids, h.Get(jetstream.MsgIDHeader))
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
	}
	return ids
}

func natsOptions(s appevents.Secret) appevents.Options {
	return appevents.Options{Secrets: []appevents.Secret{s}, Egress: egress.Policy{AllowPrivate: true}, Timeout: 2 * time.Second}
}

func TestNATSStreamStoresARepeatedEventOnce(t *testing.T) {
	url := natsenv.URL(t)
	st, prefix := stream(t, url)
	s := appevents.NewSecret()
	sink, err := appevents.Open(url+"/"+prefix, natsOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ms := events(20)
	for _, batch := range [][]appevents.Message{ms, ms[:5]} { // attempts repeated after a lost acknowledgement
		if _, err := sendAll(t.Context(), sink, batch, 4); err != nil {
			t.Fatal(err)
		}
	}
	checkOnce(t, ms, consume(t, st, prefix, s))
}

func TestNATSRefusesLoopbackUnlessAllowed(t *testing.T) {
	url := natsenv.URL(t)
	sink, err := appevents.Open(url+"/presigntest.refused", appevents.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if _, err := sink.Send(t.Context(), testMessage()); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("Send to a loopback broker under the zero egress policy: %v, want refused", err)
	}
}

// The broker stops in the middle of a run and comes back: every event ends up in the stream
// exactly once, retried through the outage and de-duplicated by Nats-Msg-Id.
func TestNATSDeliversEveryEventOnceAcrossABrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts a broker of its own; runs without -short")
	}
	t.Parallel()
	srv := natsenv.Start(t)
	st, prefix := stream(t, srv.URL)
	s := appevents.NewSecret()
	sink, err := appevents.Open(srv.URL+"/"+prefix, natsOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ms := events(300)
	sendAcrossRestart(t, sink, ms, func() error { srv.Stop(); return nil }, srv.Start)
	if _, err := sendAll(t.Context(), sink, ms[:30], 4); err != nil { // repeats after the restart are dropped too
		t.Fatal(err)
	}
	checkOnce(t, ms, consume(t, st, prefix, s))
}
