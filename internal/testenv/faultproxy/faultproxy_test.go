package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// echo serves lines back until t ends.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line on c and reads the answer, waiting at most 300 ms.
func roundTrip(c net.Conn) error {
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "ping\n" {
		return errors.New("echoed " + line)
	}
	return err
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestModesFailConnectionsAsTheirServiceWouldAndPassRestores(t *testing.T) {
	p := Start(t, echo(t))
	c := dial(t, p)
	if err := roundTrip(c); err != nil {
		t.Fatalf("passing: %v", err)
	}

	p.Reset()
	if err := roundTrip(c); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("after Reset: %v, want a reset connection", err)
	}
	c = dial(t, p)
	if err := roundTrip(c); err != nil {
		t.Fatalf("a new connection after Reset: %v", err)
	}

	p.Set(Stall)
	if err := roundTrip(c); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled: %v, want a timeout", err)
	}
	p.Set(Pass)
	c = dial(t, p)
	if err := roundTrip(c); err != nil {
		t.Fatalf("after the stall: %v", err)
	}

	p.Set(ResetEach)
	if err := roundTrip(c); err == nil {
		t.Fatal("an open connection passed after ResetEach")
	}
	// The reset may come before the dial returns or on the first exchange.
	nc, err := net.Dial("tcp", p.Addr())
	if err == nil {
		err = roundTrip(nc)
		nc.Close()
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("a new connection after ResetEach: %v, want a reset", err)
	}
	p.Set(Pass)
	c = dial(t, p)
	if err := roundTrip(c); err != nil {
		t.Fatalf("after ResetEach: %v", err)
	}

	if err := p.Set(Refuse); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c); err == nil {
		t.Fatal("an open connection passed after Refuse")
	}
	if _, err := net.Dial("tcp", p.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("refusing: dial %v, want refused", err)
	}
	if err := p.Set(Pass); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(dial(t, p)); err != nil {
		t.Fatalf("after refusing: %v", err)
	}
}
