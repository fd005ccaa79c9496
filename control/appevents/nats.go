package appevents

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsSink publishes to a JetStream stream with Nats-Msg-Id = the event id, so the stream drops
// a message it already stored (within its duplicate window) when an attempt is repeated after
// a lost acknowledgement.
type natsSink struct {
	server  string // the URL without path and query
	subject string // prefix; the message goes to <subject>.<type>
	o       Options

	mu sync.Mutex
	nc *nats.Conn
	js jetstream.JetStream
}

// natsSubject reads the subject prefix from the URL's path: dot-separated tokens without
// wildcards or spaces.
func natsSubject(u *url.URL) (string, error) {
	s := strings.Trim(u.Path, "/")
	if s == "" {
		return "", fmt.Errorf("%w: a NATS URL names its subject as the path, e.g. nats://host:4222/presign.events", ErrUnsupportedURL)
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n/") {
			return "", fmt.Errorf("%w: NATS subject %q has an empty token, a wildcard or a space", ErrUnsupportedURL, s)
		}
	}
	return s, nil
}

func newNATS(u *url.URL, o Options) (*natsSink, error) {
	subj, err := natsSubject(u)
	if err != nil {
		return nil, err
	}
	server := url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}
	return &natsSink{server: server.String(), subject: subj, o: o}, nil
}

// conn connects at the first Send, and at each Send until a connection succeeds. nats.go then
// reconnects by itself for as long as the sink lives; with its reconnect buffer off, a publish while it is away fails at once and the event
// waits in the outbox instead of in a buffer a crash would lose.
func (s *natsSink) conn() (jetstream.JetStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.js != nil {
		if !s.nc.IsConnected() {
			// Say why, rather than what a publish on a closed connection would say.
			return nil, fmt.Errorf("nats: not connected (%s): %v", s.nc.Status(), s.nc.LastError())
		}
		return s.js, nil
	}
	log := s.o.Logger.With("endpoint", Redact(s.server))
	nc, err := nats.Connect(s.server,
		nats.Name(s.o.Name),
		nats.Timeout(s.o.Timeout),
		nats.SetCustomDialer(s.o.dialer()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS connection lost; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("NATS connection restored") }),
	)
	if err != nil {
		return nil, fmt.Errorf("nats connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	s.nc, s.js = nc, js
	return js, nil
}

func (s *natsSink) Send(ctx context.Context, m Message) (Receipt, error) {
	js, err := s.conn()
	if err != nil {
		return Receipt{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	msg := nats.NewMsg(s.subject + "." + string(m.Type))
	msg.Data = m.Body
	for k, v := range Headers(m.ID, time.Now(), m.Body, s.o.Secrets...) {
		msg.Header[k] = []string{v}
	}
	msg.Header.Set("Content-Type", "application/json")
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.ID)); err != nil {
		return Receipt{}, fmt.Errorf("jetstream publish: %w", err)
	}
	return Receipt{}, nil
}

func (s *natsSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		s.nc.Close()
		s.nc, s.js = nil, nil
	}
	return nil
}
