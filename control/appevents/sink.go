package appevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"presign/internal/egress"
)

// Message is one event as a sink sends it.
type Message struct {
	ID   string // the event id: webhook-id, Nats-Msg-Id, the AMQP message id, a Kafka header
	Type Type
	// Key orders and partitions: the upload id (a Kafka record key, so one upload's events
	// stay in one partition in order).
	Key  string
	Body []byte // the Event's JSON, the same bytes on every attempt
}

// Receipt is what a target answered to one attempt.
type Receipt struct {
	// Status is the HTTP status of a webhook's answer; 0 for brokers and when there was none.
	Status int
	// Response is the start of the answer's body (at most ResponseExcerpt bytes), for the
	// delivery log; brokers leave it empty.
	Response string
	// RetryAfter is how long a webhook asked to wait before the next attempt (Retry-After).
	RetryAfter time.Duration
}

// ResponseExcerpt is how much of a webhook's answer a Receipt keeps.
const ResponseExcerpt = 512

// Sink sends messages to one target. Send returns nil only once the target has taken the
// message for good: a webhook answered 2xx, JetStream acknowledged it as stored, RabbitMQ
// confirmed it and routed it to a queue, Kafka acknowledged it from every in-sync replica. Any
// error means "try again later"; the Receipt describes the attempt either way.
//
// Sinks are safe for concurrent use. Close releases the connections.
type Sink interface {
	Send(ctx context.Context, m Message) (Receipt, error)
	Close() error
}

// Options configure a sink.
type Options struct {
	// Secrets sign every message (Standard Webhooks headers). A webhook needs one; a broker
	// message is signed when there is one.
	Secrets []Secret
	// Egress is which addresses the sink may connect to: after DNS resolution, on every
	// connection (see package egress). Endpoints users register get the zero Policy unless an
	// administrator allows private addresses; endpoints from the configuration are trusted.
	Egress egress.Policy
	// Resolver resolves host names when not nil (tests point it at their own DNS server).
	Resolver *net.Resolver
	// Timeout bounds one attempt, connecting included (default 10 s).
	Timeout time.Duration
	// Name identifies presign to the broker (a client name); default "presign".
	Name string
	// HTTPClient sends webhooks when not nil, so endpoints with the same Egress can share
	// connections; build it with NewHTTPClient, which applies Egress. Nil builds one per sink.
	HTTPClient *http.Client
	// Logger receives the sink's connection events; nil means slog.Default(). URLs are
	// logged without credentials.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Name == "" {
		o.Name = "presign"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// dialer is the sink's net.Dialer: the egress policy on every connection, the resolver, the
// timeout.
func (o Options) dialer() *net.Dialer {
	d := o.Egress.Dialer(o.Timeout)
	d.Resolver = o.Resolver
	return d
}

// ErrUnsupportedURL is wrapped by Open and CheckURL for a URL of no known kind.
var ErrUnsupportedURL = errors.New("appevents: unsupported endpoint URL")

// Schemes lists the URL schemes Open accepts.
var Schemes = []string{"https", "http", "nats", "tls", "amqp", "amqps", "kafka"}

// CheckURL reports whether raw is an endpoint URL Open accepts, without connecting: one of
// Schemes with a host and what the kind needs (a NATS subject, a Kafka topic). It returns the
// URL's hosts, for the egress check at registration.
func CheckURL(raw string) (hosts []string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedURL, redactErr(err, raw))
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %s has no host", ErrUnsupportedURL, Redact(raw))
	}
	switch u.Scheme {
	case "http", "https":
		if u.User != nil {
			return nil, fmt.Errorf("%w: a webhook URL carries no user info (sign with the secret instead)", ErrUnsupportedURL)
		}
	case "nats", "tls":
		if _, err := natsSubject(u); err != nil {
			return nil, err
		}
	case "amqp", "amqps":
	case "kafka":
		k, err := parseKafkaURL(u)
		if err != nil {
			return nil, err
		}
		for _, b := range k.brokers {
			h, _, err := net.SplitHostPort(b)
			if err != nil {
				return nil, fmt.Errorf("%w: kafka broker %q: %v", ErrUnsupportedURL, b, err)
			}
			hosts = append(hosts, h)
		}
		return hosts, nil
	default:
		return nil, fmt.Errorf("%w: scheme %q (want one of %s)", ErrUnsupportedURL, u.Scheme, strings.Join(Schemes, ", "))
	}
	return []string{u.Hostname()}, nil
}

// Open returns the sink for the URL:
//
//	https://host/path, http://...          a webhook: POST the event, signed
//	nats://[user:pass@]host:port/subject    NATS JetStream: publish to subject.<type>
//	amqp://user:pass@host:port/vhost?exchange=X&routing_key=K    RabbitMQ (amqps:// for TLS)
//	kafka://host:port/topic?brokers=h2:p,h3:p[&tls=true][&sasl=plain|scram-sha-256|scram-sha-512]
//
// Brokers connect lazily, at the first Send, so a broker that is down when presign starts only
// delays delivery.
func Open(raw string, o Options) (Sink, error) {
	if _, err := CheckURL(raw); err != nil {
		return nil, err
	}
	u, _ := url.Parse(raw)
	o = o.withDefaults()
	switch u.Scheme {
	case "http", "https":
		return newWebhook(u, o)
	case "nats", "tls":
		return newNATS(u, o)
	case "amqp", "amqps":
		return newAMQP(u, o)
	default:
		return newKafka(u, o)
	}
}

// Redact returns the URL without its user info and query, which may hold credentials, for
// logs and for the API's answers.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String()
}

// redactErr keeps the URL out of a parse error.
func redactErr(err error, raw string) string {
	return strings.ReplaceAll(err.Error(), raw, "(URL)")
}
