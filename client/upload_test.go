package client

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// storeScript is a control plane and object store on a real listener whose part PUTs answer
// as a test says, to see what the client does with each kind of failure. Its control plane is
// an older one that knows no part checksums, so parts carry Content-MD5, which it checks. (The
// real servers are exercised end to end in e2e/; they do not fail on demand.)
type storeScript struct {
	mu       sync.Mutex
	answer   func(part, attempt int) int // the status of a part PUT; 0 means: cut the connection
	attempts map[int]int
	signed   map[int]int // part URLs signed, per part
	aborted  bool
	parts    map[int][]byte
}

func (s *storeScript) serve(t *testing.T) *httptest.Server {
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/uploads", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(Ticket{ID: "up1", Multipart: true, State: "uploading", PartSize: 4, PartCount: 3})
	})
	mux.HandleFunc("POST /v1/uploads/up1/parts", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			PartNumbers []int    `json:"part_numbers"`
			CRC32C      []string `json:"checksums_crc32c"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		if in.CRC32C != nil {
			// An older control plane: unknown fields are refused.
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"invalid_request","message":"unknown field checksums_crc32c"}`))
			return
		}
		n := in.PartNumbers[0]
		s.mu.Lock()
		s.signed[n]++
		s.mu.Unlock()
		size := 4
		if n == 3 {
			size = 2
		}
		json.NewEncoder(w).Encode(map[string]any{"expires_at": time.Now().Add(time.Hour),
			"parts": []map[string]any{{"part_number": n, "size": size, "url": srv.URL + "/store/" + strconv.Itoa(n)}}})
	})
	mux.HandleFunc("PUT /store/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		s.mu.Lock()
		s.attempts[n]++
		status := s.answer(n, s.attempts[n])
		s.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		sum := md5.Sum(body)
		if r.Header.Get("Content-MD5") != base64.StdEncoding.EncodeToString(sum[:]) {
			status = 400
		}
		switch status {
		case 0:
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		case 200:
			s.mu.Lock()
			s.parts[n] = body
			s.mu.Unlock()
			w.Header().Set("ETag", fmt.Sprintf(`"%x"`, sum))
		default:
			w.WriteHeader(status)
			fmt.Fprintf(w, "<Error><Code>Code%d</Code><Message>scripted</Message><RequestId>r%d</RequestId></Error>", status, n)
		}
	})
	mux.HandleFunc("POST /v1/uploads/up1/complete", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(File{ID: "up1", Size: 10})
	})
	mux.HandleFunc("DELETE /v1/uploads/up1", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.aborted = true
		s.mu.Unlock()
		w.Write([]byte("{}"))
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// failPart answers part's first attempts with statuses (0: a cut connection), then 200.
func failPart(part int, statuses ...int) func(p, attempt int) int {
	return func(p, attempt int) int {
		if p == part && attempt <= len(statuses) {
			return statuses[attempt-1]
		}
		return 200
	}
}

func TestPartsAreRetriedOnNetworkErrorsAnd5xxButNotOn4xx(t *testing.T) {
	for _, tc := range []struct {
		name        string
		answer      func(part, attempt int) int
		wantErr     string // the StorageError code, "" for success
		wantTries2  int    // attempts of part 2
		wantSigned2 int    // URLs signed for part 2
		wantAbort   bool
	}{
		{"503 twice, then 200", failPart(2, 503, 503), "", 3, 1, false},
		{"connection cut, then 500, then 200", failPart(2, 0, 500), "", 3, 1, false},
		{"403 once: a fresh URL, then 200", failPart(2, 403), "", 2, 2, false},
		{"400: no retry, the upload is aborted", failPart(2, 400), "Code400", 1, 1, true},
		{"404: no retry, the upload is aborted", failPart(2, 404), "Code404", 1, 1, true},
		{"503 every time: gives up after the attempts, resumable", failPart(2, 503, 503, 503, 503), "Code503", 4, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &storeScript{answer: tc.answer, attempts: map[int]int{}, signed: map[int]int{}, parts: map[int][]byte{}}
			srv := s.serve(t)
			c, _ := New(srv.URL, &Options{Token: "t", Retry: RetryPolicy{Attempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}})
			data := []byte("0123456789")
			_, err := c.Upload(t.Context(), "f.bin", bytes.NewReader(data), 10, nil)
			var se *StorageError
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("upload: %v", err)
			case tc.wantErr != "" && (!errors.As(err, &se) || se.Code != tc.wantErr || se.RequestID != "r2" || se.Message != "scripted"):
				t.Fatalf("upload: %#v, want a StorageError %s", err, tc.wantErr)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.attempts[2] != tc.wantTries2 || s.signed[2] != tc.wantSigned2 || s.aborted != tc.wantAbort {
				t.Errorf("part 2: %d attempts, %d URLs, aborted %v; want %d, %d, %v", s.attempts[2], s.signed[2], s.aborted,
					tc.wantTries2, tc.wantSigned2, tc.wantAbort)
			}
			if got := string(s.parts[1]) + string(s.parts[2]) + string(s.parts[3]); tc.wantErr == "" && got != string(data) {
				t.Errorf("stored %q", got)
			}
		})
	}
}
