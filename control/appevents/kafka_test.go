package appevents_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"presign/control/appevents"
	"presign/internal/egress"
)

const kafkaTopic = "presign-events"

// kafkaCluster runs franz-go's in-process Kafka cluster, three brokers on 127.0.0.1, with the
// topic in three partitions.
func kafkaCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(3, kafkaTopic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func kafkaURL(c *kfake.Cluster, userinfo string) string {
	addrs := c.ListenAddrs()
	return "kafka://" + userinfo + addrs[0] + "/" + kafkaTopic + "?brokers=" + strings.Join(addrs[1:], ",")
}

// records consumes the whole topic, checking signatures, and returns the records.
func records(t *testing.T, c *kfake.Cluster, want int, s appevents.Secret, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(kafkaTopic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			h := http.Header{}
			for _, kv := range r.Headers {
				h.Set(kv.Key, string(kv.Value))
			}
			if err := appevents.Verify(h, r.Value, s); err != nil {
				t.Errorf("record at %d/%d: %v", r.Partition, r.Offset, err)
			}
			out = append(out, r)
		})
	}
	// Anything beyond want would be a duplicate: give it a moment to show up.
	short, cancel2 := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel2()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	return out
}

func recordIDs(rs []*kgo.Record) []string {
	var ids []string
	for _, r := range rs {
		for _, h := range r.Headers {
			if h.Key == "webhook-id" {
				ids = append(ids, string(h.Value))
			}
		}
	}
	return ids
}

func kafkaOptions(s appevents.Secret) appevents.Options {
	return appevents.Options{Secrets: []appevents.Secret{s}, Egress: egress.Policy{AllowPrivate: true}, Timeout: 5 * time.Second}
}

func TestKafkaProducesEveryEventOnceKeyedByUpload(t *testing.T) {
	c := kafkaCluster(t)
	s := appevents.NewSecret()
	sink, err := appevents.Open(kafkaURL(c, ""), kafkaOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ms := events(100)
	for i := range ms {
		ms[i].Key = "upload-" + string(rune('a'+i%7)) // seven uploads, several events each
	}
	if _, err := sendAll(t.Context(), sink, ms, 8); err != nil {
		t.Fatal(err)
	}
	rs := records(t, c, len(ms), s)
	checkOnce(t, ms, recordIDs(rs))
	partition := map[string]int32{}
	for _, r := range rs {
		if p, ok := partition[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("upload %s in partitions %d and %d", r.Key, p, r.Partition)
		}
		partition[string(r.Key)] = r.Partition
	}
}

// Produce requests fail for a while (the broker drops the connection, as when it goes away):
// the idempotent producer and the retries leave each event in the topic exactly once.
func TestKafkaDeliversEveryEventOnceThroughBrokerFailures(t *testing.T) {
	c := kafkaCluster(t)
	var dropped atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if dropped.Add(1) <= 3 {
			return nil, errors.New("broker going away"), true
		}
		return nil, nil, false
	})
	s := appevents.NewSecret()
	sink, err := appevents.Open(kafkaURL(c, ""), kafkaOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ms := events(60)
	if _, err := sendAll(t.Context(), sink, ms, 8); err != nil {
		t.Fatal(err)
	}
	if dropped.Load() <= 3 {
		t.Fatalf("only %d produce requests reached the broker", dropped.Load())
	}
	checkOnce(t, ms, recordIDs(records(t, c, len(ms), s)))
}

func TestKafkaAuthenticatesWithSASL(t *testing.T) {
	c := kafkaCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "presign", "pw-1"),
		kfake.Superuser("SCRAM-SHA-256", "presign", "pw-2"))
	s := appevents.NewSecret()
	for _, u := range []string{kafkaURL(c, "presign:pw-1@"), kafkaURL(c, "presign:pw-2@") + "&sasl=scram-sha-256"} {
		sink, err := appevents.Open(u, kafkaOptions(s))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sink.Send(t.Context(), testMessage()); err != nil {
			t.Fatalf("Send with %s: %v", appevents.Redact(u), err)
		}
		sink.Close()
	}
	o := kafkaOptions(s)
	o.Timeout = time.Second
	sink, _ := appevents.Open(kafkaURL(c, "presign:wrong@"), o)
	defer sink.Close()
	if _, err := sink.Send(t.Context(), testMessage()); err == nil {
		t.Fatal("a wrong password produced")
	}
}

func TestKafkaRefusesLoopbackUnlessAllowed(t *testing.T) {
	c := kafkaCluster(t)
	sink, err := appevents.Open(kafkaURL(c, ""), appevents.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if _, err := sink.Send(t.Context(), testMessage()); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("Send to a loopback cluster under the zero egress policy: %v, want refused", err)
	}
}
