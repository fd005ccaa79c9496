package control_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/control"
	"presign/control/provider/azure"
	"presign/control/provider/gcs"
)

// benchClients is the ticket path's target load: concurrent clients, each its own user.
const benchClients = 64

// BenchmarkIssueTicket measures POST /v1/uploads end to end over loopback HTTP on a SQLite file
// store: authentication (token and user read), policy, the rate-limit counter, the upload
// record with its quota check and the audit entry (all durable before the answer), and the
// signing. benchClients clients, logged in beforehand, issue tickets as fast as they can. It
// reports tickets/s and the p50 and p99 latency seen by the clients, and checks afterwards that
// the store holds every ticket that was answered 201.
//
// It runs once per storage provider: S3 (SigV4, HMAC), Azure (a SAS, HMAC) and GCS (V4), the
// latter twice: with the service account's key (gcs, an RSA-2048 signature) and with an HMAC key
// (gcs-hmac). A single-PUT ticket calls no store, so the providers point at closed ports.
func BenchmarkIssueTicket(b *testing.B) {
	for _, p := range []struct {
		name    string
		objects func(b *testing.B) control.Objects
	}{
		{"s3", nil},
		{"azure", benchAzure},
		{"gcs", func(b *testing.B) control.Objects { return benchGCS(b, gcs.Config{}) }},
		{"gcs-hmac", func(b *testing.B) control.Objects {
			return benchGCS(b, gcs.Config{HMACAccessID: "GOOG1EBENCHACCESSID", HMACSecret: "bench/hmac+secret/of+forty/characters012"})
		}},
	} {
		b.Run("provider="+p.name, func(b *testing.B) {
			benchIssueTicket(b, func(c *control.Config) {
				c.TicketsPerMinute, c.Now = 1<<30, time.Now
				if p.objects != nil {
					c.Objects = p.objects(b)
				}
			})
		})
	}
}

func benchAzure(b *testing.B) control.Objects {
	p, err := azure.New(azure.Config{Account: "devstoreaccount1", Container: "files", Endpoint: "http://127.0.0.1:1/devstoreaccount1",
		Key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchGCS is a GCS provider with a fresh service account key, signing with the HMAC key of
// hmacKey when it has one.
func benchGCS(b *testing.B, hmacKey gcs.Config) control.Objects {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	key, _ := json.Marshal(map[string]string{"client_email": "bench@example.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	p, err := gcs.New(context.Background(), gcs.Config{Bucket: "files", Credentials: key, Endpoint: "http://127.0.0.1:1", HTTPClient: http.DefaultClient,
		HMACAccessID: hmacKey.HMACAccessID, HMACSecret: hmacKey.HMACSecret})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

func benchIssueTicket(b *testing.B, mut func(*control.Config)) {
	e := newEnv(b, mut)
	ctx := context.Background()
	unlimited := &control.PolicyOverride{MaxPendingUploads: ptr(0), QuotaBytes: ptr(int64(0))}
	tokens := make([]string, benchClients)
	ids := make([]string, benchClients)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			name := fmt.Sprintf("bench%02d", i)
			ids[i], tokens[i] = benchUser(b, e, name, unlimited)
		})
	}
	wg.Wait()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}}
	body := []byte(`{"filename":"clip.mp4","size":1048576,"content_type":"video/mp4"}`)
	var next, ok atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((benchClients + procs - 1) / procs)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		tok := tokens[int(next.Add(1)-1)%benchClients]
		var mine []time.Duration
		for pb.Next() {
			req, _ := http.NewRequest("POST", e.srv.URL+"/v1/uploads", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			t := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t))
			if resp.StatusCode != 201 {
				b.Errorf("ticket: %d", resp.StatusCode)
				return
			}
			ok.Add(1)
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	var recorded int64
	for _, id := range ids {
		u, err := e.store.Usage(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		recorded += int64(u.Pending)
	}
	if recorded != ok.Load() {
		b.Fatalf("%d tickets answered, %d recorded", ok.Load(), recorded)
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "tickets/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// benchUser creates a user and logs in, outside any testing.T.
func benchUser(b *testing.B, e *env, name string, pol *control.PolicyOverride) (string, string) {
	ctx := context.Background()
	admin, err := e.svc.Authenticate(ctx, e.admin)
	if err != nil {
		b.Error(err)
		return "", ""
	}
	u, err := e.svc.CreateUser(ctx, admin, control.NewUser{Username: name, Password: name + "-password", Policy: pol}, "127.0.0.1")
	if err != nil {
		b.Error(err)
		return "", ""
	}
	// The clients log in at once, from one address: the login throttle answers some of them
	// "try again" (429 or 503 with Retry-After), as it would a real burst.
	for {
		s, err := e.svc.Login(ctx, name, name+"-password", "127.0.0.1")
		var ce *control.Error
		if errors.As(err, &ce) && ce.RetryAfter > 0 {
			time.Sleep(ce.RetryAfter / 10)
			continue
		}
		if err != nil {
			b.Error(err)
			return "", ""
		}
		return u.ID, s.Token
	}
}

// BenchmarkCompanionSigning measures what Uppy asks of presign's Companion-compatible routes,
// over loopback HTTP on a SQLite file store: benchClients clients, each with an upload token of
// its own user, alternate GET s3/params (a form for a new upload of unknown size: the upload,
// its reservation in usage and token, the rate counter and the audit entry, durable before the
// answer) and GET s3/multipart/{id}/{n} (a part URL of a multipart upload in the client's own
// parts, with its audit entry). It reports answers/s and the p50 and p99 latency of both kinds
// together, and checks that every form answered was recorded.
func BenchmarkCompanionSigning(b *testing.B) {
	e := newEnv(b, func(c *control.Config) { c.TicketsPerMinute, c.Now = 1<<30, time.Now })
	ctx := context.Background()
	unlimited := &control.PolicyOverride{MaxPendingUploads: ptr(0), QuotaBytes: ptr(int64(0))}
	type client struct{ params, part, user string }
	clients := make([]client, benchClients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			id, sess := benchUser(b, e, fmt.Sprintf("bench%02d", i), unlimited)
			p, err := e.svc.Authenticate(ctx, sess)
			if err != nil {
				b.Error(err)
				return
			}
			tok, err := e.svc.MintUploadToken(ctx, p, control.UploadTokenRequest{Subject: "bench", ExpiresInSeconds: 3600}, e.srv.URL, "127.0.0.1")
			if err != nil {
				b.Error(err)
				return
			}
			// The multipart upload whose parts are signed, as s3/multipart leaves it (the object
			// store, which the signing never calls, is not running here).
			up := &control.Upload{ID: fmt.Sprintf("bench-mp-%02d", i), UserID: id, Key: fmt.Sprintf("u/%s/mp/v.bin", id), Filename: "v.bin",
				ContentType: "video/mp4", MaxSize: 10 << 30, State: control.StateUploading, MultipartID: "mp", TokenID: tok.ID,
				Created: time.Now(), Expires: time.Now().Add(time.Hour)}
			if err := e.store.CreateUpload(ctx, up, control.Limits{}); err != nil {
				b.Error(err)
				return
			}
			clients[i] = client{params: tok.CompanionEndpoint + "/s3/params?filename=photo.jpg&type=image%2Fjpeg",
				part: tok.CompanionEndpoint + "/s3/multipart/" + up.ID + "/", user: id}
			clients[i].part += "%d?key=" + up.Key
		})
	}
	wg.Wait()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}}
	var next, forms atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((benchClients + procs - 1) / procs)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[int(next.Add(1)-1)%benchClients]
		var mine []time.Duration
		for n := 0; pb.Next(); n++ {
			u := c.params
			if n%2 == 1 {
				u = fmt.Sprintf(c.part, n/2%control.MaxParts+1)
			}
			t := time.Now()
			resp, err := httpc.Get(u)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t))
			if resp.StatusCode != 200 {
				b.Errorf("GET %s: %d", u, resp.StatusCode)
				return
			}
			if n%2 == 0 {
				forms.Add(1)
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	var recorded int64
	for _, c := range clients {
		u, err := e.store.Usage(ctx, c.user)
		if err != nil {
			b.Fatal(err)
		}
		recorded += int64(u.Pending) - 1 // less the multipart upload
	}
	if recorded != forms.Load() {
		b.Fatalf("%d forms answered, %d recorded", forms.Load(), recorded)
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "answers/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
