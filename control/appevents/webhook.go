package appevents

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxDrain is how much of a webhook's answer is read at most: enough to reuse the connection
// after a short answer, and a bound on what a hostile endpoint can make presign read.
const maxDrain = 64 << 10

// webhook POSTs each event to one URL.
type webhook struct {
	url     string
	secrets []Secret
	client  *http.Client
	timeout time.Duration
}

func newWebhook(u *url.URL, o Options) (*webhook, error) {
	if len(o.Secrets) == 0 {
		return nil, errors.New("appevents: a webhook needs a secret to sign with")
	}
	c := o.HTTPClient
	if c == nil {
		c = NewHTTPClient(o)
	}
	return &webhook{url: u.String(), secrets: o.Secrets, client: c, timeout: o.Timeout}, nil
}

// NewHTTPClient returns the client webhooks are sent with: o's egress policy checked on every
// connection, no proxy from the environment (a proxy would connect on presign's behalf,
// unchecked), no redirects (a 3xx is a failed attempt: following one would reach an address
// nobody registered), o's timeout on each attempt.
func NewHTTPClient(o Options) *http.Client {
	o = o.withDefaults()
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           o.dialer().DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512, // as many as a deliverer has attempts in flight: no redials under load
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (w *webhook) Send(ctx context.Context, m Message) (Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(m.Body))
	if err != nil {
		return Receipt{}, errors.New("cannot build the request")
	}
	for k, v := range Headers(m.ID, time.Now(), m.Body, w.secrets...) {
		req.Header[k] = []string{v} // lower case, as the Standard Webhooks spelling
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "presign-webhooks/1")
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, whose query may hold credentials
		}
		return Receipt{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxDrain))
	r := Receipt{Status: resp.StatusCode, Response: excerpt(body)}
	if resp.StatusCode/100 == 2 {
		return r, nil
	}
	r.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return r, fmt.Errorf("answered %s", resp.Status)
}

// Close leaves a shared client's connections to the other webhooks that use it.
func (w *webhook) Close() error { return nil }

// excerpt is the start of an answer's body as valid UTF-8, at most ResponseExcerpt bytes: cut
// before a character the limit would split, with each run of invalid bytes as one "?".
func excerpt(b []byte) string {
	if len(b) > ResponseExcerpt {
		i := ResponseExcerpt
		for i > ResponseExcerpt-utf8.UTFMax && !utf8.RuneStart(b[i]) {
			i--
		}
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// retryAfter reads a Retry-After value: seconds or an HTTP date. 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
