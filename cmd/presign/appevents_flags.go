package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"presign/control"
	"presign/control/appevents"
)

// appEventFlags configure the application events of "control" and "serve".
type appEventFlags struct {
	webhooks, brokers                          stringList
	secret                                     string
	timeout, minBackoff, maxBackoff, deadAfter time.Duration
	retention                                  time.Duration
	allowPrivate, deliver                      bool
	dns                                        string
}

func (f *appEventFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.webhooks, "app-webhook", "http(s) URL of the application's webhook, which receives every user's upload events, signed with --app-event-secret (repeatable)")
	fs.Var(&f.brokers, "app-broker", "nats://host:port/subject, amqp://user:pass@host:port/vhost?exchange=X&routing_key=K or kafka://host:port/topic that receives every user's upload events (repeatable); see docs/app-events.md")
	fs.StringVar(&f.secret, "app-event-secret", "", "Standard Webhooks secret (whsec_...) signing the events of --app-webhook and --app-broker (default $PRESIGN_APP_EVENT_SECRET)")
	fs.DurationVar(&f.timeout, "app-event-timeout", 10*time.Second, "how long one delivery attempt of an application event may take, connecting included")
	fs.DurationVar(&f.minBackoff, "app-event-min-backoff", appevents.DefaultMinBackoff, "wait before the first retry of a failed application event delivery; it doubles on each failure")
	fs.DurationVar(&f.maxBackoff, "app-event-max-backoff", appevents.DefaultMaxBackoff, "longest wait between delivery attempts of an application event")
	fs.DurationVar(&f.deadAfter, "app-event-dead-after", appevents.DefaultDeadAfter, "an application event delivery still failing this long after the event is dead (kept; redeliverable through the API)")
	fs.DurationVar(&f.retention, "app-event-retention", control.DefaultAppEventRetention, "how long finished application event deliveries and their attempts are kept")
	fs.BoolVar(&f.deliver, "app-event-delivery", true, "deliver application events from this process (off: it only writes them, with the transitions; a replica with it on delivers them)")
	fs.BoolVar(&f.allowPrivate, "webhook-allow-private", false, "let webhooks and brokers that users register reach loopback, private and link-local addresses (the administrator's --app-webhook and --app-broker always may)")
	fs.StringVar(&f.dns, "webhook-dns", "", "DNS server (host:port) resolving the host names of application event endpoints, instead of the system's resolver")
}

// config turns the flags into the service's configuration. envSecret is
// $PRESIGN_APP_EVENT_SECRET.
func (f *appEventFlags) config(envSecret string) (control.AppEventsConfig, error) {
	c := control.AppEventsConfig{
		Secret: f.secret, AllowPrivate: f.allowPrivate, Timeout: f.timeout, Retention: f.retention,
		Retry:    appevents.Retry{Min: f.minBackoff, Max: f.maxBackoff, DeadAfter: f.deadAfter},
		Disabled: !f.deliver,
	}
	if c.Secret == "" {
		c.Secret = envSecret
	}
	for _, u := range f.webhooks {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return c, fmt.Errorf("--app-webhook %s is not an http(s) URL (brokers go in --app-broker)", appevents.Redact(u))
		}
		c.Endpoints = append(c.Endpoints, u)
	}
	for _, u := range f.brokers {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			return c, fmt.Errorf("--app-broker %s is a webhook (give it as --app-webhook)", appevents.Redact(u))
		}
		c.Endpoints = append(c.Endpoints, u)
	}
	if f.timeout < 0 || f.minBackoff < 0 || f.maxBackoff < 0 || f.deadAfter < 0 || f.retention < 0 ||
		(f.maxBackoff > 0 && f.maxBackoff < f.minBackoff) {
		return c, fmt.Errorf("the --app-event-* durations must be positive, and --app-event-max-backoff at least --app-event-min-backoff")
	}
	if f.dns != "" {
		if _, _, err := net.SplitHostPort(f.dns); err != nil {
			return c, fmt.Errorf("--webhook-dns %q: want host:port", f.dns)
		}
		addr := f.dns
		c.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	}
	return c, nil
}
