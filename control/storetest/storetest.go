// Package storetest is the contract every control.Store implementation must meet: one suite,
// run by each implementation's own tests against a real database (litestream's pattern of one
// shared client suite). It checks behaviour only through the control.Store interface.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"presign/control"
)

// Fresh creates an empty database for t and returns a function that opens a Store on it. Each
// call of open returns another, independent Store on the same database, as a second replica
// would have. The implementation closes every Store and removes the database at t's cleanup.
type Fresh func(t testing.TB) (open func() control.Store)

// Run runs the whole contract suite, one subtest per behaviour, each on a fresh database.
func Run(t *testing.T, fresh Fresh) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Users", userTests},
		{"Tokens", tokenTests},
		{"UploadTokens", uploadTokenTests},
		{"Uploads", uploadTests},
		{"Transitions", transitionTests},
		{"Races", raceTests},
		{"Overdue", overdueTests},
		{"Files", fileTests},
		{"Metadata", metadataTests},
		{"Log", logTests},
		{"AppEvents", appEventTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, newEnv(t, fresh))
				})
			}
		})
	}
}

// test is one behaviour of the contract.
type test struct {
	name string
	run  func(t *testing.T, e *env)
}

// env is one subtest's database: a Store on it, a way to open more, and fixtures.
type env struct {
	t      *testing.T
	ctx    context.Context
	open   func() control.Store
	s      control.Store
	mu     sync.Mutex
	serial int
}

func newEnv(t *testing.T, fresh Fresh) *env {
	open := fresh(t)
	return &env{t: t, ctx: context.Background(), open: open, s: open()}
}

// t0 has nanoseconds on purpose: stores keep microseconds.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// us is t as a store returns it: UTC, to the microsecond.
func us(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// id returns a new identifier with the prefix, unique within the env, sorting in creation order.
func (e *env) id(prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.serial++
	return fmt.Sprintf("%s-%06d", prefix, e.serial)
}

// user creates a user named name.
func (e *env) user(name string) *control.User {
	e.t.Helper()
	u := &control.User{ID: e.id("usr"), Username: name, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", Created: t0}
	if err := e.s.CreateUser(e.ctx, u); err != nil {
		e.t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

// upload returns a new pending upload of size bytes for the user, valid for an hour, not yet
// recorded.
func (e *env) newUpload(userID string, size int64) *control.Upload {
	id := e.id("upl")
	return &control.Upload{
		ID: id, UserID: userID, Key: "u/" + userID + "/" + id + "/file name ü.bin", Filename: "file name ü.bin",
		ContentType: "application/octet-stream", Size: size, State: control.StatePending, Nonce: "n-" + id,
		Created: t0, Expires: at(time.Hour),
	}
}

// upload records a new pending upload of size bytes for the user, with no limits.
func (e *env) upload(userID string, size int64) *control.Upload {
	e.t.Helper()
	u := e.newUpload(userID, size)
	if err := e.s.CreateUpload(e.ctx, u, control.Limits{}); err != nil {
		e.t.Fatalf("CreateUpload: %v", err)
	}
	return u
}

// complete moves the upload from pending to completed at the time.
func (e *env) complete(id string, when time.Time) {
	e.t.Helper()
	if _, err := e.s.TransitionUpload(e.ctx, id, []control.UploadState{control.StatePending, control.StateUploading},
		control.StateCompleted, control.Change{At: when, ETag: "etag-" + id}); err != nil {
		e.t.Fatalf("complete %s: %v", id, err)
	}
}

// usage returns the user's usage.
func (e *env) usage(userID string) control.Usage {
	e.t.Helper()
	u, err := e.s.Usage(e.ctx, userID)
	if err != nil {
		e.t.Fatalf("Usage: %v", err)
	}
	return u
}

// wantUsage fails the test unless the user's usage is want.
func (e *env) wantUsage(userID string, want control.Usage) {
	e.t.Helper()
	if got := e.usage(userID); got != want {
		e.t.Fatalf("Usage = %+v, want %+v", got, want)
	}
}

// wantErr fails the test unless errors.Is(err, want) (want nil: err is nil).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// wantEqual fails the test unless got and want are deeply equal.
func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// race runs n calls of f at once (released together) and returns their errors by index.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = f(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// count returns how many of errs are nil and how many match want; it fails on any other error.
func count(t *testing.T, errs []error, want error) (ok, matched int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, want):
			matched++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	return ok, matched
}
