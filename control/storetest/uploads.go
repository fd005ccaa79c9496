package storetest

import (
	"testing"
	"time"

	"presign/control"
)

// usUpload is u with its times as a store returns them (Updated defaulting to Created).
func usUpload(u control.Upload) control.Upload {
	if u.Updated.IsZero() {
		u.Updated = u.Created
	}
	u.Expires, u.Created, u.Updated, u.Completed = us(u.Expires), us(u.Created), us(u.Updated), us(u.Completed)
	return u
}

var uploadTests = []test{
	{"CreatedUploadReadsBackByIDAndKey", func(t *testing.T, e *env) {
		u := e.user("alice")
		for _, up := range []*control.Upload{
			e.newUpload(u.ID, 42),
			func() *control.Upload { // multipart, already uploading, with a checksum
				m := e.newUpload(u.ID, 300<<20)
				m.State, m.MultipartID, m.PartSize, m.PartCount = control.StateUploading, "mp-1", 64<<20, 5
				m.SHA256 = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
				m.MD5, m.CRC32C = "9e107d9d372bb6826bd81d3542a419d6", "22620404"
				return m
			}(),
		} {
			if err := e.s.CreateUpload(e.ctx, up, control.Limits{}); err != nil {
				t.Fatalf("CreateUpload: %v", err)
			}
			got, err := e.s.Upload(e.ctx, up.ID)
			wantErr(t, "Upload", err, nil)
			wantEqual(t, "Upload", *got, usUpload(*up))
			got, err = e.s.UploadByKey(e.ctx, up.Key)
			wantErr(t, "UploadByKey", err, nil)
			wantEqual(t, "UploadByKey", *got, usUpload(*up))
		}
		e.wantUsage(u.ID, control.Usage{Bytes: 42 + 300<<20, Pending: 2})
	}},
	{"CreateUploadRefusalsChangeNothing", func(t *testing.T, e *env) {
		u := e.user("alice")
		first := e.upload(u.ID, 10)
		tests := []struct {
			name   string
			change func(*control.Upload)
			want   error
		}{
			{"same id", func(x *control.Upload) { x.ID = first.ID }, control.ErrConflict},
			{"same key", func(x *control.Upload) { x.Key = first.Key }, control.ErrConflict},
			{"unknown user", func(x *control.Upload) { x.UserID = "nobody" }, control.ErrNotFound},
			{"no id", func(x *control.Upload) { x.ID = "" }, control.ErrInvalid},
			{"no key", func(x *control.Upload) { x.Key = "" }, control.ErrInvalid},
			{"negative size", func(x *control.Upload) { x.Size = -1 }, control.ErrInvalid},
			{"completed state", func(x *control.Upload) { x.State = control.StateCompleted }, control.ErrInvalid},
			{"no expiry", func(x *control.Upload) { x.Expires = time.Time{} }, control.ErrInvalid},
		}
		for _, tc := range tests {
			up := e.newUpload(u.ID, 5)
			tc.change(up)
			wantErr(t, tc.name, e.s.CreateUpload(e.ctx, up, control.Limits{}), tc.want)
		}
		e.wantUsage(u.ID, control.Usage{Bytes: 10, Pending: 1})
		got, err := e.s.Upload(e.ctx, first.ID)
		wantErr(t, "Upload", err, nil)
		wantEqual(t, "first upload", *got, usUpload(*first))
	}},
	{"UnknownUploadIsNotFound", func(t *testing.T, e *env) {
		_, err := e.s.Upload(e.ctx, "upl-none")
		wantErr(t, "Upload", err, control.ErrNotFound)
		_, err = e.s.UploadByKey(e.ctx, "u/x/upl-none/f")
		wantErr(t, "UploadByKey", err, control.ErrNotFound)
	}},
	{"CreateUploadEnforcesLimits", func(t *testing.T, e *env) {
		tests := []struct {
			name  string
			have  []int64 // sizes of uploads already pending
			size  int64
			lim   control.Limits
			want  error
			usage control.Usage // afterwards
		}{
			{"no limits", []int64{1 << 40}, 1 << 40, control.Limits{}, nil, control.Usage{Bytes: 2 << 40, Pending: 2}},
			{"quota exactly reached", []int64{60}, 40, control.Limits{QuotaBytes: 100}, nil, control.Usage{Bytes: 100, Pending: 2}},
			{"quota exceeded by one", []int64{60}, 41, control.Limits{QuotaBytes: 100}, control.ErrQuotaExceeded, control.Usage{Bytes: 60, Pending: 1}},
			{"single upload over quota", nil, 101, control.Limits{QuotaBytes: 100}, control.ErrQuotaExceeded, control.Usage{}},
			{"pending limit reached", []int64{1, 1}, 1, control.Limits{MaxPending: 3}, nil, control.Usage{Bytes: 3, Pending: 3}},
			{"pending limit exceeded", []int64{1, 1, 1}, 1, control.Limits{MaxPending: 3}, control.ErrTooManyPending, control.Usage{Bytes: 3, Pending: 3}},
			{"both exceeded reports pending", []int64{50, 50}, 50, control.Limits{QuotaBytes: 100, MaxPending: 2}, control.ErrTooManyPending, control.Usage{Bytes: 100, Pending: 2}},
			{"quota beyond 32 bits", []int64{4 << 40}, 1 << 40, control.Limits{QuotaBytes: 5 << 40, MaxPending: 1 << 40}, nil, control.Usage{Bytes: 5 << 40, Pending: 2}},
			{"quota beyond 32 bits exceeded", []int64{4 << 40}, 1<<40 + 1, control.Limits{QuotaBytes: 5 << 40}, control.ErrQuotaExceeded, control.Usage{Bytes: 4 << 40, Pending: 1}},
			{"empty upload at full quota", []int64{100}, 0, control.Limits{QuotaBytes: 100}, nil, control.Usage{Bytes: 100, Pending: 2}},
		}
		for _, tc := range tests {
			u := e.user(tc.name)
			for _, size := range tc.have {
				e.upload(u.ID, size)
			}
			up := e.newUpload(u.ID, tc.size)
			wantErr(t, tc.name, e.s.CreateUpload(e.ctx, up, tc.lim), tc.want)
			e.wantUsage(u.ID, tc.usage)
			_, err := e.s.Upload(e.ctx, up.ID)
			if tc.want != nil {
				wantErr(t, tc.name+": refused upload stored", err, control.ErrNotFound)
			}
		}
	}},
	{"UsageFollowsTheLifecycle", func(t *testing.T, e *env) {
		type step struct {
			from, to control.UploadState
			usage    control.Usage
		}
		P, U, C, F, X, D := control.StatePending, control.StateUploading, control.StateCompleted,
			control.StateFailed, control.StateExpired, control.StateDeleted
		paths := []struct {
			name  string
			steps []step
		}{
			{"complete then delete", []step{{P, C, control.Usage{Bytes: 100}}, {C, D, control.Usage{}}}},
			{"multipart complete", []step{{P, U, control.Usage{Bytes: 100, Pending: 1}}, {U, U, control.Usage{Bytes: 100, Pending: 1}}, {U, C, control.Usage{Bytes: 100}}}},
			{"fail then delete", []step{{P, F, control.Usage{}}, {F, D, control.Usage{}}}},
			{"expire then delete", []step{{P, U, control.Usage{Bytes: 100, Pending: 1}}, {U, X, control.Usage{}}, {X, D, control.Usage{}}}},
			{"abort pending", []step{{P, D, control.Usage{}}}},
		}
		for _, p := range paths {
			u := e.user(p.name)
			up := e.upload(u.ID, 100)
			e.wantUsage(u.ID, control.Usage{Bytes: 100, Pending: 1})
			for i, s := range p.steps {
				if _, err := e.s.TransitionUpload(e.ctx, up.ID, []control.UploadState{s.from}, s.to,
					control.Change{At: at(time.Duration(i+1) * time.Minute)}); err != nil {
					t.Fatalf("%s: %s→%s: %v", p.name, s.from, s.to, err)
				}
				if got := e.usage(u.ID); got != s.usage {
					t.Fatalf("%s: after %s→%s usage = %+v, want %+v", p.name, s.from, s.to, got, s.usage)
				}
			}
		}
	}},
	{"QuotaFreedByFailureIsReusable", func(t *testing.T, e *env) {
		u := e.user("alice")
		lim := control.Limits{QuotaBytes: 100, MaxPending: 1}
		first := e.newUpload(u.ID, 100)
		wantErr(t, "first", e.s.CreateUpload(e.ctx, first, lim), nil)
		wantErr(t, "second while first pending", e.s.CreateUpload(e.ctx, e.newUpload(u.ID, 1), lim), control.ErrTooManyPending)
		if _, err := e.s.TransitionUpload(e.ctx, first.ID, []control.UploadState{control.StatePending}, control.StateExpired,
			control.Change{At: at(time.Hour)}); err != nil {
			t.Fatalf("expire: %v", err)
		}
		wantErr(t, "after expiry", e.s.CreateUpload(e.ctx, e.newUpload(u.ID, 100), lim), nil)
	}},
}
