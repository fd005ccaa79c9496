package client_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"presign/client"
)

// A client of one control plane, authenticated by an API key (or a session token from Login).
func ExampleNew() {
	c, err := client.New("https://presign.example.com", &client.Options{Token: os.Getenv("PRESIGN_API_KEY")})
	if err != nil {
		log.Fatal(err)
	}
	_ = c // ready for UploadFile, DownloadFile, Files, Share...
}

func ExampleClient_Login() {
	ctx := context.Background()
	c, err := client.New(presignURL, nil)
	if err != nil {
		log.Fatal(err)
	}
	// The session's token is kept by c for the calls that follow.
	s, err := c.Login(ctx, "admin", adminPassword)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("session token:", s.Token[:4]+"…", "valid for", time.Until(s.Expires).Round(time.Hour))
	// Output: session token: pss_… valid for 12h0m0s
}

// The bytes go straight to the object store, in parallel parts for a big file; the control
// plane only signs the URLs and checks the result.
func ExampleClient_UploadFile() {
	ctx := context.Background()
	c, err := client.New(presignURL, &client.Options{Token: apiKey})
	if err != nil {
		log.Fatal(err)
	}
	f, err := c.UploadFile(ctx, "testdata/report.json", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Filename, f.Size, f.ContentType)
	// Output: report.json 62 application/json
}

// Upload sends any io.ReaderAt of known size: here bytes in memory.
func ExampleClient_Upload() {
	ctx := context.Background()
	c, err := client.New(presignURL, &client.Options{Token: apiKey})
	if err != nil {
		log.Fatal(err)
	}
	data := []byte("hello, presign\n")
	f, err := c.Upload(ctx, "hello.txt", bytes.NewReader(data), int64(len(data)),
		&client.UploadOptions{ContentType: "text/plain"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Filename, f.Size, f.ContentType)
	// Output: hello.txt 15 text/plain
}

// What an application's server does for a browser: ask for a ticket, hand its method, URL and
// headers to the browser, which sends the bytes itself, then confirm the upload.
func ExampleClient_NewTicket() {
	ctx := context.Background()
	c, err := client.New(presignURL, &client.Options{Token: apiKey})
	if err != nil {
		log.Fatal(err)
	}
	body := "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"
	t, err := c.NewTicket(ctx, client.TicketRequest{Filename: "avatar.svg", Size: int64(len(body)), ContentType: "image/svg+xml"})
	if err != nil {
		log.Fatal(err)
	}

	// In the browser: fetch(t.URL, {method: t.Method, headers: t.Headers, body: file}).
	req, err := http.NewRequestWithContext(ctx, t.Method, t.URL, strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	for k, v := range t.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("PUT:", resp.Status)

	// If the storage node's event completed the upload first, Complete returns the same file.
	f, err := c.Complete(ctx, t.ID, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Filename, f.Size, f.ContentType)
	// Output:
	// PUT: 200 OK
	// avatar.svg 41 image/svg+xml
}

func ExampleClient_DownloadTo() {
	ctx := context.Background()
	c, err := client.New(presignURL, &client.Options{Token: apiKey})
	if err != nil {
		log.Fatal(err)
	}
	data := []byte("downloaded straight from the store\n")
	up, err := c.Upload(ctx, "note.txt", bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		log.Fatal(err)
	}
	// Resumed with Range requests if the connection breaks; checked against the file's SHA-256.
	if _, err := c.DownloadTo(ctx, up.ID, os.Stdout, nil); err != nil {
		log.Fatal(err)
	}
	// Output: downloaded straight from the store
}

// A link anyone can download with, without a token, until it expires.
func ExampleClient_Share() {
	ctx := context.Background()
	c, err := client.New(presignURL, &client.Options{Token: apiKey})
	if err != nil {
		log.Fatal(err)
	}
	data := []byte("shared for ten minutes\n")
	f, err := c.Upload(ctx, "shared.txt", bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		log.Fatal(err)
	}
	link, err := c.Share(ctx, f.ID, 10*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.Get(link.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(resp.Header.Get("Content-Disposition"), "\n", string(got))
	// Output:
	// attachment; filename="shared.txt"
	// shared for ten minutes
}

// Files pages through the caller's files, newest first, as the loop asks for more.
func ExampleClient_Files() {
	ctx := context.Background()
	c, err := client.New(presignURL, &client.Options{Token: apiKey})
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"first.txt", "second.txt"} {
		if _, err := c.Upload(ctx, name, strings.NewReader(name), int64(len(name)), nil); err != nil {
			log.Fatal(err)
		}
	}
	n := 0
	for f, err := range c.Files(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(f.Filename, f.Size)
		if n++; n == 2 {
			break
		}
	}
	// Output:
	// second.txt 10
	// first.txt 9
}

// A deleted file is gone from the store and the records: IsNotFound tells that refusal from
// the others.
func ExampleIsNotFound() {
	ctx := context.Background()
	c, err := client.New(presignURL, &client.Options{Token: apiKey})
	if err != nil {
		log.Fatal(err)
	}
	f, err := c.Upload(ctx, "temp.txt", strings.NewReader("temporary"), 9, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Delete(ctx, f.ID); err != nil {
		log.Fatal(err)
	}
	_, err = c.File(ctx, f.ID)
	fmt.Println(client.IsNotFound(err))
	// Output: true
}
