package events

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	var (
		secret  = []byte("current-secret")
		old     = []byte("previous-secret")
		other   = []byte("someone-else")
		id      = "01HZXEXAMPLEEVENTID000000A"
		body    = []byte(`{"Records":[{"eventName":"s3:ObjectCreated:Put"}]}`)
		signed  = time.Unix(1_700_000_000, 0)
		goodSig = Sign(secret, id, body, signed).Get(HeaderSignature)
	)
	header := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		secrets [][]byte
		now     time.Time
		tol     time.Duration
		wantErr error
	}{
		{name: "good", header: Sign(secret, id, body, signed)},
		{name: "good at the edge of the tolerance", header: Sign(secret, id, body, signed), now: signed.Add(DefaultTolerance)},
		{name: "tampered body", header: Sign(secret, id, body, signed), body: []byte(`{"Records":[{"eventName":"s3:ObjectRemoved:Delete"}]}`), wantErr: ErrSignatureMismatch},
		{name: "wrong secret", header: Sign(other, id, body, signed), wantErr: ErrSignatureMismatch},
		{name: "receiver rotating accepts the old secret", header: Sign(old, id, body, signed), secrets: [][]byte{secret, old}},
		{name: "sender rotating signs with both", header: SignAll([][]byte{old, secret}, id, body, signed), secrets: [][]byte{secret}},
		{name: "rotation over: old secret refused", header: Sign(old, id, body, signed), secrets: [][]byte{secret}, wantErr: ErrSignatureMismatch},
		{name: "stale timestamp (replay)", header: Sign(secret, id, body, signed), now: signed.Add(DefaultTolerance + time.Second), wantErr: ErrStaleTimestamp},
		{name: "future timestamp", header: Sign(secret, id, body, signed), now: signed.Add(-DefaultTolerance - time.Second), wantErr: ErrFutureTimestamp},
		{name: "far-future timestamp", header: header(HeaderEventID, id, HeaderSignature, SignAll([][]byte{secret}, id, body, time.Unix(999_999_999_999_999_999, 0)).Get(HeaderSignature)), wantErr: ErrFutureTimestamp},
		{name: "custom tolerance", header: Sign(secret, id, body, signed), now: signed.Add(31 * time.Second), tol: 30 * time.Second, wantErr: ErrStaleTimestamp},
		{name: "replayed with a new id", header: header(HeaderEventID, "ANOTHERID", HeaderSignature, goodSig), wantErr: ErrSignatureMismatch},
		{name: "timestamp moved forward", header: header(HeaderEventID, id, HeaderSignature, strings.Replace(goodSig, "t=1700000000", "t=1700000300", 1)), wantErr: ErrSignatureMismatch},
		{name: "missing signature", header: header(HeaderEventID, id), wantErr: ErrNoSignature},
		{name: "missing event id", header: header(HeaderSignature, goodSig), wantErr: ErrNoEventID},
		{name: "event id with a dot", header: header(HeaderEventID, "a.b", HeaderSignature, goodSig), wantErr: ErrBadEventID},
		{name: "event id repeated", header: header(HeaderEventID, id, HeaderEventID, id, HeaderSignature, goodSig), wantErr: ErrBadEventID},
		{name: "signature header repeated", header: header(HeaderEventID, id, HeaderSignature, goodSig, HeaderSignature, goodSig), wantErr: ErrMalformedSignature},
		{name: "malformed: garbage", header: header(HeaderEventID, id, HeaderSignature, "garbage"), wantErr: ErrMalformedSignature},
		{name: "malformed: no t", header: header(HeaderEventID, id, HeaderSignature, goodSig[strings.Index(goodSig, ",")+1:]), wantErr: ErrMalformedSignature},
		{name: "malformed: no v1", header: header(HeaderEventID, id, HeaderSignature, "t=1700000000"), wantErr: ErrMalformedSignature},
		{name: "malformed: t not a number", header: header(HeaderEventID, id, HeaderSignature, strings.Replace(goodSig, "t=1700000000", "t=17e8", 1)), wantErr: ErrMalformedSignature},
		{name: "malformed: negative t", header: header(HeaderEventID, id, HeaderSignature, strings.Replace(goodSig, "t=1700000000", "t=-1", 1)), wantErr: ErrMalformedSignature},
		{name: "malformed: two t", header: header(HeaderEventID, id, HeaderSignature, goodSig+",t=1700000000"), wantErr: ErrMalformedSignature},
		{name: "malformed: short v1", header: header(HeaderEventID, id, HeaderSignature, "t=1700000000,v1=abcd"), wantErr: ErrMalformedSignature},
		{name: "malformed: v1 not hex", header: header(HeaderEventID, id, HeaderSignature, "t=1700000000,v1="+strings.Repeat("zz", 32)), wantErr: ErrMalformedSignature},
		{name: "malformed: too long", header: header(HeaderEventID, id, HeaderSignature, goodSig+strings.Repeat(",x=1", 2000)), wantErr: ErrMalformedSignature},
		{name: "unknown scheme beside v1 is skipped", header: header(HeaderEventID, id, HeaderSignature, goodSig+",v2=whatever")},
		{name: "spaces around elements", header: header(HeaderEventID, id, HeaderSignature, strings.ReplaceAll(goodSig, ",", " , "))},
		{name: "no secrets", header: Sign(secret, id, body, signed), secrets: [][]byte{}, wantErr: ErrNoSecrets},
		{name: "only an empty secret", header: Sign(nil, id, body, signed), secrets: [][]byte{nil}, wantErr: ErrNoSecrets},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, secrets, now := body, [][]byte{secret}, signed.Add(2*time.Second)
			if tc.body != nil {
				b = tc.body
			}
			if tc.secrets != nil {
				secrets = tc.secrets
			}
			if !tc.now.IsZero() {
				now = tc.now
			}
			gotID, err := Verify(tc.header, b, secrets, now, tc.tol)
			if tc.wantErr == nil {
				if err != nil || gotID != id {
					t.Fatalf("Verify = %q, %v; want %q, nil", gotID, err, id)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify error = %v; want %v", err, tc.wantErr)
			}
			if gotID != "" {
				t.Errorf("Verify returned id %q with an error", gotID)
			}
		})
	}
}

func TestSignatureStringParsesBack(t *testing.T) {
	h := SignAll([][]byte{[]byte("a"), []byte("b")}, NewID(), []byte("{}"), time.Unix(42, 0))
	s, err := ParseSignature(h.Get(HeaderSignature))
	if err != nil {
		t.Fatal(err)
	}
	if s.Timestamp != 42 || len(s.V1) != 2 || s.String() != h.Get(HeaderSignature) {
		t.Errorf("parsed %+v from %q", s, h.Get(HeaderSignature))
	}
}

func TestNewIDIsAValidUniqueID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if err := CheckID(id); err != nil {
			t.Fatalf("NewID() = %q: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestCheckIDRejects(t *testing.T) {
	for _, id := range []string{"", "a.b", "a b", "ä", "a/b", strings.Repeat("x", 129)} {
		if err := CheckID(id); !errors.Is(err, ErrBadEventID) {
			t.Errorf("CheckID(%q) = %v", id, err)
		}
	}
	if err := CheckID(strings.Repeat("x", 128)); err != nil {
		t.Errorf("128-character id refused: %v", err)
	}
}
