package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"presign/control"
	"presign/control/appevents"
)

// secret is a valid endpoint secret.
var secret = appevents.NewSecret().Encode()

// endpoint records a live endpoint of the owner ("" for one for all users) for the types.
func (e *env) endpoint(ownerID string, allUsers bool, types ...appevents.Type) *control.Endpoint {
	e.t.Helper()
	mask := appevents.AllTypes
	if len(types) > 0 {
		mask = appevents.MaskOf(types...)
	}
	ep := &control.Endpoint{ID: e.id("whk"), OwnerID: ownerID, AllUsers: allUsers, URL: "https://hooks.example.test/" + ownerID,
		Events: mask, Secret: secret, Created: t0}
	if err := e.s.CreateEndpoint(e.ctx, ep); err != nil {
		e.t.Fatalf("CreateEndpoint: %v", err)
	}
	return ep
}

// claim claims every due delivery at now with a minute's lease.
func (e *env) claim(s control.Store, now time.Time) []appevents.Delivery {
	e.t.Helper()
	ds, err := s.ClaimDeliveries(e.ctx, now, time.Minute, control.MaxPage)
	if err != nil {
		e.t.Fatalf("ClaimDeliveries: %v", err)
	}
	return ds
}

// finish records the outcomes.
func (e *env) finish(outs ...appevents.Outcome) {
	e.t.Helper()
	if err := e.s.FinishDeliveries(e.ctx, outs); err != nil {
		e.t.Fatalf("FinishDeliveries: %v", err)
	}
}

// delivered is the outcome of a successful attempt at d.
func delivered(d appevents.Delivery, when time.Time) appevents.Outcome {
	return appevents.Outcome{DeliveryID: d.ID, Claim: d.Claim, Attempted: true, At: when, Duration: time.Millisecond,
		Status: 204, Delivered: true}
}

// failed is the outcome of a failed attempt at d, next due at next.
func failed(d appevents.Delivery, when, next time.Time) appevents.Outcome {
	return appevents.Outcome{DeliveryID: d.ID, Claim: d.Claim, Attempted: true, At: when, Duration: time.Second,
		Status: 503, Error: "answered 503", Response: "busy", NextAt: next}
}

// summary is what a test compares of a claimed delivery.
type summary struct {
	Endpoint string
	Type     appevents.Type
	Upload   string
	Seq      int64
}

func summarize(ds []appevents.Delivery) []summary {
	out := []summary{}
	for _, d := range ds {
		out = append(out, summary{d.Endpoint.ID, d.Type, d.UploadID, d.Sequence})
	}
	return sorted(out...)
}

// sorted returns the summaries in a fixed order, for comparing sets.
func sorted(ss ...summary) []summary {
	slices.SortFunc(ss, func(a, b summary) int {
		return strings.Compare(fmt.Sprint(a.Endpoint, a.Seq), fmt.Sprint(b.Endpoint, b.Seq))
	})
	return ss
}

// event decodes a delivery's body.
func event(t *testing.T, d appevents.Delivery) appevents.Event {
	t.Helper()
	var ev appevents.Event
	if err := json.Unmarshal(d.Body, &ev); err != nil {
		t.Fatalf("delivery %d body: %v", d.ID, err)
	}
	if ev.ID != d.EventID || ev.Type != d.Type || ev.Sequence != d.Sequence || ev.Data.UploadID != d.UploadID {
		t.Fatalf("delivery %+v carries event %+v", d, ev)
	}
	return ev
}

var appEventTests = []test{
	{"EndpointsAreCreatedListedAndDeleted", func(t *testing.T, e *env) {
		alice, bob := e.user("alice").ID, e.user("bob").ID
		a := e.endpoint(alice, false)
		b := e.endpoint(bob, false, appevents.FileDeleted)
		got, err := e.s.Endpoint(e.ctx, a.ID)
		wantErr(t, "Endpoint", err, nil)
		a.Created = us(a.Created)
		wantEqual(t, "Endpoint", *got, *a)
		wantErr(t, "CreateEndpoint again", e.s.CreateEndpoint(e.ctx, a), control.ErrConflict)
		list, err := e.s.ListEndpoints(e.ctx, alice)
		wantErr(t, "ListEndpoints", err, nil)
		wantEqual(t, "alice's endpoints", len(list), 1)
		list, err = e.s.ListEndpoints(e.ctx, "")
		wantErr(t, "ListEndpoints", err, nil)
		wantEqual(t, "all endpoints", len(list), 2)
		wantErr(t, "DeleteEndpoint", e.s.DeleteEndpoint(e.ctx, b.ID, at(time.Minute)), nil)
		wantErr(t, "DeleteEndpoint again", e.s.DeleteEndpoint(e.ctx, b.ID, at(time.Minute)), control.ErrNotFound)
		_, err = e.s.Endpoint(e.ctx, b.ID)
		wantErr(t, "deleted Endpoint", err, control.ErrNotFound)
		list, _ = e.s.ListEndpoints(e.ctx, bob)
		wantEqual(t, "bob's endpoints", len(list), 0)
	}},
	{"InvalidEndpointsAreRefused", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		good := control.Endpoint{ID: "whk-1", OwnerID: alice, URL: "https://h.example.test/x", Events: appevents.AllTypes,
			Secret: secret, Created: t0}
		for name, mut := range map[string]func(*control.Endpoint){
			"no id":      func(p *control.Endpoint) { p.ID = "" },
			"no owner":   func(p *control.Endpoint) { p.OwnerID = "" },
			"no types":   func(p *control.Endpoint) { p.Events = 0 },
			"bad type":   func(p *control.Endpoint) { p.Events = 1 << 20 },
			"bad URL":    func(p *control.Endpoint) { p.URL = "ftp://h/x" },
			"bad secret": func(p *control.Endpoint) { p.Secret = "whsec_short" },
		} {
			ep := good
			mut(&ep)
			wantErr(t, name, e.s.CreateEndpoint(e.ctx, &ep), control.ErrInvalid)
		}
		list, _ := e.s.ListEndpoints(e.ctx, "")
		wantEqual(t, "endpoints after refusals", len(list), 0)
	}},
	{"AnEndingWritesOneEventForEachSubscribedEndpoint", func(t *testing.T, e *env) {
		alice, bob := e.user("alice").ID, e.user("bob").ID
		mine := e.endpoint(alice, false)
		deletions := e.endpoint(alice, false, appevents.FileDeleted)
		everyone := e.endpoint(bob, true, appevents.UploadCompleted, appevents.FileDeleted)
		e.endpoint(bob, false) // bob's own: not alice's uploads
		gone := e.endpoint(alice, false)
		wantErr(t, "DeleteEndpoint", e.s.DeleteEndpoint(e.ctx, gone.ID, t0), nil)
		u := e.upload(alice, 10)
		e.complete(u.ID, at(time.Minute))
		ds := e.claim(e.s, at(time.Minute))
		wantEqual(t, "deliveries of upload.completed", summarize(ds), sorted(
			summary{mine.ID, appevents.UploadCompleted, u.ID, 1}, summary{everyone.ID, appevents.UploadCompleted, u.ID, 1}))
		ev := event(t, ds[0])
		if ev.Data.File == nil || ev.Data.File.Size != 10 || ev.Data.File.ETag != "etag-"+u.ID || ev.Data.UserID != alice ||
			!ev.Time.Equal(us(at(time.Minute))) || ds[0].EventID != ds[1].EventID {
			t.Fatalf("event %+v", ev)
		}
		for _, d := range ds {
			e.finish(delivered(d, at(time.Minute)))
		}
		_, err := e.s.TransitionUpload(e.ctx, u.ID, states(control.StateCompleted), control.StateDeleted, control.Change{At: at(time.Hour)})
		wantErr(t, "delete", err, nil)
		ds = e.claim(e.s, at(time.Hour))
		wantEqual(t, "deliveries of file.deleted", summarize(ds), sorted(
			summary{deletions.ID, appevents.FileDeleted, u.ID, 2}, summary{everyone.ID, appevents.FileDeleted, u.ID, 2},
			summary{mine.ID, appevents.FileDeleted, u.ID, 2}))
		if ev := event(t, ds[0]); ev.Data.File == nil || ev.Data.File.Deleted == nil {
			t.Fatalf("file.deleted %+v", ev)
		}
	}},
	{"FailuresAndExpiriesCarryTheirReason", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		e.endpoint(alice, false)
		f, x := e.upload(alice, 1), e.upload(alice, 1)
		_, err := e.s.TransitionUpload(e.ctx, f.ID, states(control.StatePending), control.StateFailed,
			control.Change{At: at(time.Minute), FailReason: "size: stored 2 bytes, declared 1", Reason: appevents.ReasonMismatch})
		wantErr(t, "fail", err, nil)
		_, err = e.s.TransitionUpload(e.ctx, x.ID, states(control.StatePending), control.StateExpired,
			control.Change{At: at(time.Minute), FailReason: "the ticket expired"})
		wantErr(t, "expire", err, nil)
		got := map[string]appevents.Event{}
		for _, d := range e.claim(e.s, at(time.Minute)) {
			got[d.UploadID] = event(t, d)
		}
		if ev := got[f.ID]; ev.Type != appevents.UploadFailed || ev.Data.Reason != appevents.ReasonMismatch ||
			ev.Data.Detail != "size: stored 2 bytes, declared 1" || ev.Data.Upload == nil || ev.Data.Upload.State != "failed" {
			t.Fatalf("upload.failed %+v", ev)
		}
		if ev := got[x.ID]; ev.Type != appevents.UploadExpired || ev.Data.Reason != appevents.ReasonExpired {
			t.Fatalf("upload.expired %+v", ev)
		}
	}},
	{"TransitionsThatEndNothingWriteNoEvent", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		e.endpoint(alice, false)
		u := e.upload(alice, 1)
		_, err := e.s.TransitionUpload(e.ctx, u.ID, states(control.StatePending), control.StateUploading,
			control.Change{At: t0, MultipartID: "mp"})
		wantErr(t, "start multipart", err, nil)
		_, err = e.s.TransitionUpload(e.ctx, u.ID, states(control.StatePending), control.StateCompleted, control.Change{At: t0})
		wantErr(t, "conflicting transition", err, control.ErrStateConflict)
		wantEqual(t, "deliveries", len(e.claim(e.s, at(time.Hour))), 0)
		_, err = e.s.TransitionUpload(e.ctx, u.ID, states(control.StateUploading), control.StateFailed,
			control.Change{At: t0, Reason: appevents.ReasonAborted})
		wantErr(t, "abort", err, nil)
		ds := e.claim(e.s, at(time.Hour))
		wantEqual(t, "deliveries after the abort", len(ds), 1)
		e.finish(delivered(ds[0], at(time.Hour)))
		_, err = e.s.TransitionUpload(e.ctx, u.ID, states(control.StateFailed), control.StateDeleted, control.Change{At: t0})
		wantErr(t, "delete a failed upload", err, nil)
		wantEqual(t, "deliveries after deleting a failed upload", len(e.claim(e.s, at(2*time.Hour))), 0)
	}},
	{"ConcurrentEndingsOfOneUploadWriteOneEvent", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		e.endpoint(alice, false)
		u := e.upload(alice, 1)
		stores := []control.Store{e.s, e.open(), e.open()}
		errs := race(6, func(i int) error {
			to := []control.UploadState{control.StateCompleted, control.StateFailed, control.StateExpired}[i%3]
			_, err := stores[i%3].TransitionUpload(e.ctx, u.ID, states(control.StatePending), to, control.Change{At: t0})
			return err
		})
		ok, _ := count(t, errs, control.ErrStateConflict)
		wantEqual(t, "transitions that won", ok, 1)
		wantEqual(t, "deliveries", len(e.claim(e.s, at(time.Hour))), 1)
	}},
	{"AClaimLeasesEachDeliveryToOneStore", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		e.endpoint(alice, false)
		for range 40 {
			e.complete(e.upload(alice, 1).ID, t0)
		}
		stores := []control.Store{e.s, e.open(), e.open(), e.open()}
		now := at(time.Minute)
		claimed := make([][]appevents.Delivery, len(stores))
		errs := race(len(stores), func(i int) error {
			for {
				ds, err := stores[i].ClaimDeliveries(e.ctx, now, time.Minute, 3)
				if err != nil || len(ds) == 0 {
					return err
				}
				claimed[i] = append(claimed[i], ds...)
			}
		})
		count(t, errs, nil)
		seen := map[int64]bool{}
		for _, ds := range claimed {
			for _, d := range ds {
				if seen[d.ID] {
					t.Fatalf("delivery %d claimed twice", d.ID)
				}
				seen[d.ID] = true
			}
		}
		wantEqual(t, "claimed", len(seen), 40)
		wantEqual(t, "claimed again within the lease", len(e.claim(e.s, now.Add(59*time.Second))), 0)
		again := e.claim(e.s, now.Add(time.Minute+time.Second))
		wantEqual(t, "claimed again after the lease", len(again), 40)
		// The first claims ran out: their outcomes change nothing.
		first := slices.Concat(claimed...)[0]
		e.finish(delivered(first, now))
		for _, d := range again {
			if d.ID == first.ID && d.Claim == first.Claim {
				t.Fatal("a new claim kept the old token")
			}
		}
		wantEqual(t, "still pending after a stale outcome", len(e.claim(e.s, now.Add(3*time.Minute))), 40)
	}},
	{"AnUploadsEventsReachAnEndpointInOrder", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		ep := e.endpoint(alice, false)
		u := e.upload(alice, 1)
		e.complete(u.ID, t0)
		_, err := e.s.TransitionUpload(e.ctx, u.ID, states(control.StateCompleted), control.StateDeleted, control.Change{At: t0})
		wantErr(t, "delete", err, nil)
		ds := e.claim(e.s, at(time.Minute))
		wantEqual(t, "first claim", summarize(ds), []summary{{ep.ID, appevents.UploadCompleted, u.ID, 1}})
		wantEqual(t, "while the first is claimed", len(e.claim(e.s, at(90*time.Second))), 0)
		ds = e.claim(e.s, at(time.Hour)) // the lease ran out: the first again, still not the second
		wantEqual(t, "while the first is pending", summarize(ds), []summary{{ep.ID, appevents.UploadCompleted, u.ID, 1}})
		e.finish(failed(ds[0], at(time.Minute), at(2*time.Minute)))
		wantEqual(t, "while the first waits for its retry", len(e.claim(e.s, at(time.Minute))), 0)
		ds = e.claim(e.s, at(2*time.Minute))
		wantEqual(t, "the retry", summarize(ds), []summary{{ep.ID, appevents.UploadCompleted, u.ID, 1}})
		out := failed(ds[0], at(2*time.Minute), time.Time{})
		out.Dead = true
		e.finish(out)
		ds = e.claim(e.s, at(2*time.Minute))
		wantEqual(t, "after the first died", summarize(ds), []summary{{ep.ID, appevents.FileDeleted, u.ID, 2}})
	}},
	{"OutcomesAreKeptAsAttempts", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		ep := e.endpoint(alice, false)
		u := e.upload(alice, 1)
		e.complete(u.ID, t0)
		d := e.claim(e.s, t0)[0]
		e.finish(failed(d, at(time.Second), at(time.Minute)))
		q := control.DeliveryQuery{EndpointID: ep.ID, Limit: 10}
		list, err := e.s.Deliveries(e.ctx, q)
		wantErr(t, "Deliveries", err, nil)
		if len(list) != 1 || list[0].State != control.DeliveryPending || list[0].Attempts != 1 ||
			!list[0].NextAt.Equal(us(at(time.Minute))) || len(list[0].Log) != 1 || list[0].Log[0].Status != 503 ||
			list[0].Log[0].Response != "busy" || list[0].Log[0].Duration != time.Second {
			t.Fatalf("after a failure: %+v", list)
		}
		// Put back without an attempt: only the due time changes.
		d = e.claim(e.s, at(time.Minute))[0]
		e.finish(appevents.Outcome{DeliveryID: d.ID, Claim: d.Claim, NextAt: at(2 * time.Minute)})
		wantEqual(t, "claim before the new due time", len(e.claim(e.s, at(90*time.Second))), 0)
		d = e.claim(e.s, at(2*time.Minute))[0]
		wantEqual(t, "attempts before the success", d.Attempts, 1)
		e.finish(delivered(d, at(2*time.Minute)))
		list, _ = e.s.Deliveries(e.ctx, q)
		if list[0].State != control.DeliveryDelivered || list[0].Attempts != 2 || len(list[0].Log) != 2 ||
			list[0].Log[1].Status != 204 || list[0].Log[1].Error != "" || list[0].Finished.IsZero() {
			t.Fatalf("after the success: %+v", list[0])
		}
		q.State = control.DeliveryPending
		list, _ = e.s.Deliveries(e.ctx, q)
		wantEqual(t, "pending deliveries", len(list), 0)
		_, err = e.s.Deliveries(e.ctx, control.DeliveryQuery{EndpointID: ep.ID, State: "lost", Limit: 1})
		wantErr(t, "unknown state", err, control.ErrInvalid)
	}},
	{"RedeliveryStartsANewRound", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		ep := e.endpoint(alice, false)
		e.complete(e.upload(alice, 1).ID, t0)
		d := e.claim(e.s, t0)[0]
		out := failed(d, t0, time.Time{})
		out.Dead = true
		e.finish(out)
		wantEqual(t, "claim of a dead delivery", len(e.claim(e.s, at(time.Hour))), 0)
		info, err := e.s.Redeliver(e.ctx, ep.ID, d.ID, at(time.Hour))
		wantErr(t, "Redeliver", err, nil)
		if info.State != control.DeliveryPending || !info.Since.Equal(us(at(time.Hour))) || !info.Finished.IsZero() {
			t.Fatalf("redelivered: %+v", info)
		}
		again := e.claim(e.s, at(time.Hour))
		if len(again) != 1 || again[0].ID != d.ID || !again[0].Since.Equal(us(at(time.Hour))) || again[0].Attempts != 1 {
			t.Fatalf("claim after redelivery: %+v", again)
		}
		_, err = e.s.Redeliver(e.ctx, "whk-nope", d.ID, at(time.Hour))
		wantErr(t, "Redeliver of another endpoint", err, control.ErrNotFound)
	}},
	{"DeliveriesArePagedNewestFirstFromACursor", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		ep := e.endpoint(alice, false)
		other := e.endpoint(alice, false)
		for i := range 5 {
			e.complete(e.upload(alice, 1).ID, at(time.Duration(i)*time.Second))
		}
		var ids []int64
		var before int64
		for page := 0; ; page++ {
			list, err := e.s.Deliveries(e.ctx, control.DeliveryQuery{EndpointID: ep.ID, Before: before, Limit: 2})
			wantErr(t, "Deliveries", err, nil)
			if len(list) == 0 {
				break
			}
			if page > 5 || len(list) > 2 {
				t.Fatalf("page %d holds %d deliveries: the cursor does not move", page, len(list))
			}
			for _, d := range list {
				if d.EndpointID != ep.ID {
					t.Fatalf("a delivery of another endpoint: %+v", d)
				}
				ids = append(ids, d.ID)
			}
			before = list[len(list)-1].ID
		}
		newestFirst := len(ids) == 5
		for i := 1; i < len(ids); i++ {
			newestFirst = newestFirst && ids[i] < ids[i-1]
		}
		if !newestFirst {
			t.Fatalf("paged by 2: deliveries %v, want the endpoint's 5, each once, newest first", ids)
		}
		all, err := e.s.Deliveries(e.ctx, control.DeliveryQuery{EndpointID: other.ID, Limit: 10})
		wantErr(t, "Deliveries of the other endpoint", err, nil)
		wantEqual(t, "the other endpoint's deliveries", len(all), 5)
	}},
	{"DeletingAnEndpointEndsItsPendingDeliveries", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		ep := e.endpoint(alice, false)
		e.complete(e.upload(alice, 1).ID, t0)
		wantErr(t, "DeleteEndpoint", e.s.DeleteEndpoint(e.ctx, ep.ID, at(time.Minute)), nil)
		wantEqual(t, "claims", len(e.claim(e.s, at(time.Hour))), 0)
		list, err := e.s.Deliveries(e.ctx, control.DeliveryQuery{EndpointID: ep.ID, Limit: 10})
		wantErr(t, "Deliveries", err, nil)
		if len(list) != 1 || list[0].State != control.DeliveryDead {
			t.Fatalf("deliveries of a deleted endpoint: %+v", list)
		}
	}},
	{"ConfiguredEndpointsFollowTheConfiguration", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		cfg := func(url string) control.Endpoint {
			return control.Endpoint{ID: control.ConfiguredEndpointID(url), AllUsers: true, URL: url, Events: appevents.AllTypes,
				Secret: secret, Configured: true, Created: t0}
		}
		a, b := cfg("https://a.example.test/hook"), cfg("nats://nats.example.test:4222/presign")
		wantErr(t, "ConfigureEndpoints", e.s.ConfigureEndpoints(e.ctx, []control.Endpoint{a, b}, t0), nil)
		e.complete(e.upload(alice, 1).ID, t0)
		wantEqual(t, "deliveries to configured endpoints", len(e.claim(e.s, t0)), 2)
		a2 := a
		a2.Secret = appevents.NewSecret().Encode()
		wantErr(t, "ConfigureEndpoints again", e.s.ConfigureEndpoints(e.ctx, []control.Endpoint{a2}, at(time.Minute)), nil)
		list, _ := e.s.ListEndpoints(e.ctx, "")
		if len(list) != 1 || list[0].ID != a.ID || list[0].Secret != a2.Secret || !list[0].Configured {
			t.Fatalf("configured endpoints: %+v", list)
		}
		notConfigured := a
		notConfigured.Configured = false
		wantErr(t, "ConfigureEndpoints of a registered one", e.s.ConfigureEndpoints(e.ctx, []control.Endpoint{notConfigured}, t0),
			control.ErrInvalid)
	}},
	{"PruningKeepsPendingDeliveriesAndTheSequence", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		ep := e.endpoint(alice, false)
		u, v := e.upload(alice, 1), e.upload(alice, 1)
		e.complete(u.ID, t0)
		e.complete(v.ID, t0)
		for _, d := range e.claim(e.s, t0) {
			if d.UploadID == u.ID {
				e.finish(delivered(d, t0))
			}
		}
		n, err := e.s.PruneDeliveries(e.ctx, at(time.Hour))
		wantErr(t, "PruneDeliveries", err, nil)
		wantEqual(t, "pruned", n, int64(1))
		list, _ := e.s.Deliveries(e.ctx, control.DeliveryQuery{EndpointID: ep.ID, Limit: 10})
		if len(list) != 1 || list[0].UploadID != v.ID {
			t.Fatalf("after pruning: %+v", list)
		}
		_, err = e.s.TransitionUpload(e.ctx, u.ID, states(control.StateCompleted), control.StateDeleted, control.Change{At: at(2 * time.Hour)})
		wantErr(t, "delete", err, nil)
		var seqs []int64
		for _, d := range e.claim(e.s, at(3*time.Hour)) {
			if d.UploadID == u.ID {
				seqs = append(seqs, d.Sequence)
			}
		}
		wantEqual(t, "sequence of file.deleted after its upload.completed was pruned", seqs, []int64{2})
	}},
}
