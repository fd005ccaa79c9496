package events

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"
)

// FuzzParseSignature feeds arbitrary header values to the parser: it must never panic, and
// whatever it accepts must format back to a value that parses to the same signature.
func FuzzParseSignature(f *testing.F) {
	f.Add("t=1700000000,v1=" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	f.Add("t=1,v1=" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" + ",v0=x")
	f.Add("t=,v1=")
	f.Add(",,,")
	f.Fuzz(func(t *testing.T, value string) {
		s, err := ParseSignature(value)
		if err != nil {
			if !errors.Is(err, ErrMalformedSignature) {
				t.Fatalf("error %v does not wrap ErrMalformedSignature", err)
			}
			return
		}
		again, err := ParseSignature(s.String())
		if err != nil {
			t.Fatalf("%q parsed, but its String %q does not: %v", value, s.String(), err)
		}
		if again.Timestamp != s.Timestamp || !slices.EqualFunc(again.V1, s.V1, slices.Equal) {
			t.Fatalf("round trip changed %+v into %+v", s, again)
		}
	})
}

// FuzzVerify feeds arbitrary deliveries to Verify: it must never panic, never accept a
// delivery not signed with the secret, and always say why with one of its sentinel errors.
func FuzzVerify(f *testing.F) {
	secret := []byte("fuzz-secret")
	now := time.Unix(1_700_000_000, 0)
	valid := Sign(secret, "ID1", []byte("{}"), now)
	f.Add(valid.Get(HeaderSignature), "ID1", []byte("{}"))
	f.Add(valid.Get(HeaderSignature), "ID2", []byte("{}"))
	f.Add("t=1700000000,v1=zz", "ID1", []byte(""))
	f.Fuzz(func(t *testing.T, sig, id string, body []byte) {
		h := http.Header{}
		h.Set(HeaderSignature, sig)
		h.Set(HeaderEventID, id)
		genuine := Sign(secret, id, body, now).Get(HeaderSignature)
		got, err := Verify(h, body, [][]byte{secret}, now, 0)
		if err == nil {
			if sig != genuine && !containsMAC(t, sig, genuine) {
				t.Fatalf("accepted %q for id %q without the secret's signature", sig, id)
			}
			if got != id {
				t.Fatalf("returned id %q, header had %q", got, id)
			}
			return
		}
		known := []error{ErrNoSignature, ErrMalformedSignature, ErrNoEventID, ErrBadEventID,
			ErrSignatureMismatch, ErrStaleTimestamp, ErrFutureTimestamp}
		if !slices.ContainsFunc(known, func(e error) bool { return errors.Is(err, e) }) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
	})
}

// containsMAC reports whether the accepted header sig carries the genuine MAC.
func containsMAC(t *testing.T, sig, genuine string) bool {
	t.Helper()
	s, err := ParseSignature(sig)
	if err != nil {
		return false
	}
	g, _ := ParseSignature(genuine)
	return slices.ContainsFunc(s.V1, func(v []byte) bool { return slices.Equal(v, g.V1[0]) })
}
