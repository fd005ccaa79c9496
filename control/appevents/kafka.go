package appevents

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaURL is what a kafka:// URL says.
type kafkaURL struct {
	brokers []string
	topic   string
	tls     bool
	mech    sasl.Mechanism
}

// parseKafkaURL reads kafka://host:port/topic?brokers=h2:p,h3:p&tls=true&sasl=plain with the
// SASL user and password as the URL's user info.
func parseKafkaURL(u *url.URL) (kafkaURL, error) {
	var k kafkaURL
	k.topic = strings.Trim(u.Path, "/")
	if k.topic == "" || strings.ContainsAny(k.topic, "/ ") || len(k.topic) > 249 {
		return k, fmt.Errorf("%w: a Kafka URL names its topic as the path, e.g. kafka://host:9092/presign-events", ErrUnsupportedURL)
	}
	k.brokers = []string{u.Host}
	q := u.Query()
	for _, b := range strings.Split(q.Get("brokers"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			k.brokers = append(k.brokers, b)
		}
	}
	for _, b := range k.brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return k, fmt.Errorf("%w: Kafka broker %q needs host:port", ErrUnsupportedURL, b)
		}
	}
	switch q.Get("tls") {
	case "", "false":
	case "true":
		k.tls = true
	default:
		return k, fmt.Errorf("%w: tls=%q (want true or false)", ErrUnsupportedURL, q.Get("tls"))
	}
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	mech := q.Get("sasl")
	if mech == "" && u.User != nil {
		mech = "plain"
	}
	switch mech {
	case "":
	case "plain":
		k.mech = plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "scram-sha-256":
		k.mech = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case "scram-sha-512":
		k.mech = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	default:
		return k, fmt.Errorf("%w: sasl=%q (want plain, scram-sha-256 or scram-sha-512)", ErrUnsupportedURL, mech)
	}
	if k.mech != nil && user == "" {
		return k, fmt.Errorf("%w: SASL needs the user (and password) as the URL's user info", ErrUnsupportedURL)
	}
	return k, nil
}

// kafkaSink produces to one topic with franz-go's idempotent producer (acks from all in-sync
// replicas; the broker drops the producer's own retries), keyed by upload id so an upload's
// events stay in order in one partition.
type kafkaSink struct {
	k kafkaURL
	o Options

	mu      sync.Mutex
	cl      *kgo.Client
	dialErr error // the last failed connection's error, which a timed-out produce does not say
}

func newKafka(u *url.URL, o Options) (*kafkaSink, error) {
	k, err := parseKafkaURL(u)
	if err != nil {
		return nil, err
	}
	return &kafkaSink{k: k, o: o}, nil
}

// client is made at the first Send; franz-go connects to the brokers as it needs them and
// reconnects by itself.
func (s *kafkaSink) client() (*kgo.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl != nil {
		return s.cl, nil
	}
	d := s.o.dialer()
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.k.brokers...),
		kgo.ClientID(s.o.Name),
		kgo.DefaultProduceTopic(s.k.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(s.o.Timeout),
		kgo.ProducerLinger(0),
		// After a failed produce the client refreshes metadata, at most once per this age (5 s
		// by default): a second keeps a broker failover from holding events back for long.
		kgo.MetadataMinAge(time.Second),
		kgo.DialTimeout(s.o.Timeout),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, host)
			s.mu.Lock()
			s.dialErr = err
			s.mu.Unlock()
			if err != nil || !s.k.tls {
				return c, err
			}
			h, _, _ := net.SplitHostPort(host)
			tc := tls.Client(c, &tls.Config{ServerName: h, MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		}),
	}
	if s.k.mech != nil {
		opts = append(opts, kgo.SASL(s.k.mech))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	s.cl = cl
	return cl, nil
}

func (s *kafkaSink) Send(ctx context.Context, m Message) (Receipt, error) {
	cl, err := s.client()
	if err != nil {
		return Receipt{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	rec := &kgo.Record{Key: []byte(m.Key), Value: m.Body, Timestamp: time.Now()}
	for k, v := range Headers(m.ID, rec.Timestamp, m.Body, s.o.Secrets...) {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	rec.Headers = append(rec.Headers,
		kgo.RecordHeader{Key: "content-type", Value: []byte("application/json")},
		kgo.RecordHeader{Key: "event-type", Value: []byte(m.Type)})
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		s.mu.Lock()
		dialErr := s.dialErr
		s.mu.Unlock()
		if dialErr != nil {
			return Receipt{}, fmt.Errorf("kafka produce: %w (connecting: %w)", err, dialErr)
		}
		return Receipt{}, fmt.Errorf("kafka produce: %w", err)
	}
	return Receipt{}, nil
}

func (s *kafkaSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl != nil {
		s.cl.Close()
		s.cl = nil
	}
	return nil
}
