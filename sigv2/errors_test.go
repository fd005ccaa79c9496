package sigv2

import (
	"encoding/base64"
	"net/http"
	"slices"
	"testing"
	"time"
)

func encode(sig [20]byte) string { return base64.StdEncoding.EncodeToString(sig[:]) }

// TestKindsMapToS3Codes pins the one table from failures to S3's codes and statuses.
func TestKindsMapToS3Codes(t *testing.T) {
	for k, want := range map[Kind]struct {
		code   string
		status int
	}{
		KindMissingAuth:        {"AccessDenied", 403},
		KindQueryParams:        {"AccessDenied", 403},
		KindHeaderMalformed:    {"InvalidArgument", 400},
		KindMultipleAuth:       {"InvalidArgument", 400},
		KindMissingDate:        {"AccessDenied", 403},
		KindInvalidAccessKeyID: {"InvalidAccessKeyId", 403},
		KindSignatureMismatch:  {"SignatureDoesNotMatch", 403},
		KindExpired:            {"AccessDenied", 403},
		KindTimeTooSkewed:      {"RequestTimeTooSkewed", 403},
		KindPostFields:         {"AccessDenied", 403},
		KindUnsupported:        {"InvalidRequest", 400},
	} {
		if k.Code() != want.code || k.Status() != want.status {
			t.Errorf("kind %d: %s %d, want %s %d", k, k.Code(), k.Status(), want.code, want.status)
		}
		if (&Error{Kind: k}).S3Message() == "" {
			t.Errorf("kind %d has no message", k)
		}
	}
	if got := (&Error{Kind: KindUnsupported}).S3Message(); got != "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256." {
		t.Fatalf("unsupported: %q", got)
	}
}

// TestErrorFieldsAsS3 checks the extra elements of the error bodies.
func TestErrorFieldsAsS3(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	names := func(f []Field) []string {
		var n []string
		for _, x := range f {
			n = append(n, x.Name+"="+x.Value)
		}
		return n
	}
	for _, tc := range []struct {
		e    *Error
		want []string
	}{
		{&Error{Kind: KindExpired, Expires: now.Add(-time.Second), ServerTime: now},
			[]string{"Expires=2026-03-01T11:59:59Z", "ServerTime=2026-03-01T12:00:00Z"}},
		{&Error{Kind: KindSignatureMismatch, AccessKeyID: "AK", StringToSign: "GET\n/", SignatureSent: "c2ln"},
			[]string{"AWSAccessKeyId=AK", "StringToSign=GET\n/", "SignatureProvided=c2ln", "StringToSignBytes=47 45 54 0a 2f"}},
		{&Error{Kind: KindTimeTooSkewed, RequestTime: now.Add(-time.Hour), ServerTime: now, MaxSkew: 15 * time.Minute},
			[]string{"RequestTime=" + now.Add(-time.Hour).Format(http.TimeFormat), "ServerTime=2026-03-01T12:00:00Z", "MaxAllowedSkewMilliseconds=900000"}},
		{&Error{Kind: KindHeaderMalformed, Header: "AWS x"}, []string{"ArgumentName=Authorization", "ArgumentValue=AWS x"}},
		{&Error{Kind: KindInvalidAccessKeyID, AccessKeyID: "AK"}, []string{"AWSAccessKeyId=AK"}},
	} {
		if got := names(tc.e.Fields()); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.e.Kind, got, tc.want)
		}
	}
}
