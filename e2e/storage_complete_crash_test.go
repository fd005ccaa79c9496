package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// completeCrashBucket is the bucket of TestCompleteMultipartUploadSurvivesSIGKILL.
const completeCrashBucket = "complete-crash"

// completeCrashPartSizes are the parts of each upload: three at the minimum size, then a
// shorter last one. All are above the segment threshold, so each part is a file of its own.
var completeCrashPartSizes = []int{5 << 20, 5 << 20, 5 << 20, 1<<20 + 777}

// TestCompleteMultipartUploadSurvivesSIGKILL sends CompleteMultipartUpload to the disk node and
// SIGKILLs it at a different moment in each round: from as soon as the request is written to
// after the answer. After a restart on the same data directory the upload ended one of two
// ways, and nothing else: the object is whole with the multipart ETag, the upload is gone and
// a retried Complete answers 200 with the same ETag without changing the object; or there is
// no object, the upload is still listed with every part intact, and a retried Complete makes
// the right object. A Complete that was answered 200 before the kill always left the object;
// one killed after its commit but before its answer leaves the object too (logged apart).
// No temporary file remains, and the object files are exactly the parts.
//
// Both outcomes are valid, so no round depends on where the kill landed; the counts are
// logged to show which ones the run exercised.
func TestCompleteMultipartUploadSurvivesSIGKILL(t *testing.T) {
	node := storageNode(t)
	mustCreateBucket(t, node.url("storage node"), completeCrashBucket)

	// Round 0 kills after the answer and measures how long the node took to answer once the
	// request was written; the other rounds spread their kills from 0 to 1.2 times that, so
	// that some land before the commit, some during it and some after it.
	const rounds = 12
	var answer time.Duration
	outcomes := map[string]int{}
	var done []*crashUpload
	for r := range rounds {
		u := newCrashUpload(t, node.url("storage node"), r)
		afterAnswer := r == 0
		delay := time.Duration(0)
		if !afterAnswer {
			delay = answer * 6 * time.Duration(r-1) / (5 * (rounds - 2))
		}
		k := u.completeThenKill(t, node, delay, afterAnswer)
		if afterAnswer {
			answer = k.answered
		}
		node.restart("storage node")
		checkNoTmpFiles(t, node.data)
		outcome := u.checkAfterRestart(t, node.url("storage node"), k.acked)
		if outcome == outcomeObject && !k.acked {
			outcome = outcomeObjectUnanswered
		}
		outcomes[outcome]++
		t.Logf("round %d: %v; %s", r, k, outcome)
		done = append(done, u)
	}
	t.Logf("outcomes over %d rounds: %d %q, %d %q, %d %q", rounds,
		outcomes[outcomeUpload], outcomeUpload, outcomes[outcomeObjectUnanswered], outcomeObjectUnanswered, outcomes[outcomeObject], outcomeObject)

	// Every upload is an object by now, made of its part files and nothing else: a file more is
	// garbage the crash left (removed by the node's background scan, which may still be
	// running), a file fewer a part lost.
	want := rounds * len(completeCrashPartSizes)
	deadline := time.Now().Add(15 * time.Second)
	n := countObjectFiles(t, node.data)
	for n > want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		n = countObjectFiles(t, node.data)
	}
	if n != want {
		t.Errorf("%d files in objects/ for %d objects of %d parts each, want %d", n, rounds, len(completeCrashPartSizes), want)
	}
	// Nothing since each object's check (later rounds' restarts, their orphan scans) took a
	// file it holds.
	c := awsClient(node.url("storage node"))
	for _, u := range done {
		u.checkObject(t, c)
	}
}

// Outcomes of a round, as logged.
const (
	outcomeUpload           = "upload intact, retry completed it"
	outcomeObjectUnanswered = "committed but unanswered: object whole, retry replayed"
	outcomeObject           = "answered: object whole, retry replayed"
)

// crashUpload is a multipart upload whose parts are all uploaded, ready to complete.
type crashUpload struct {
	key      string
	id       string
	parts    [][]byte
	done     []types.CompletedPart
	wantETag string // unquoted
	wantSum  [32]byte
	size     int64
}

// newCrashUpload creates an upload of a new key on the node at ep and uploads its parts, with
// bytes that differ from round to round.
func newCrashUpload(t *testing.T, ep string, round int) *crashUpload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := awsClient(ep)
	u := &crashUpload{key: fmt.Sprintf("round-%02d/object.bin", round)}
	out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(completeCrashBucket), Key: aws.String(u.key)})
	if err != nil {
		t.Fatalf("round %d: create upload: %v", round, err)
	}
	u.id = aws.ToString(out.UploadId)
	rng := rand.NewChaCha8([32]byte{byte(round), 'c', 'o', 'm', 'p', 'l', 'e', 't', 'e'})
	whole := sha256.New()
	var md5s []byte
	for i, size := range completeCrashPartSizes {
		b := make([]byte, size)
		rng.Read(b)
		sum := md5.Sum(b)
		md5s = append(md5s, sum[:]...)
		whole.Write(b)
		u.size += int64(size)
		n := int32(i + 1)
		po, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(completeCrashBucket), Key: aws.String(u.key),
			UploadId: out.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(b)})
		if err != nil {
			t.Fatalf("round %d: part %d: %v", round, n, err)
		}
		if got, want := strings.Trim(aws.ToString(po.ETag), `"`), hex.EncodeToString(sum[:]); got != want {
			t.Fatalf("round %d: part %d has ETag %s, want %s", round, n, got, want)
		}
		u.parts = append(u.parts, b)
		u.done = append(u.done, types.CompletedPart{PartNumber: aws.Int32(n), ETag: po.ETag, ChecksumCRC32: po.ChecksumCRC32})
	}
	all := md5.Sum(md5s)
	u.wantETag = fmt.Sprintf("%s-%d", hex.EncodeToString(all[:]), len(completeCrashPartSizes))
	copy(u.wantSum[:], whole.Sum(nil))
	return u
}

func (u *crashUpload) complete(ctx context.Context, c *s3.Client) (*s3.CompleteMultipartUploadOutput, error) {
	return c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(completeCrashBucket), Key: aws.String(u.key),
		UploadId: aws.String(u.id), MultipartUpload: &types.CompletedMultipartUpload{Parts: u.done}},
		func(o *s3.Options) { o.RetryMaxAttempts = 1 })
}

// kill is what happened to one Complete cut short by a SIGKILL.
type kill struct {
	acked    bool          // answered 200 with the expected ETag before the node died
	answered time.Duration // when acked: from the request written to the answer read
	at       time.Duration // from the request written to the SIGKILL; for afterAnswer, the answer
}

func (k kill) String() string {
	s := fmt.Sprintf("killed %v after the request was written", k.at)
	if k.acked {
		s += fmt.Sprintf(", answered 200 after %v", k.answered)
	} else {
		s += ", unanswered"
	}
	return s
}

// completeThenKill sends the Complete and SIGKILLs the node delay after the request was
// written, or once the answer came when afterAnswer.
func (u *crashUpload) completeThenKill(t *testing.T, node *process, delay time.Duration, afterAnswer bool) kill {
	t.Helper()
	wrote := make(chan time.Time, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		select {
		case wrote <- time.Now():
		default:
		}
	}})
	type result struct {
		out *s3.CompleteMultipartUploadOutput
		err error
		at  time.Time
	}
	res := make(chan result, 1)
	c := awsClient(node.url("storage node"))
	go func() {
		out, err := u.complete(ctx, c)
		res <- result{out, err, time.Now()}
	}()
	var r result
	got := false
	var sent time.Time
	select {
	case sent = <-wrote:
	case r = <-res:
		got = true
	case <-time.After(time.Minute):
		t.Fatal("the Complete request was never written")
	}
	if afterAnswer && !got {
		r, got = <-res, true
	}
	if afterAnswer && r.err != nil {
		t.Fatalf("%s: Complete failed with the node up: %v", u.key, r.err)
	}
	if got && sent.IsZero() {
		// WroteRequest, if it came, came before the answer.
		select {
		case sent = <-wrote:
		default:
		}
	}
	var k kill
	if !got {
		// A sleep this short oversleeps by more than the whole commit takes; spin instead.
		for time.Since(sent) < delay {
			runtime.Gosched()
		}
		k.at = time.Since(sent)
	}
	node.kill()
	if !got {
		r = <-res
	}
	if r.err != nil {
		return k
	}
	if sent.IsZero() {
		t.Fatal("the Complete was answered without its request being written")
	}
	if etag := strings.Trim(aws.ToString(r.out.ETag), `"`); etag != u.wantETag {
		t.Fatalf("%s: Complete answered ETag %s, want %s", u.key, etag, u.wantETag)
	}
	k.acked, k.answered = true, r.at.Sub(sent)
	if got {
		k.at = k.answered
	}
	return k
}

// checkAfterRestart holds the node at ep to the invariant of a Complete cut short, retries the
// Complete, and returns which way the upload had ended.
func (u *crashUpload) checkAfterRestart(t *testing.T, ep string, acked bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := awsClient(ep)
	_, headErr := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(completeCrashBucket), Key: aws.String(u.key)})
	if headErr != nil && apiCode(headErr) != "NotFound" {
		t.Fatalf("%s: HeadObject after restart: %v", u.key, headErr)
	}
	exists := headErr == nil
	listed := u.listed(t, c)

	if exists && listed {
		t.Fatalf("%s: after restart the object exists and upload %s is still in progress", u.key, u.id)
	}
	if !exists && !listed {
		t.Fatalf("%s: after restart neither the object nor upload %s exists: the parts are lost", u.key, u.id)
	}
	if exists {
		before := u.checkObject(t, c)
		if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(completeCrashBucket), Key: aws.String(u.key), UploadId: aws.String(u.id)}); apiCode(err) != "NoSuchUpload" {
			t.Fatalf("%s: ListParts of the completed upload: %v, want NoSuchUpload", u.key, err)
		}
		u.retry(t, c)
		// The retry answered from the memo of the completion: the same object, not a new one.
		if after := u.checkObject(t, c); !after.Equal(before) {
			t.Fatalf("%s: the retried Complete replaced the object (modified %v, then %v)", u.key, before, after)
		}
		return outcomeObject
	}
	if acked {
		t.Fatalf("%s: the Complete was answered 200, but after restart there is no object", u.key)
	}
	u.checkParts(t, c)
	u.retry(t, c)
	u.checkObject(t, c)
	if u.listed(t, c) {
		t.Fatalf("%s: upload %s is still listed after its Complete", u.key, u.id)
	}
	// A second retry is answered from the memo.
	u.retry(t, c)
	return outcomeUpload
}

// listed reports whether ListMultipartUploads shows the upload as in progress.
func (u *crashUpload) listed(t *testing.T, c *s3.Client) bool {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(completeCrashBucket), Prefix: aws.String(u.key)})
	if err != nil {
		t.Fatalf("%s: ListMultipartUploads: %v", u.key, err)
	}
	found := false
	for _, up := range out.Uploads {
		if aws.ToString(up.UploadId) != u.id || aws.ToString(up.Key) != u.key {
			t.Fatalf("%s: ListMultipartUploads shows an upload nobody made: %s of %s", u.key, aws.ToString(up.UploadId), aws.ToString(up.Key))
		}
		found = true
	}
	return found
}

// checkParts holds ListParts to every part as uploaded.
func (u *crashUpload) checkParts(t *testing.T, c *s3.Client) {
	t.Helper()
	out, err := c.ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String(completeCrashBucket), Key: aws.String(u.key), UploadId: aws.String(u.id)})
	if err != nil {
		t.Fatalf("%s: ListParts of the upload in progress: %v", u.key, err)
	}
	if len(out.Parts) != len(u.parts) {
		t.Fatalf("%s: ListParts shows %d parts, want %d", u.key, len(out.Parts), len(u.parts))
	}
	for i, p := range out.Parts {
		sum := md5.Sum(u.parts[i])
		if aws.ToInt32(p.PartNumber) != int32(i+1) || aws.ToInt64(p.Size) != int64(len(u.parts[i])) || strings.Trim(aws.ToString(p.ETag), `"`) != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s: ListParts shows part %d of %d bytes with ETag %s, want part %d of %d bytes with ETag %x",
				u.key, aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size), aws.ToString(p.ETag), i+1, len(u.parts[i]), sum)
		}
	}
}

// retry sends the Complete again and holds it to 200 with the multipart ETag.
func (u *crashUpload) retry(t *testing.T, c *s3.Client) {
	t.Helper()
	out, err := u.complete(context.Background(), c)
	if err != nil {
		t.Fatalf("%s: retried Complete: %v", u.key, err)
	}
	if etag := strings.Trim(aws.ToString(out.ETag), `"`); etag != u.wantETag {
		t.Fatalf("%s: retried Complete answered ETag %s, want %s", u.key, etag, u.wantETag)
	}
}

// checkObject holds the object to the concatenated parts and the multipart ETag, and returns
// its modification time.
func (u *crashUpload) checkObject(t *testing.T, c *s3.Client) time.Time {
	t.Helper()
	g, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(completeCrashBucket), Key: aws.String(u.key)})
	if err != nil {
		t.Fatalf("%s: GetObject: %v", u.key, err)
	}
	body := readAll(t, g.Body)
	if int64(len(body)) != u.size || sha256.Sum256(body) != u.wantSum {
		t.Fatalf("%s: the object is not the concatenated parts: %d bytes of %d", u.key, len(body), u.size)
	}
	if etag := strings.Trim(aws.ToString(g.ETag), `"`); etag != u.wantETag {
		t.Fatalf("%s: the object has ETag %s, want %s", u.key, etag, u.wantETag)
	}
	return aws.ToTime(g.LastModified)
}

// checkNoTmpFiles fails the test if the node's tmp/ holds anything.
func checkNoTmpFiles(t *testing.T, data string) {
	t.Helper()
	tmp, err := os.ReadDir(filepath.Join(data, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmp) != 0 {
		t.Fatalf("%d temporary files remain after restart", len(tmp))
	}
}

// countObjectFiles counts the files under the node's objects/.
func countObjectFiles(t *testing.T, data string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(data, "objects"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
