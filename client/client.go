package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a Client. The zero value is ready to use.
type Options struct {
	// Token is a session token (from Login) or an API key, sent as a bearer token to the
	// control plane only.
	Token string
	// HTTPClient carries every request, to the control plane and to the object store. Nil: a
	// client tuned for large transfers (HTTP/1.1, a connection per part, no overall timeout,
	// 2 minutes for response headers).
	HTTPClient *http.Client
	// Concurrency is the number of parts a multipart upload sends at once; 0 means 4.
	Concurrency int
	// Retry bounds the retries of each part, download stretch and control-plane call.
	Retry RetryPolicy
	// StallTimeout is how long a transfer may go without moving a byte before the attempt is
	// abandoned and retried; 0 means 1 minute.
	StallTimeout time.Duration
	// UserAgent is sent with every request; empty: "presign-go-client".
	UserAgent string
}

// Client is a client of one presign control plane. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	hc    *http.Client
	opts  Options
	mu    sync.RWMutex
	token string
}

// New returns a client of the control plane at baseURL (http or https, optionally with a
// path prefix). opts may be nil.
func New(baseURL string, opts *Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: %q is not a control plane URL (http[s]://host[:port][/prefix])", baseURL)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = time.Minute
	}
	if o.UserAgent == "" {
		o.UserAgent = "presign-go-client"
	}
	o.Retry = o.Retry.withDefaults()
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: newTransport()}
	}
	return &Client{base: u, hc: hc, opts: o, token: o.Token}, nil
}

// newTransport is tuned for large bodies: big socket buffers, no HTTP/2 (parallel parts get
// a TCP connection each instead of sharing one), and enough idle connections for the parts.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: 2 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
}

// BaseURL returns the control plane's URL.
func (c *Client) BaseURL() string { return c.base.String() }

// Token returns the bearer token the client sends, empty when it has none.
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// SetToken replaces the bearer token (a session token or an API key).
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// Login opens a session with a username and password and makes the client use its token.
// Wrong credentials are an *APIError with code invalid_credentials (401); too many failures
// answer login_throttled (429) with RetryAfter set.
func (c *Client) Login(ctx context.Context, username, password string) (*Session, error) {
	var s Session
	if err := c.call(ctx, http.MethodPost, "/v1/login", map[string]string{"username": username, "password": password}, &s, unsent); err != nil {
		return nil, err
	}
	c.SetToken(s.Token)
	return &s, nil
}

// Logout revokes the client's token (a session or an API key) and forgets it.
func (c *Client) Logout(ctx context.Context) error {
	if err := c.call(ctx, http.MethodPost, "/v1/logout", nil, nil, unsent); err != nil {
		return err
	}
	c.SetToken("")
	return nil
}

// CreateAPIKey makes an API key for the user logged in with a session, valid for ttl (0: the
// server's default, 30 days; at most 90). The server asks for the user's password again, as
// the key outlives the session; an API key cannot create keys. The key's secret is in the
// answer only.
func (c *Client) CreateAPIKey(ctx context.Context, name, password string, ttl time.Duration) (*APIKey, error) {
	in := map[string]any{"name": name, "password": password}
	if ttl > 0 {
		in["expires_in_seconds"] = int64((ttl + time.Second - 1) / time.Second)
	}
	var k APIKey
	if err := c.call(ctx, http.MethodPost, "/v1/apikeys", in, &k, unsent); err != nil {
		return nil, err
	}
	return &k, nil
}

// retryMode says how hard a control-plane call tries.
type retryMode int

const (
	// unsent retries (3 tries in all) only a request that never reached the server (it may
	// not be repeated: a ticket, a login).
	unsent retryMode = iota
	// brief retries an idempotent call on network errors and 502/503/504, 3 tries in all: a
	// command-line user should hear soon that the server is down.
	brief
	// persistent retries an idempotent call with the whole RetryPolicy: it is a step of a
	// transfer that has already moved bytes (part URLs, completion).
	persistent
)

// call sends a JSON request to the control plane and decodes a 2xx answer into out (when not
// nil). A refusal is an *APIError.
func (c *Client) call(ctx context.Context, method, path string, in, out any, mode retryMode) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		err := c.callOnce(ctx, method, path, body, out)
		if err == nil || ctx.Err() != nil {
			return err
		}
		tries := min(c.opts.Retry.Attempts, 3)
		if mode == persistent {
			tries = c.opts.Retry.Attempts
		}
		if attempt+1 >= tries || !callRetryable(err, mode) {
			return err
		}
		var ae *APIError
		var hint time.Duration
		if errors.As(err, &ae) {
			hint = ae.RetryAfter
		}
		if err := sleep(ctx, c.opts.Retry.delay(attempt, hint)); err != nil {
			return err
		}
	}
}

func callRetryable(err error, mode retryMode) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return mode != unsent && (ae.Status == http.StatusBadGateway || ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusGatewayTimeout)
	}
	if mode != unsent {
		return transient(err)
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (c *Client) callOnce(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := c.Token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return apiError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
