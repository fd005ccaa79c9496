package storetest

import (
	"testing"
	"time"

	"presign/control"
)

// uploadToken records an upload token of the user, expiring an hour after t0.
func (e *env) uploadToken(userID, subject string) *control.UploadToken {
	e.t.Helper()
	id := e.id("upt")
	t := &control.UploadToken{ID: id, Hash: []byte("hash-" + id), UserID: userID, Subject: subject,
		Limits:  control.UploadLimits{MaxFileBytes: 1 << 20, MaxFiles: 3, AllowedContentTypes: []string{"image/*"}, KeyPrefix: "avatars/"},
		Created: t0, Expires: at(time.Hour)}
	if err := e.s.CreateUploadToken(e.ctx, t); err != nil {
		e.t.Fatalf("CreateUploadToken: %v", err)
	}
	return t
}

// tokenCounts returns what the store counts for the token's uploads.
func (e *env) tokenCounts(t *control.UploadToken) (int, int64) {
	e.t.Helper()
	got, _, err := e.s.UploadTokenUser(e.ctx, t.Hash)
	if err != nil {
		e.t.Fatalf("UploadTokenUser: %v", err)
	}
	return got.Files, got.Bytes
}

var uploadTokenTests = []test{
	{"UploadTokenRoundTripsByHashWithItsUser", func(t *testing.T, e *env) {
		u := e.user("alice")
		tok := e.uploadToken(u.ID, "app-user-42 ü")
		got, owner, err := e.open().UploadTokenUser(e.ctx, tok.Hash)
		wantErr(t, "UploadTokenUser", err, nil)
		want := *tok
		want.Created, want.Expires = us(tok.Created), us(tok.Expires)
		wantEqual(t, "token", *got, want)
		wantEqual(t, "owner", owner.ID, u.ID)
		_, _, err = e.s.UploadTokenUser(e.ctx, []byte("no such hash"))
		wantErr(t, "unknown hash", err, control.ErrNotFound)
		wantErr(t, "same hash again", e.s.CreateUploadToken(e.ctx, &control.UploadToken{ID: "other", Hash: tok.Hash, UserID: u.ID,
			Created: t0, Expires: at(time.Hour)}), control.ErrConflict)
		wantErr(t, "no such user", e.s.CreateUploadToken(e.ctx, &control.UploadToken{ID: "x", Hash: []byte("x"), UserID: "nobody",
			Created: t0, Expires: at(time.Hour)}), control.ErrNotFound)
	}},
	{"RevokeUploadTokenIsTheOwnersAndKeepsTheFirstTime", func(t *testing.T, e *env) {
		alice, bob := e.user("alice"), e.user("bob")
		tok := e.uploadToken(alice.ID, "")
		wantErr(t, "revoke by another user", e.s.RevokeUploadToken(e.ctx, bob.ID, tok.ID, at(time.Minute)), control.ErrNotFound)
		wantErr(t, "revoke", e.s.RevokeUploadToken(e.ctx, alice.ID, tok.ID, at(time.Minute)), nil)
		wantErr(t, "revoke again", e.s.RevokeUploadToken(e.ctx, alice.ID, tok.ID, at(2*time.Minute)), nil)
		got, _, err := e.s.UploadTokenUser(e.ctx, tok.Hash)
		wantErr(t, "UploadTokenUser", err, nil)
		if !got.Revoked.Equal(us(at(time.Minute))) || got.Active(at(time.Minute)) {
			t.Fatalf("revoked at %v, active %v", got.Revoked, got.Active(at(time.Minute)))
		}
		list, err := e.s.ListUploadTokens(e.ctx, alice.ID)
		wantErr(t, "ListUploadTokens", err, nil)
		if len(list) != 1 || list[0].ID != tok.ID {
			t.Fatalf("alice's tokens %+v", list)
		}
		if list, _ := e.s.ListUploadTokens(e.ctx, bob.ID); len(list) != 0 {
			t.Fatalf("bob's tokens %+v", list)
		}
	}},
	{"TokenUploadsCountAndCarryTheSubjectToTheFile", func(t *testing.T, e *env) {
		u := e.user("alice")
		tok := e.uploadToken(u.ID, "app-user-7")
		up := e.newUpload(u.ID, 0)
		up.TokenID, up.Subject, up.MaxSize = tok.ID, tok.Subject, 1000
		wantErr(t, "CreateUpload", e.s.CreateUpload(e.ctx, up, control.Limits{TokenFiles: 3}), nil)
		if f, b := e.tokenCounts(tok); f != 1 || b != 1000 {
			t.Fatalf("token counts %d files, %d bytes; want 1, 1000 (the maximum, reserved)", f, b)
		}
		e.wantUsage(u.ID, control.Usage{Bytes: 1000, Pending: 1})
		got, err := e.s.Upload(e.ctx, up.ID)
		wantErr(t, "Upload", err, nil)
		if got.TokenID != tok.ID || got.Subject != "app-user-7" || got.MaxSize != 1000 || got.Size != 0 {
			t.Fatalf("upload read back %+v", got)
		}
		done, err := e.s.TransitionUpload(e.ctx, up.ID, states(control.StatePending), control.StateCompleted,
			control.Change{At: at(time.Minute), ETag: "e", Size: 321})
		wantErr(t, "complete", err, nil)
		if done.Size != 321 {
			t.Fatalf("completed with size %d, want the object's 321", done.Size)
		}
		e.wantUsage(u.ID, control.Usage{Bytes: 321})
		if f, b := e.tokenCounts(tok); f != 1 || b != 321 {
			t.Fatalf("token counts %d files, %d bytes; want 1, 321", f, b)
		}
		f, err := e.open().File(e.ctx, up.ID)
		wantErr(t, "File", err, nil)
		if f.Subject != "app-user-7" || f.Size != 321 {
			t.Fatalf("file %+v: want subject app-user-7, size 321", f)
		}
		again, err := e.open().Upload(e.ctx, up.ID)
		wantErr(t, "Upload", err, nil)
		if again.Size != 321 {
			t.Fatalf("the completed upload reads back size %d", again.Size)
		}
	}},
	{"FailedTokenUploadGivesBackItsReservation", func(t *testing.T, e *env) {
		u := e.user("alice")
		tok := e.uploadToken(u.ID, "")
		up := e.newUpload(u.ID, 0)
		up.TokenID, up.MaxSize = tok.ID, 5000
		wantErr(t, "CreateUpload", e.s.CreateUpload(e.ctx, up, control.Limits{}), nil)
		_, err := e.s.TransitionUpload(e.ctx, up.ID, states(control.StatePending), control.StateFailed,
			control.Change{At: at(time.Minute), FailReason: "aborted"})
		wantErr(t, "fail", err, nil)
		e.wantUsage(u.ID, control.Usage{})
		if f, b := e.tokenCounts(tok); f != 0 || b != 0 {
			t.Fatalf("token counts %d files, %d bytes after the failure; want 0, 0", f, b)
		}
	}},
	{"TokenLimitRaceAdmitsExactlyItsFilesAndBytes", func(t *testing.T, e *env) {
		u := e.user("alice")
		stores := []control.Store{e.s, e.open()}
		for _, tc := range []struct {
			name  string
			lim   control.Limits
			admit int
		}{
			{"files", control.Limits{TokenFiles: 4}, 4},
			{"bytes", control.Limits{TokenBytes: 5 * 100}, 5},
		} {
			tok := e.uploadToken(u.ID, tc.name)
			errs := race(racers, func(i int) error {
				up := e.newUpload(u.ID, 100)
				up.TokenID = tok.ID
				return stores[i%2].CreateUpload(e.ctx, up, tc.lim)
			})
			ok, refused := count(t, errs, control.ErrTokenExhausted)
			if ok != tc.admit || refused != racers-tc.admit {
				t.Fatalf("%s: admitted %d, refused %d; want %d and %d", tc.name, ok, refused, tc.admit, racers-tc.admit)
			}
			if f, b := e.tokenCounts(tok); f != tc.admit || b != int64(tc.admit)*100 {
				t.Fatalf("%s: token counts %d files, %d bytes", tc.name, f, b)
			}
		}
		// A refused upload changed nothing of the user's usage either.
		e.wantUsage(u.ID, control.Usage{Bytes: 9 * 100, Pending: 9})
	}},
	{"QuotaRefusalOfATokenUploadChangesNoCount", func(t *testing.T, e *env) {
		u := e.user("alice")
		tok := e.uploadToken(u.ID, "")
		up := e.newUpload(u.ID, 0)
		up.TokenID, up.MaxSize = tok.ID, 2000
		wantErr(t, "CreateUpload over quota", e.s.CreateUpload(e.ctx, up, control.Limits{QuotaBytes: 1000}), control.ErrQuotaExceeded)
		if f, b := e.tokenCounts(tok); f != 0 || b != 0 {
			t.Fatalf("token counts %d files, %d bytes after a refusal", f, b)
		}
		e.wantUsage(u.ID, control.Usage{})
		_, err := e.s.Upload(e.ctx, up.ID)
		wantErr(t, "the refused upload", err, control.ErrNotFound)
	}},
	{"PruneRemovesExpiredUploadTokensOnly", func(t *testing.T, e *env) {
		u := e.user("alice")
		old := e.uploadToken(u.ID, "old")
		fresh := &control.UploadToken{ID: "fresh", Hash: []byte("fresh"), UserID: u.ID, Created: t0, Expires: at(3 * time.Hour)}
		wantErr(t, "CreateUploadToken", e.s.CreateUploadToken(e.ctx, fresh), nil)
		if _, err := e.s.Prune(e.ctx, at(time.Hour+time.Second)); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.s.UploadTokenUser(e.ctx, old.Hash)
		wantErr(t, "expired token after Prune", err, control.ErrNotFound)
		list, err := e.s.ListUploadTokens(e.ctx, u.ID)
		wantErr(t, "ListUploadTokens", err, nil)
		if len(list) != 1 || list[0].ID != "fresh" {
			t.Fatalf("tokens left %+v, want the one that has not expired", list)
		}
	}},
}
