package appevents

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// amqpSink publishes persistent messages with publisher confirms and the mandatory flag: a
// message counts as delivered when the broker confirmed it and did not return it as
// unroutable, so a missing queue or binding delays delivery instead of dropping the event.
type amqpSink struct {
	uri        string // the URL without the sink's own query parameters
	exchange   string
	routingKey string // "" routes by the event type
	o          Options

	mu       sync.Mutex
	conn     *amqp.Connection
	ch       *amqp.Channel
	returns  chan amqp.Return
	returned map[string]bool // message ids the broker returned, drained from returns
}

// returnBuffer bounds the unrouted messages awaiting their publisher; every Send drains it.
const returnBuffer = 4096

func newAMQP(u *url.URL, o Options) (*amqpSink, error) {
	q := u.Query()
	s := &amqpSink{exchange: q.Get("exchange"), routingKey: q.Get("routing_key"), o: o}
	q.Del("exchange")
	q.Del("routing_key")
	c := *u
	c.RawQuery = q.Encode()
	s.uri = c.String()
	if _, err := amqp.ParseURI(s.uri); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedURL, redactErr(err, s.uri))
	}
	return s, nil
}

// channel returns the open confirm-mode channel, connecting first when there is none (at the
// first Send, and after the broker went away).
func (s *amqpSink) channel() (*amqp.Channel, error) {
	if s.ch != nil && !s.ch.IsClosed() {
		return s.ch, nil
	}
	s.closeLocked()
	d := s.o.dialer()
	conn, err := amqp.DialConfig(s.uri, amqp.Config{
		Properties: amqp.Table{"connection_name": s.o.Name},
		Heartbeat:  10 * time.Second,
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := d.Dial(network, addr)
			if err != nil {
				return nil, err
			}
			// A deadline for the handshake, which the library clears once it is open.
			if err := c.SetDeadline(time.Now().Add(s.o.Timeout)); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("amqp connect: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("amqp channel: %w", err)
	}
	s.conn, s.ch = conn, ch
	s.returns = ch.NotifyReturn(make(chan amqp.Return, returnBuffer))
	s.returned = map[string]bool{}
	return ch, nil
}

// drainReturns moves the returns the library has handed over into s.returned. The library
// hands over a message's return before it processes the message's confirmation, so after a
// confirmation a drain sees the return if there was one.
func (s *amqpSink) drainReturns() {
	for {
		select {
		case r, ok := <-s.returns:
			if !ok {
				return
			}
			s.returned[r.MessageId] = true
		default:
			return
		}
	}
}

func (s *amqpSink) Send(ctx context.Context, m Message) (Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	s.mu.Lock()
	ch, err := s.channel()
	if err == nil {
		s.drainReturns()
		delete(s.returned, m.ID) // a stale return of an earlier attempt says nothing of this one
	}
	s.mu.Unlock()
	if err != nil {
		return Receipt{}, err
	}
	key := s.routingKey
	if key == "" {
		key = string(m.Type)
	}
	now := time.Now()
	headers := amqp.Table{}
	for k, v := range Headers(m.ID, now, m.Body, s.o.Secrets...) {
		headers[k] = v
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, s.exchange, key, true, false, amqp.Publishing{
		Headers:      headers,
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    m.ID,
		Timestamp:    now,
		Type:         string(m.Type),
		AppId:        s.o.Name,
		Body:         m.Body,
	})
	if err != nil {
		return Receipt{}, fmt.Errorf("amqp publish: %w", err)
	}
	acked, err := dc.WaitContext(ctx)
	if err != nil {
		return Receipt{}, fmt.Errorf("amqp confirm: %w", err)
	}
	if !acked {
		return Receipt{}, errors.New("amqp: the broker refused the message (nack)")
	}
	s.mu.Lock()
	s.drainReturns()
	unroutable := s.returned[m.ID]
	delete(s.returned, m.ID)
	s.mu.Unlock()
	if unroutable {
		return Receipt{}, fmt.Errorf("amqp: no queue is bound for exchange %q and routing key %q; the broker returned the message", s.exchange, key)
	}
	return Receipt{}, nil
}

func (s *amqpSink) closeLocked() {
	if s.conn != nil {
		s.conn.Close()
	}
	s.conn, s.ch, s.returns, s.returned = nil, nil, nil, nil
}

func (s *amqpSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return nil
}
