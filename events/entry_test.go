package events

import (
	"errors"
	"strings"
	"testing"
)

func TestEntryCheck(t *testing.T) {
	good := Entry{Seq: 1, ID: NewID(), Key: "bucket/key", Body: []byte(`{"Records":[]}`)}
	for _, tc := range []struct {
		name   string
		change func(*Entry)
		ok     bool
	}{
		{"good", func(*Entry) {}, true},
		{"longest key", func(e *Entry) { e.Key = strings.Repeat("k", MaxEntryKeyLen) }, true},
		{"seq 0", func(e *Entry) { e.Seq = 0 }, false},
		{"empty id", func(e *Entry) { e.ID = "" }, false},
		{"id with a dot", func(e *Entry) { e.ID = "not.an.id" }, false},
		{"empty key", func(e *Entry) { e.Key = "" }, false},
		{"key too long", func(e *Entry) { e.Key = strings.Repeat("k", MaxEntryKeyLen+1) }, false},
		{"empty body", func(e *Entry) { e.Body = nil }, false},
		{"body not JSON", func(e *Entry) { e.Body = []byte("{nope") }, false},
		{"body too long", func(e *Entry) { e.Body = []byte(`"` + strings.Repeat("x", MaxEntryBodyLen) + `"`) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			tc.change(&e)
			err := e.Check()
			if tc.ok && err != nil {
				t.Fatalf("Check: %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("Check: %v, want ErrInvalidEntry", err)
			}
		})
	}
}
