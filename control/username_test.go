package control_test

import (
	"testing"

	"presign/control"
)

// TestUsernamesAreUniqueAfterFoldingAndRefuseMixedScripts: a username is stored in its
// canonical form (lower case, width-mapped, NFC), so names that differ only by case or width
// collide (409); names mixing scripts, which let a Cyrillic "а" pass for a Latin "a", are
// refused (400); a login finds the account whatever the case it is typed in.
func TestUsernamesAreUniqueAfterFoldingAndRefuseMixedScripts(t *testing.T) {
	e := newEnv(t, nil)
	var u control.UserView
	e.must(201, "POST", "/v1/users", e.admin, control.NewUser{Username: "Alice", Password: "alice-password"}, &u)
	if u.Username != "alice" {
		t.Fatalf("stored as %q, want the canonical alice", u.Username)
	}
	for _, tc := range []struct {
		name string
		want int
		code string
	}{
		{"alice", 409, "conflict"},
		{"ALICE", 409, "conflict"},
		{"ａｌｉｃｅ", 409, "conflict"},             // fullwidth
		{"\u0430lice", 400, "invalid_request"}, // Cyrillic а, then Latin
		{"pаypal", 400, "invalid_request"},     // Cyrillic а inside Latin
		{"ΑDMIN", 400, "invalid_request"},      // Greek Alpha, then Latin
		{"al ice", 400, "invalid_request"},
		{"ﬁle", 400, "invalid_request"}, // a compatibility ligature
		{"ADMIN", 409, "conflict"},
	} {
		if st, code := e.call("POST", "/v1/users", e.admin, control.NewUser{Username: tc.name, Password: "some-password"}, nil); st != tc.want || code != tc.code {
			t.Errorf("%q: %d %s, want %d %s", tc.name, st, code, tc.want, tc.code)
		}
	}
	for _, ok := range []string{"йцукен", "山田taro", "josé", "Zoë.K-9_@x"} {
		e.must(201, "POST", "/v1/users", e.admin, control.NewUser{Username: ok, Password: "some-password"}, nil)
	}
	for _, name := range []string{"alice", "ALICE", "Alice"} {
		e.login(name, "alice-password")
	}
}
