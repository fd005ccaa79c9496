package appevents_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/control/appevents"
)

// events makes n messages of distinct ids, as the outbox would hand them over.
func events(n int) []appevents.Message {
	ms := make([]appevents.Message, n)
	for i := range ms {
		id := appevents.NewID()
		ms[i] = appevents.Message{ID: id, Type: appevents.Types[i%len(appevents.Types)], Key: fmt.Sprintf("upload-%d", i),
			Body: fmt.Appendf(nil, `{"id":%q,"n":%d}`, id, i)}
	}
	return ms
}

// sendAll sends every message with workers goroutines, retrying each one after a short pause
// until the sink takes it, as the deliverer does. It returns how many attempts failed, and an
// error if some message was still not sent after a minute and a half.
func sendAll(ctx context.Context, sink appevents.Sink, ms []appevents.Message, workers int) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var failed, sent atomic.Int64
	next := make(chan appevents.Message)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for m := range next {
				for {
					_, err := sink.Send(ctx, m)
					if err == nil {
						break
					}
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
				sent.Add(1)
			}
		})
	}
	for _, m := range ms {
		select {
		case next <- m:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		return failed.Load(), fmt.Errorf("sent %d of %d messages before the deadline", sent.Load(), len(ms))
	}
	return failed.Load(), nil
}

// sendAcrossRestart sends the first third of ms, stops the broker, sends the rest while it is
// down and restarts it after a second. It returns how many attempts failed.
func sendAcrossRestart(t *testing.T, sink appevents.Sink, ms []appevents.Message, stop, start func() error) int64 {
	t.Helper()
	if _, err := sendAll(t.Context(), sink, ms[:len(ms)/3], 8); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stopping the broker: %v", err)
	}
	type result struct {
		failed int64
		err    error
	}
	done := make(chan result, 1)
	go func() {
		f, err := sendAll(t.Context(), sink, ms[len(ms)/3:], 8)
		done <- result{f, err}
	}()
	time.Sleep(time.Second)
	if err := start(); err != nil {
		t.Fatalf("restarting the broker: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.failed == 0 {
		t.Fatal("no attempt failed: the broker was not down during the run")
	}
	return r.failed
}

// checkOnce compares the ids a consumer received with those sent: each exactly once.
func checkOnce(t *testing.T, sent []appevents.Message, got []string) {
	t.Helper()
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	for _, m := range sent {
		if count[m.ID] != 1 {
			t.Errorf("event %s received %d times", m.ID, count[m.ID])
		}
		delete(count, m.ID)
	}
	if len(count) > 0 {
		t.Errorf("%d ids received that were never sent", len(count))
	}
}
