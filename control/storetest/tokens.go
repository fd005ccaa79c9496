package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"presign/control"
)

// token records a token of the kind for the user, created at the time, valid for a day.
func (e *env) token(userID string, kind control.TokenKind, created time.Time) *control.Token {
	e.t.Helper()
	id := e.id("tok")
	h := sha256.Sum256([]byte("secret of " + id))
	tk := &control.Token{ID: id, Hash: h[:], Kind: kind, UserID: userID, Created: created, Expires: created.Add(24 * time.Hour)}
	if kind == control.TokenAPIKey {
		tk.Name = "key " + id
	}
	if err := e.s.CreateToken(e.ctx, tk); err != nil {
		e.t.Fatalf("CreateToken: %v", err)
	}
	return tk
}

// usToken is tk with its times as a store returns them.
func usToken(tk control.Token) control.Token {
	tk.Created, tk.Expires, tk.Revoked, tk.LastUsed = us(tk.Created), us(tk.Expires), us(tk.Revoked), us(tk.LastUsed)
	return tk
}

// newKey is an API key of the user, created at the time, valid for a day, not yet stored.
func (e *env) newKey(userID string, created time.Time) *control.Token {
	id := e.id("tok")
	h := sha256.Sum256([]byte("secret of " + id))
	return &control.Token{ID: id, Hash: h[:], Kind: control.TokenAPIKey, UserID: userID, Name: "key " + id,
		Created: created, Expires: created.Add(24 * time.Hour)}
}

var tokenTests = []test{
	{"CreateTokenWithinCountsOnlyActiveTokensOfTheKind", func(t *testing.T, e *env) {
		u, other := e.user("alice"), e.user("bob")
		e.token(u.ID, control.TokenSession, t0) // another kind
		e.token(other.ID, control.TokenAPIKey, t0)
		wantErr(t, "1st", e.s.CreateTokenWithin(e.ctx, e.newKey(u.ID, t0), 2), nil)
		second := e.newKey(u.ID, t0)
		wantErr(t, "2nd", e.s.CreateTokenWithin(e.ctx, second, 2), nil)
		wantErr(t, "3rd", e.s.CreateTokenWithin(e.ctx, e.newKey(u.ID, t0), 2), control.ErrTooManyTokens)
		// A revoked key, and keys expired by the new one's creation, no longer count.
		wantErr(t, "RevokeToken", e.s.RevokeToken(e.ctx, u.ID, second.ID, at(time.Minute)), nil)
		wantErr(t, "after a revocation", e.s.CreateTokenWithin(e.ctx, e.newKey(u.ID, at(time.Minute)), 2), nil)
		wantErr(t, "full again", e.s.CreateTokenWithin(e.ctx, e.newKey(u.ID, at(time.Minute)), 2), control.ErrTooManyTokens)
		wantErr(t, "after expiry", e.s.CreateTokenWithin(e.ctx, e.newKey(u.ID, at(25*time.Hour)), 2), nil)
		keys, err := e.s.ListTokens(e.ctx, u.ID, control.TokenAPIKey)
		wantErr(t, "ListTokens", err, nil)
		wantEqual(t, "keys stored", len(keys), 4)
		wantErr(t, "no such user", e.s.CreateTokenWithin(e.ctx, e.newKey("usr-none", t0), 2), control.ErrNotFound)
	}},
	{"ConcurrentCreateTokenWithinNeverExceedsTheCap", func(t *testing.T, e *env) {
		u := e.user("alice")
		stores := []control.Store{e.s, e.open()}
		const max = 3
		errs := race(racers, func(i int) error {
			return stores[i%2].CreateTokenWithin(e.ctx, e.newKey(u.ID, t0), max)
		})
		ok, refused := count(t, errs, control.ErrTooManyTokens)
		if ok != max || refused != racers-max {
			t.Fatalf("%d created and %d refused, want %d and %d", ok, refused, max, racers-max)
		}
	}},
	{"TokenReadsBackByHash", func(t *testing.T, e *env) {
		u := e.user("alice")
		for _, kind := range []control.TokenKind{control.TokenSession, control.TokenAPIKey} {
			tk := e.token(u.ID, kind, t0)
			got, err := e.s.TokenByHash(e.ctx, tk.Hash)
			wantErr(t, "TokenByHash", err, nil)
			wantEqual(t, "TokenByHash", *got, usToken(*tk))
			if !got.Active(at(time.Hour)) || got.Active(at(25*time.Hour)) {
				t.Fatalf("Active: want active within its day only")
			}
		}
		h := sha256.Sum256([]byte("never issued"))
		_, err := e.s.TokenByHash(e.ctx, h[:])
		wantErr(t, "TokenByHash unknown", err, control.ErrNotFound)
	}},
	{"TokenUserReadsTheTokenAndItsUserAtOnce", func(t *testing.T, e *env) {
		tu, ok := e.s.(control.TokenUserStore)
		if !ok {
			t.Skip("the store reads a token and its user one at a time")
		}
		u := e.user("alice")
		limit := int64(1 << 20)
		if _, err := e.s.UpdateUser(e.ctx, u.ID, control.UserUpdate{Policy: &control.PolicyOverride{QuotaBytes: &limit}}); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		tk := e.token(u.ID, control.TokenAPIKey, t0)
		wantErr(t, "RevokeToken", e.s.RevokeToken(e.ctx, u.ID, tk.ID, at(time.Minute)), nil)
		gotT, gotU, err := tu.TokenUser(e.ctx, tk.Hash)
		wantErr(t, "TokenUser", err, nil)
		wantT, err := e.s.TokenByHash(e.ctx, tk.Hash)
		wantErr(t, "TokenByHash", err, nil)
		wantU, err := e.s.User(e.ctx, u.ID)
		wantErr(t, "User", err, nil)
		wantEqual(t, "TokenUser token", *gotT, *wantT)
		wantEqual(t, "TokenUser user", *gotU, *wantU)
		h := sha256.Sum256([]byte("never issued"))
		_, _, err = tu.TokenUser(e.ctx, h[:])
		wantErr(t, "TokenUser unknown", err, control.ErrNotFound)
	}},
	{"CreateTokenRefusals", func(t *testing.T, e *env) {
		u := e.user("alice")
		tk := e.token(u.ID, control.TokenSession, t0)
		h := sha256.Sum256([]byte("other"))
		tests := []struct {
			name string
			tok  control.Token
			want error
		}{
			{"same hash", control.Token{ID: "t-x", Hash: tk.Hash, Kind: control.TokenSession, UserID: u.ID, Created: t0, Expires: at(time.Hour)}, control.ErrConflict},
			{"same id", control.Token{ID: tk.ID, Hash: h[:], Kind: control.TokenSession, UserID: u.ID, Created: t0, Expires: at(time.Hour)}, control.ErrConflict},
			{"unknown user", control.Token{ID: "t-y", Hash: h[:], Kind: control.TokenSession, UserID: "nobody", Created: t0, Expires: at(time.Hour)}, control.ErrNotFound},
			{"no hash", control.Token{ID: "t-z", Kind: control.TokenSession, UserID: u.ID, Created: t0, Expires: at(time.Hour)}, control.ErrInvalid},
			{"bad kind", control.Token{ID: "t-z", Hash: h[:], Kind: "cookie", UserID: u.ID, Created: t0, Expires: at(time.Hour)}, control.ErrInvalid},
			{"no expiry", control.Token{ID: "t-z", Hash: h[:], Kind: control.TokenAPIKey, UserID: u.ID, Created: t0}, control.ErrInvalid},
		}
		for _, tc := range tests {
			wantErr(t, tc.name, e.s.CreateToken(e.ctx, &tc.tok), tc.want)
		}
		_, err := e.s.TokenByHash(e.ctx, h[:])
		wantErr(t, "refused token stored", err, control.ErrNotFound)
	}},
	{"RevokeTokenOnlyTheOwnersAndKeepsFirstTime", func(t *testing.T, e *env) {
		alice, bob := e.user("alice"), e.user("bob")
		key := e.token(alice.ID, control.TokenAPIKey, t0)
		wantErr(t, "revoke by other user", e.s.RevokeToken(e.ctx, bob.ID, key.ID, at(time.Minute)), control.ErrNotFound)
		wantErr(t, "revoke unknown", e.s.RevokeToken(e.ctx, alice.ID, "tok-none", at(time.Minute)), control.ErrNotFound)
		got, _ := e.s.TokenByHash(e.ctx, key.Hash)
		if !got.Active(at(time.Minute)) {
			t.Fatal("a refused revocation revoked the token")
		}
		wantErr(t, "revoke", e.s.RevokeToken(e.ctx, alice.ID, key.ID, at(time.Minute)), nil)
		wantErr(t, "revoke again", e.s.RevokeToken(e.ctx, alice.ID, key.ID, at(time.Hour)), nil)
		// Another replica sees the revocation.
		got, err := e.open().TokenByHash(e.ctx, key.Hash)
		wantErr(t, "TokenByHash", err, nil)
		if got.Active(at(2*time.Minute)) || !got.Revoked.Equal(us(at(time.Minute))) {
			t.Fatalf("Revoked = %v, want %v and inactive", got.Revoked, us(at(time.Minute)))
		}
	}},
	{"RevokeUserTokensByKind", func(t *testing.T, e *env) {
		alice, bob := e.user("alice"), e.user("bob")
		s1, s2 := e.token(alice.ID, control.TokenSession, t0), e.token(alice.ID, control.TokenSession, t0)
		k1 := e.token(alice.ID, control.TokenAPIKey, t0)
		bobs := e.token(bob.ID, control.TokenSession, t0)
		wantErr(t, "RevokeToken", e.s.RevokeToken(e.ctx, alice.ID, s2.ID, at(time.Second)), nil)
		n, err := e.s.RevokeUserTokens(e.ctx, alice.ID, control.TokenSession, at(time.Minute))
		wantErr(t, "RevokeUserTokens sessions", err, nil)
		wantEqual(t, "sessions revoked", n, 1)
		now := at(2 * time.Minute)
		for _, tc := range []struct {
			tok    *control.Token
			active bool
		}{{s1, false}, {s2, false}, {k1, true}, {bobs, true}} {
			got, err := e.s.TokenByHash(e.ctx, tc.tok.Hash)
			wantErr(t, "TokenByHash", err, nil)
			if got.Active(now) != tc.active {
				t.Fatalf("token %s active = %v, want %v", tc.tok.ID, !tc.active, tc.active)
			}
		}
		n, err = e.s.RevokeUserTokens(e.ctx, alice.ID, "", at(time.Minute))
		wantErr(t, "RevokeUserTokens all", err, nil)
		wantEqual(t, "all revoked", n, 1)
	}},
	{"ListTokensNewestFirstByKindWithRevoked", func(t *testing.T, e *env) {
		alice, bob := e.user("alice"), e.user("bob")
		k1 := e.token(alice.ID, control.TokenAPIKey, t0)
		k2 := e.token(alice.ID, control.TokenAPIKey, at(time.Minute))
		e.token(alice.ID, control.TokenSession, at(time.Minute))
		e.token(bob.ID, control.TokenAPIKey, at(time.Minute))
		wantErr(t, "RevokeToken", e.s.RevokeToken(e.ctx, alice.ID, k1.ID, at(time.Hour)), nil)
		got, err := e.s.ListTokens(e.ctx, alice.ID, control.TokenAPIKey)
		wantErr(t, "ListTokens", err, nil)
		r1 := *k1
		r1.Revoked = at(time.Hour)
		wantEqual(t, "ListTokens", got, []control.Token{usToken(*k2), usToken(r1)})
	}},
	{"TouchTokenRecordsLastUse", func(t *testing.T, e *env) {
		tk := e.token(e.user("alice").ID, control.TokenAPIKey, t0)
		wantErr(t, "TouchToken", e.s.TouchToken(e.ctx, tk.ID, at(time.Minute)), nil)
		got, _ := e.s.TokenByHash(e.ctx, tk.Hash)
		wantEqual(t, "LastUsed", got.LastUsed, us(at(time.Minute)))
		wantErr(t, "TouchToken unknown", e.s.TouchToken(e.ctx, "tok-none", t0), control.ErrNotFound)
	}},
	{"PruneRemovesExpiredTokensOnly", func(t *testing.T, e *env) {
		u := e.user("alice")
		old := e.token(u.ID, control.TokenSession, t0)              // expires t0+24h
		fresh := e.token(u.ID, control.TokenSession, at(time.Hour)) // expires t0+25h
		_, err := e.s.Prune(e.ctx, at(24*time.Hour+time.Minute))
		wantErr(t, "Prune", err, nil)
		_, err = e.s.TokenByHash(e.ctx, old.Hash)
		wantErr(t, "expired token", err, control.ErrNotFound)
		_, err = e.s.TokenByHash(e.ctx, fresh.Hash)
		wantErr(t, "unexpired token", err, nil)
	}},
}
