package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"presign/control"
)

func ptr[T any](v T) *T { return &v }

var userTests = []test{
	{"CreatedUserReadsBackByIDAndName", func(t *testing.T, e *env) {
		u := &control.User{ID: "usr-1", Username: "alice", PasswordHash: "$argon2id$x", Admin: true, Created: t0,
			Policy: control.PolicyOverride{QuotaBytes: ptr[int64](1 << 30), AllowedContentTypes: []string{"video/*"}}}
		if err := e.s.CreateUser(e.ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		want := *u
		want.Created = us(u.Created)
		got, err := e.s.User(e.ctx, "usr-1")
		wantErr(t, "User", err, nil)
		wantEqual(t, "User", *got, want)
		got, err = e.s.UserByName(e.ctx, "alice")
		wantErr(t, "UserByName", err, nil)
		wantEqual(t, "UserByName", *got, want)
		e.wantUsage("usr-1", control.Usage{})
	}},
	{"CreateUserRefusesTakenNameOrID", func(t *testing.T, e *env) {
		e.user("alice")
		for _, tc := range []struct{ name, id, username string }{
			{"same username", "usr-other", "alice"},
			{"same id", "usr-000001", "bob"},
		} {
			err := e.s.CreateUser(e.ctx, &control.User{ID: tc.id, Username: tc.username, PasswordHash: "h", Created: t0})
			wantErr(t, tc.name, err, control.ErrConflict)
		}
		if _, err := e.s.UserByName(e.ctx, "bob"); err == nil {
			t.Fatal("a refused user was stored")
		}
	}},
	{"CreateUserRefusesLookAlikeName", func(t *testing.T, e *env) {
		e.user("ape")
		// Cyrillic а р е, and Greek ο ρ with a Latin s, look like ape and ops: the same
		// control.UsernameSkeleton.
		err := e.s.CreateUser(e.ctx, &control.User{ID: "usr-cyrillic", Username: "аре", PasswordHash: "h", Created: t0})
		wantErr(t, "CreateUser(аре) beside ape", err, control.ErrConflict)
		if _, err := e.s.UserByName(e.ctx, "аре"); !errors.Is(err, control.ErrNotFound) {
			t.Fatalf("the refused look-alike was stored: %v", err)
		}
		// The first name of a skeleton holds it; a look-alike of that one is refused in turn.
		e.user("ορs")
		err = e.open().CreateUser(e.ctx, &control.User{ID: "usr-latin", Username: "ops", PasswordHash: "h", Created: t0})
		wantErr(t, "CreateUser(ops) beside ορs", err, control.ErrConflict)
		e.user("apes")
	}},
	{"LookAlikeNamesCreatedTogetherAdmitOne", func(t *testing.T, e *env) {
		// Every mix of Latin and Cyrillic letters of "scope": 32 names, one skeleton.
		var names []string
		for i := range racers {
			var b strings.Builder
			for j, pair := range []string{"sѕ", "cс", "oо", "pр", "eе"} {
				b.WriteRune([]rune(pair)[i>>j&1])
			}
			names = append(names, b.String())
		}
		stores := []control.Store{e.s, e.open()}
		errs := race(racers, func(i int) error {
			return stores[i%2].CreateUser(e.ctx, &control.User{ID: fmt.Sprintf("usr-%02d", i), Username: names[i], PasswordHash: "h", Created: t0})
		})
		ok, refused := count(t, errs, control.ErrConflict)
		if ok != 1 || refused != racers-1 {
			t.Fatalf("created %d, refused %d of %d look-alikes; want 1 and %d", ok, refused, racers, racers-1)
		}
		users, err := e.s.ListUsers(e.ctx, "", control.MaxPage)
		wantErr(t, "ListUsers", err, nil)
		if len(users) != 1 {
			t.Fatalf("stored %d look-alikes, want 1", len(users))
		}
	}},
	{"CreateUserRefusesMissingFields", func(t *testing.T, e *env) {
		for _, u := range []control.User{
			{Username: "a", PasswordHash: "h", Created: t0},
			{ID: "x", PasswordHash: "h", Created: t0},
			{ID: "x", Username: "a", Created: t0},
			{ID: "x", Username: "a", PasswordHash: "h"},
		} {
			wantErr(t, "CreateUser", e.s.CreateUser(e.ctx, &u), control.ErrInvalid)
		}
		users, err := e.s.ListUsers(e.ctx, "", 10)
		wantErr(t, "ListUsers", err, nil)
		if len(users) != 0 {
			t.Fatalf("refused users were stored: %+v", users)
		}
	}},
	{"UnknownUserIsNotFound", func(t *testing.T, e *env) {
		_, err := e.s.User(e.ctx, "nobody")
		wantErr(t, "User", err, control.ErrNotFound)
		_, err = e.s.UserByName(e.ctx, "nobody")
		wantErr(t, "UserByName", err, control.ErrNotFound)
		_, err = e.s.Usage(e.ctx, "nobody")
		wantErr(t, "Usage", err, control.ErrNotFound)
		_, err = e.s.UpdateUser(e.ctx, "nobody", control.UserUpdate{Disabled: ptr(true)})
		wantErr(t, "UpdateUser", err, control.ErrNotFound)
	}},
	{"UpdateUserChangesOnlyGivenFields", func(t *testing.T, e *env) {
		u := e.user("alice")
		pol := control.PolicyOverride{MaxPendingUploads: ptr(3), URLTTLSeconds: ptr(60)}
		tests := []struct {
			name string
			upd  control.UserUpdate
			want func(*control.User)
		}{
			{"disable", control.UserUpdate{Disabled: ptr(true)}, func(w *control.User) { w.Disabled = true }},
			{"policy", control.UserUpdate{Policy: &pol}, func(w *control.User) { w.Policy = pol }},
			{"nothing", control.UserUpdate{}, func(*control.User) {}},
			{"enable and clear policy", control.UserUpdate{Disabled: ptr(false), Policy: &control.PolicyOverride{}},
				func(w *control.User) { w.Disabled = false; w.Policy = control.PolicyOverride{} }},
		}
		want := *u
		want.Created = us(u.Created)
		for _, tc := range tests {
			tc.want(&want)
			got, err := e.s.UpdateUser(e.ctx, u.ID, tc.upd)
			wantErr(t, tc.name, err, nil)
			wantEqual(t, tc.name+": returned", *got, want)
			got, err = e.s.User(e.ctx, u.ID)
			wantErr(t, tc.name, err, nil)
			wantEqual(t, tc.name+": read back", *got, want)
		}
	}},
	{"ListUsersPagesByUsername", func(t *testing.T, e *env) {
		for _, n := range []string{"carol", "alice", "dave", "bob", "erin"} {
			e.user(n)
		}
		var got []string
		after := ""
		for {
			page, err := e.s.ListUsers(e.ctx, after, 2)
			wantErr(t, "ListUsers", err, nil)
			if len(page) == 0 {
				break
			}
			for _, u := range page {
				got = append(got, u.Username)
			}
			after = page[len(page)-1].Username
		}
		wantEqual(t, "usernames", got, []string{"alice", "bob", "carol", "dave", "erin"})
		for _, n := range []int{0, -1, control.MaxPage + 1} {
			_, err := e.s.ListUsers(e.ctx, "", n)
			wantErr(t, "ListUsers limit", err, control.ErrInvalid)
		}
	}},
	{"DefaultPolicyIsNotFoundUntilSetThenReplaced", func(t *testing.T, e *env) {
		_, err := e.s.DefaultPolicy(e.ctx)
		wantErr(t, "DefaultPolicy before set", err, control.ErrNotFound)
		for _, p := range []control.Policy{
			{MaxObjectBytes: 5 << 30, AllowedContentTypes: []string{"video/*", "image/png"}, QuotaBytes: 10 << 30,
				MaxPendingUploads: 10, URLTTLSeconds: 900},
			{MaxObjectBytes: 1, AllowedContentTypes: []string{"*/*"}, URLTTLSeconds: 60},
		} {
			wantErr(t, "SetDefaultPolicy", e.s.SetDefaultPolicy(e.ctx, p), nil)
			got, err := e.s.DefaultPolicy(e.ctx)
			wantErr(t, "DefaultPolicy", err, nil)
			wantEqual(t, "DefaultPolicy", got, p)
		}
		// Another replica sees it too.
		got, err := e.open().DefaultPolicy(e.ctx)
		wantErr(t, "DefaultPolicy on second store", err, nil)
		wantEqual(t, "DefaultPolicy on second store", got.URLTTLSeconds, 60)
	}},
}
