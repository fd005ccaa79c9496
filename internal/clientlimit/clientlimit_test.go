package clientlimit_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"presign/internal/clientlimit"
)

// drip sends a request whose body comes one byte every gap, for at most n bytes, and returns
// once the server closed the connection or n bytes were sent.
func drip(addr string, n int, gap time.Duration) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return // the test fails waiting for the server's verdict
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n)
	for range n {
		if _, err := c.Write([]byte{'a'}); err != nil {
			return
		}
		time.Sleep(gap)
	}
}

// bodyServer serves requests whose bodies are read through a Body with lim, and reports each
// read's final error.
func bodyServer(t *testing.T, lim clientlimit.BodyLimits) (string, <-chan error) {
	errc := make(chan error, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(clientlimit.NewBody(w, r.Body, lim))
		errc <- err
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), errc
}

func TestBodyEndsClientsTooSlow(t *testing.T) {
	window := 200 * time.Millisecond
	for _, tc := range []struct {
		name string
		lim  clientlimit.BodyLimits
	}{
		// Each byte comes well within Idle; only the total bound ends the body.
		{"total deadline of a small body", clientlimit.BodyLimits{Total: 4 * window, Idle: time.Minute}},
		{"below the minimum rate", clientlimit.BodyLimits{MinRate: clientlimit.Rate{BytesPerSecond: 1000, Window: window}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, errc := bodyServer(t, tc.lim)
			go drip(addr, 1000, window/4)
			select {
			case err := <-errc:
				if !errors.Is(err, clientlimit.ErrTimeout) {
					t.Fatalf("read ended with %v, want ErrTimeout", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("a body dripping 4 bytes a window was never cut off")
			}
		})
	}
}

func TestBodyPassesClientsFastEnough(t *testing.T) {
	addr, errc := bodyServer(t, clientlimit.BodyLimits{Total: time.Minute, Idle: time.Minute,
		MinRate: clientlimit.Rate{BytesPerSecond: 1000, Window: 200 * time.Millisecond}})
	body := bytes.Repeat([]byte("x"), 1<<20)
	resp, err := http.Post("http://"+addr, "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-errc; err != nil {
		t.Fatalf("a fast body failed: %v", err)
	}
}

func TestBodyReportsAClientThatWentAway(t *testing.T) {
	addr, errc := bodyServer(t, clientlimit.BodyLimits{Total: time.Minute})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part")
	c.Close()
	if err := <-errc; !errors.Is(err, clientlimit.ErrAborted) {
		t.Fatalf("read ended with %v, want ErrAborted", err)
	}
}

func TestWriterEndsADownloadNeverRead(t *testing.T) {
	errc := make(chan error, 1)
	// Larger than any socket buffers on the way, so that the writes must block.
	const size = 64 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		cw := clientlimit.NewWriter(w, clientlimit.Rate{BytesPerSecond: 1 << 20, Window: 200 * time.Millisecond})
		defer cw.Done()
		_, err := io.Copy(cw, io.LimitReader(zeros{}, size))
		errc <- err
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-errc:
		if !errors.Is(err, clientlimit.ErrTimeout) {
			t.Fatalf("copy ended with %v, want ErrTimeout", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a download never read was never cut off")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestListenerCapsConnectionsPerAddress(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := clientlimit.NewListener(inner, 3)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for range 3 {
		dial("127.0.0.1")
		held = append(held, <-accepted)
	}
	// The fourth from the same address is closed unread; another address still gets in.
	extra := dial("127.0.0.1")
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
		t.Fatalf("connection beyond the cap: read %v, want it closed", err)
	}
	dial("127.0.0.2")
	(<-accepted).Close()
	// A closed connection gives its place back.
	held[0].Close()
	dial("127.0.0.1")
	<-accepted
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

// TestWriterPassesASlowFileDownloadAboveTheRate: a file sent in pieces larger than a window
// carries goes on while its client reads above the minimum rate.
func TestWriterPassesASlowFileDownloadAboveTheRate(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "obj")
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	f.Write(bytes.Repeat([]byte("f"), size))
	errc := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		f.Seek(0, io.SeekStart)
		cw := clientlimit.NewWriter(w, clientlimit.Rate{BytesPerSecond: 64 << 10, Window: 200 * time.Millisecond})
		defer cw.Done()
		_, err := io.Copy(cw, &io.LimitedReader{R: f, N: size})
		errc <- err
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// About 512 KiB/s, eight times the minimum, in reads far smaller than a piece.
	var got int
	buf := make([]byte, 16<<10)
	for {
		n, err := resp.Body.Read(buf)
		got += n
		if err != nil {
			break
		}
		time.Sleep(30 * time.Millisecond)
	}
	if err := <-errc; err != nil || got != size {
		t.Fatalf("download ended with %v after %d of %d bytes", err, got, size)
	}
}
