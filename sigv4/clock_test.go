package sigv4_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"presign/sigv4"
)

// TestPresignedClockFailuresAreDistinctKinds: a presigned URL used too early and one used too
// late both answer 403 AccessDenied, as S3 does, but they are different kinds with different
// messages and XML details; a header-signed request with the same clock gap is a third kind.
// The URLs are signed by aws-sdk-go-v2's signer, not by this package.
func TestPresignedClockFailuresAreDistinctKinds(t *testing.T) {
	signed := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	iso := func(t time.Time) string { return t.Format("2006-01-02T15:04:05Z") }
	presigned := func(t *testing.T) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/"+testBucket+"/k?X-Amz-Expires=3600", nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(),
			aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}, r, sigv4.UnsignedPayload, "s3", testRegion, signed)
		if err != nil {
			t.Fatal(err)
		}
		pr, _ := http.NewRequest(http.MethodGet, u, nil)
		return pr
	}
	headerSigned := func(t *testing.T) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/"+testBucket+"/k", nil)
		r.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
		if err := v4.NewSigner().SignHTTP(context.Background(),
			aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}, r, sigv4.UnsignedPayload, "s3", testRegion, signed); err != nil {
			t.Fatal(err)
		}
		return r
	}
	expires := signed.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		req     func(*testing.T) *http.Request
		skew    time.Duration // Verifier.MaxSkew; 0 is the 15-minute default
		now     time.Time
		kind    sigv4.Kind // 0: accepted
		code    string
		message string
		fields  []sigv4.Field
	}{
		{"server 16 minutes behind the URL", presigned, 0, signed.Add(-16 * time.Minute), sigv4.KindNotYetValid, "AccessDenied", "Request is not yet valid",
			[]sigv4.Field{{"X-Amz-Date", iso(signed)}, {"X-Amz-Expires", "3600"}, {"Expires", iso(expires)}, {"ServerTime", iso(signed.Add(-16 * time.Minute))}}},
		{"server exactly the skew behind", presigned, 0, signed.Add(-15 * time.Minute), 0, "", "", nil},
		{"used at the expiry", presigned, 0, expires, 0, "", "", nil},
		{"used a second after the expiry", presigned, 0, expires.Add(time.Second), sigv4.KindExpired, "AccessDenied", "Request has expired",
			[]sigv4.Field{{"X-Amz-Expires", "3600"}, {"Expires", iso(expires)}, {"ServerTime", iso(expires.Add(time.Second))}}},
		{"short skew: a minute and a second behind", presigned, time.Minute, signed.Add(-61 * time.Second), sigv4.KindNotYetValid, "AccessDenied", "Request is not yet valid",
			[]sigv4.Field{{"X-Amz-Date", iso(signed)}, {"X-Amz-Expires", "3600"}, {"Expires", iso(expires)}, {"ServerTime", iso(signed.Add(-61 * time.Second))}}},
		{"short skew: a minute behind", presigned, time.Minute, signed.Add(-time.Minute), 0, "", "", nil},
		{"skew never extends the expiry", presigned, time.Hour, expires.Add(time.Second), sigv4.KindExpired, "AccessDenied", "Request has expired",
			[]sigv4.Field{{"X-Amz-Expires", "3600"}, {"Expires", iso(expires)}, {"ServerTime", iso(expires.Add(time.Second))}}},
		{"header-signed, server 16 minutes behind", headerSigned, 0, signed.Add(-16 * time.Minute), sigv4.KindTimeTooSkewed, "RequestTimeTooSkewed",
			"The difference between the request time and the current time is too large.",
			[]sigv4.Field{{"RequestTime", iso(signed)}, {"ServerTime", iso(signed.Add(-16 * time.Minute))}, {"MaxAllowedSkewMilliseconds", "900000"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &sigv4.Verifier{Region: testRegion, Credentials: sigv4.StaticCredentials{testAccessKey: testSecretKey}, MaxSkew: tc.skew}
			_, err := v.Verify(tc.req(t), tc.now)
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *sigv4.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want a *sigv4.Error of kind %d", err, tc.kind)
			}
			if e.Kind != tc.kind || e.Code() != tc.code || e.Status() != http.StatusForbidden || e.S3Message() != tc.message {
				t.Fatalf("got kind %d %s %d %q, want kind %d %s 403 %q", e.Kind, e.Code(), e.Status(), e.S3Message(), tc.kind, tc.code, tc.message)
			}
			if !strings.Contains(e.Error(), tc.message) {
				t.Fatalf("Error() %q does not say %q", e.Error(), tc.message)
			}
			if fmt.Sprint(e.Fields()) != fmt.Sprint(tc.fields) {
				t.Fatalf("fields %v, want %v", e.Fields(), tc.fields)
			}
		})
	}
}
