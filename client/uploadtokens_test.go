package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"presign/client"
)

// putTicket sends body to a single-PUT ticket's URL with its headers.
func putTicket(t *testing.T, tk *client.Ticket, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), tk.Method, tk.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tk.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s", resp.Status)
	}
}

// TestUploadTokenFromTheSDKUploadsAsItsSubjectUntilRevoked: an application's server mints an
// upload token with the SDK (its TTL, limits and key prefix as asked, a companion_endpoint on
// the control plane); a client holding only that token uploads a file that carries the subject
// in the file and the upload record, and can do nothing but upload; the server lists the token
// without its secret, with what it holds, and revokes it, after which it authenticates nothing.
func TestUploadTokenFromTheSDKUploadsAsItsSubjectUntilRevoked(t *testing.T) {
	ctx := t.Context()
	app, err := client.New(presignURL, &client.Options{Token: apiKey})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := app.NewUploadToken(ctx, client.UploadTokenRequest{Subject: "sdk-user-1", TTL: 90 * time.Second,
		MaxFiles: 2, AllowedContentTypes: []string{"text/*"}, KeyPrefix: "sdk/"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Token, "psu_") || tok.CompanionEndpoint != presignURL+"/v1/companion/"+tok.Token {
		t.Fatalf("token %q, companion endpoint %q", tok.Token, tok.CompanionEndpoint)
	}
	if d := tok.Expires.Sub(tok.Created); d != 90*time.Second {
		t.Errorf("the token lives %v, want the 90s asked for", d)
	}
	if tok.Subject != "sdk-user-1" || tok.Limits.MaxFiles != 2 || tok.Limits.KeyPrefix != "sdk/" ||
		len(tok.Limits.AllowedContentTypes) != 1 || tok.Limits.AllowedContentTypes[0] != "text/*" {
		t.Errorf("minted %+v", tok)
	}

	browser, err := client.New(presignURL, &client.Options{Token: tok.Token})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := browser.NewTicket(ctx, client.TicketRequest{Filename: "note.txt", Size: 5, ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	putTicket(t, tk, "hello")
	f, err := browser.Complete(ctx, tk.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Subject != "sdk-user-1" || !strings.Contains(f.Key, "/sdk/") {
		t.Errorf("the file %+v: want the token's subject and key prefix", f)
	}
	u, err := app.UploadStatus(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != "completed" || u.Subject != "sdk-user-1" {
		t.Errorf("the upload as the server sees it: state %q, subject %q", u.State, u.Subject)
	}
	var ae *client.APIError
	if _, err := browser.List(ctx, "", 0); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Errorf("listing files with an upload token: %v, want 403", err)
	}

	list, err := app.UploadTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed *client.UploadToken
	for i := range list {
		if list[i].ID == tok.ID {
			listed = &list[i]
		}
	}
	if listed == nil || listed.Token != "" || listed.CompanionEndpoint != "" || listed.Files != 1 || listed.Bytes != 5 || listed.Revoked != nil {
		t.Fatalf("the token as listed: %+v", listed)
	}

	if err := app.RevokeUploadToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := browser.NewTicket(ctx, client.TicketRequest{Filename: "late.txt", Size: 4, ContentType: "text/plain"}); !client.IsUnauthenticated(err) {
		t.Errorf("a ticket with the revoked token: %v, want 401", err)
	}
	list, err = app.UploadTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if l.ID == tok.ID && l.Revoked == nil {
			t.Errorf("the revoked token is listed as not revoked: %+v", l)
		}
	}
	if err := app.RevokeUploadToken(ctx, "no-such-token"); !client.IsNotFound(err) {
		t.Errorf("revoking an unknown token: %v, want 404", err)
	}
}

// TestWaitUploadAnswersWhenTheUploadEnds: WaitUpload holds its answer while the upload is
// pending and answers once it is completed; on an upload that does not end, it answers with
// the upload as it is when the wait has passed.
func TestWaitUploadAnswersWhenTheUploadEnds(t *testing.T) {
	ctx := t.Context()
	c, err := client.New(presignURL, &client.Options{Token: apiKey})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := c.NewTicket(ctx, client.TicketRequest{Filename: "waited.txt", Size: 6, ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		u   *client.UploadInfo
		err error
	}
	done := make(chan answer, 1)
	go func() {
		u, err := c.WaitUpload(ctx, tk.ID, 30*time.Second)
		done <- answer{u, err}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case a := <-done:
		t.Fatalf("the wait answered before the upload ended: %+v %v", a.u, a.err)
	default:
	}
	putTicket(t, tk, "waited")
	if _, err := c.Complete(ctx, tk.ID, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-done:
		if a.err != nil || a.u.State != "completed" || a.u.ID != tk.ID {
			t.Fatalf("the wait answered %+v, %v", a.u, a.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the wait did not answer once the upload was completed")
	}

	pending, err := c.NewTicket(ctx, client.TicketRequest{Filename: "never.txt", Size: 5, ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort(context.Background(), pending.ID)
	u, err := c.WaitUpload(ctx, pending.ID, 200*time.Millisecond)
	if err != nil || u.State != "pending" {
		t.Fatalf("a short wait on an upload that does not end: %+v, %v", u, err)
	}
}
