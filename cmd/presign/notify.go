package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"presign/events/outbox"
	"presign/storage"
)

// notifyFlags configure the storage node's webhook targets.
type notifyFlags struct {
	urls, secrets stringList
	maxBackoff    time.Duration
	lanes         int
	// client, when set, delivers instead of the deliverer's default client (inside "presign
	// serve" over HTTPS: one that trusts the process's own certificate).
	client *http.Client
}

func (f *notifyFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.urls, "notify-url", "webhook that receives the node's object events (repeatable)")
	fs.Var(&f.secrets, "notify-secret", "HMAC secret of the matching --notify-url (repeatable; one secret serves all URLs; default $PRESIGN_NOTIFY_SECRET)")
	fs.DurationVar(&f.maxBackoff, "notify-max-backoff", 5*time.Minute, "longest wait between delivery attempts to a failing webhook")
	fs.IntVar(&f.lanes, "notify-lanes", 32, "events delivered to each webhook at once (each object key's events stay in order); more keeps up with more uploads per second")
}

// targets pairs each URL with its secret.
func (f *notifyFlags) targets(envSecret string) ([]outbox.Target, error) {
	secrets := f.secrets
	if len(secrets) == 0 && envSecret != "" {
		secrets = stringList{envSecret}
	}
	if len(f.urls) == 0 {
		if len(f.secrets) > 0 {
			return nil, errors.New("--notify-secret given without --notify-url")
		}
		return nil, nil
	}
	if len(secrets) != 1 && len(secrets) != len(f.urls) {
		return nil, fmt.Errorf("%d --notify-url but %d secrets: give one secret for all, or one per URL", len(f.urls), len(secrets))
	}
	var ts []outbox.Target
	for i, raw := range f.urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--notify-url %q is not an http(s) URL", raw)
		}
		secret := secrets[0]
		if len(secrets) > 1 {
			secret = secrets[i]
		}
		if len(secret) < 16 {
			return nil, fmt.Errorf("the secret of --notify-url %s is shorter than 16 characters", u.Redacted())
		}
		ts = append(ts, outbox.Target{Name: fmt.Sprintf("webhook-%d", i+1), URL: raw, Secret: []byte(secret)})
	}
	return ts, nil
}

// notifier is the node's durable event log and, when targets are configured, its delivery.
type notifier struct {
	log       *outbox.Log
	deliverer *outbox.Deliverer
	cancel    context.CancelFunc
	done      chan struct{}
}

func openNotifier(ctx context.Context, dir string, targets []outbox.Target, maxBackoff time.Duration, lanes int, client *http.Client, reg prometheus.Registerer, log *slog.Logger) (*notifier, error) {
	ol, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{Registerer: reg, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("event outbox: %w", err)
	}
	n := &notifier{log: ol}
	if len(targets) == 0 {
		if ol.Len() > 0 {
			log.Warn("the event outbox holds undelivered events but no --notify-url is set; they wait", "events", ol.Len())
		}
		return n, nil
	}
	d, err := outbox.NewDeliverer(ol, targets, outbox.DelivererOptions{Lanes: lanes, MaxBackoff: maxBackoff, Client: client, Logger: log, Registerer: reg})
	if err != nil {
		ol.Close()
		return nil, err
	}
	n.deliverer = d
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel, n.done = cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		if err := d.Run(dctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("event delivery stopped", "err", err)
		}
	}()
	return n, nil
}

// eventLog is where the node records its events: the outbox when some webhook will receive
// them, none otherwise — an event nobody is configured to receive would only grow the log
// (events recorded before a restart without --notify-url wait there for the next start with
// one).
func (n *notifier) eventLog() storage.EventLog {
	if n.deliverer == nil {
		return nil
	}
	return n.log
}

// close stops delivery, then closes the log: undelivered events stay for the next start.
func (n *notifier) close() error {
	if n.deliverer != nil {
		n.cancel()
		<-n.done
		n.deliverer.Close()
	}
	return n.log.Close()
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
