package s3backend

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"presign/internal/tcpcc"
	"presign/storage"
)

// Options configure a Backend.
type Options struct {
	// Endpoint is the base URL of the S3 service, e.g. "http://127.0.0.1:8333". Required.
	Endpoint string
	// Bucket is the one bucket of the service that holds every node bucket. Required; it must
	// exist. Open turns on its versioning when it is off (see the package doc).
	Bucket string
	// Prefix, when set, is put in front of every name the backend writes, so that several
	// deployments (or tests) can share one bucket. It should end in "/".
	Prefix string
	// Region the service's requests are signed for; "us-east-1" when empty.
	Region string
	// AccessKey and SecretKey sign requests to the service. Required.
	AccessKey, SecretKey string
	// PathStyle addresses the bucket in the path rather than the host name (SeaweedFS, MinIO
	// and most self-hosted services need it).
	PathStyle bool
	// NodeID is put in the low bits of every Sequencer, so that the sequencers of nodes with
	// distinct ids never collide. Zero picks one at random.
	NodeID uint8
	// BufferSize bounds the body a PUT buffers to send it in one request with all its
	// checksums, and is the part size of a PUT of unknown length (default 16 MiB).
	BufferSize int
	// PartsInFlight is how many parts of a PUT of unknown length are sent at once (default 2).
	PartsInFlight int
	// VersionGrace is how long a replaced or deleted version stays readable for the Objects
	// that opened it before it is removed (default 1 hour).
	VersionGrace time.Duration
	// SweepInterval is how often the whole bucket is swept for versions whose removal was
	// missed (after a crash, or written by racing nodes), expired multipart uploads and
	// completion records; 0 means every 6 hours, negative never.
	SweepInterval time.Duration
	// MultipartExpiry is how long a multipart upload may stay incomplete before a sweep
	// aborts it (default 7 days). Uploads the backend made itself for PUTs of unknown length
	// are aborted a day after a crash left them.
	MultipartExpiry time.Duration
	// HTTPClient sends the requests; a client tuned for many large streams when nil.
	HTTPClient *http.Client
	// DialTimeout bounds the opening of a connection to the service, and ResponseTimeout the
	// wait for the head of its answer once a request is sent (defaults 10 s and 60 s); both
	// apply to the default HTTPClient only. A call that fails on them is retried by the SDK
	// (3 attempts in all), then answered 503.
	DialTimeout, ResponseTimeout time.Duration
	// StallTimeout bounds how long a body may stop moving once under way: an answer body the
	// service stops sending (a download is then cut, never passed on short as if whole), or a
	// request body it stops taking (the write fails, 503). Time waiting for the node's own
	// client is not counted. Default ResponseTimeout; it applies to the default HTTPClient only.
	StallTimeout time.Duration
	// TCPCongestion chooses the congestion control of the connections the default HTTPClient
	// opens (Linux only): an algorithm, tcpcc.Auto (reno for a service on a loopback address),
	// or tcpcc.Host and the empty string for the host's default. A refused name fails Open.
	TCPCongestion string
	// Logger receives failures of background work; nil discards.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Backend is a storage.Backend over a bucket of an S3-compatible service. It is safe for
// concurrent use, and several Backends (on several nodes) may share one bucket.
type Backend struct {
	s3      *s3.Client
	bucket  string
	prefix  string
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	clock   *clock
	buckets *bucketCache
	locks   keyLocks
	reaper  *reaper
	bufs    *bufferPool
	// copyBufs lends the buffers of downloads (exactReader.WriteTo).
	copyBufs sync.Pool
	// trailers is true when the service checks CRC-32C trailers (see probeTrailers).
	trailers bool
	// ownClient is true when the requests go through newHTTPClient's transport, whose
	// connections downloads may splice from (exactReader.splice).
	ownClient bool

	closeOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

var (
	_ storage.Backend = (*Backend)(nil)
)

// Open connects to the service, checks that the bucket exists and keeps versions, and starts
// the removal of superseded versions. Close stops it.
func Open(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Endpoint == "" || opts.Bucket == "" || opts.AccessKey == "" || opts.SecretKey == "" {
		return nil, errors.New("s3backend: Options need an Endpoint, a Bucket and credentials")
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 16 << 20
	}
	if opts.BufferSize < storage.MinPartSize {
		return nil, fmt.Errorf("s3backend: BufferSize %d is below S3's least part size", opts.BufferSize)
	}
	if opts.PartsInFlight <= 0 {
		opts.PartsInFlight = 2
	}
	if opts.VersionGrace <= 0 {
		opts.VersionGrace = time.Hour
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = 6 * time.Hour
	}
	if opts.MultipartExpiry <= 0 {
		opts.MultipartExpiry = 7 * 24 * time.Hour
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.ResponseTimeout <= 0 {
		opts.ResponseTimeout = time.Minute
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = opts.ResponseTimeout
	}
	if opts.NodeID == 0 {
		var b [1]byte
		rand.Read(b[:])
		opts.NodeID = b[0]
	}
	ownClient := opts.HTTPClient == nil
	// A choice whose Control is nil leaves sockets alone, which any client allows.
	if !ownClient && tcpcc.Control(opts.TCPCongestion) != nil {
		return nil, errors.New("s3backend: Options.TCPCongestion applies to the default HTTPClient only; set one of them")
	}
	if ownClient {
		if err := tcpcc.Check(opts.TCPCongestion); err != nil {
			return nil, fmt.Errorf("s3backend: %w", err)
		}
		opts.HTTPClient = newHTTPClient(opts.TCPCongestion, opts.DialTimeout, opts.ResponseTimeout, opts.StallTimeout)
	}
	b := &Backend{
		bucket: opts.Bucket,
		prefix: opts.Prefix,
		opts:   opts,
		log:    opts.Logger,
		now:    opts.Now,
		done:   make(chan struct{}),

		ownClient: ownClient,
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.clock = newClock(opts.NodeID, b.now)
	b.buckets = newBucketCache(b.now)
	b.bufs = newBufferPool(opts.BufferSize)
	b.s3 = s3.New(s3.Options{
		Region:       opts.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, ""),
		BaseEndpoint: aws.String(opts.Endpoint),
		UsePathStyle: opts.PathStyle,
		HTTPClient:   opts.HTTPClient,
		APIOptions:   []func(*middleware.Stack) error{markUnavailable},
		// The node computes and checks every digest itself and sends Content-MD5 where it
		// can; the SDK's own checksums would hash every byte a second time.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	if err := b.checkVersioning(ctx); err != nil {
		return nil, err
	}
	b.trailers = b.probeTrailers(ctx)
	b.reaper = newReaper(b)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.stop = cancel
	go func() {
		defer close(b.done)
		b.reaper.run(rctx)
	}()
	return b, nil
}

// Close stops the background removal of superseded versions; versions still waiting for
// their grace period are left to a later sweep. Calls in progress are not interrupted.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.stop()
		<-b.done
	})
	return nil
}

// checkVersioning makes sure the bucket keeps versions, which is what lets an open Object
// read its version after a replace or delete.
func (b *Backend) checkVersioning(ctx context.Context) error {
	out, err := b.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &b.bucket})
	if err != nil {
		return fmt.Errorf("s3backend: bucket %q: %w", b.bucket, b.mapErr(err))
	}
	if out.Status == types.BucketVersioningStatusEnabled {
		return nil
	}
	_, err = b.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  &b.bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		return fmt.Errorf("s3backend: turning on versioning of bucket %q: %w", b.bucket, err)
	}
	return nil
}

// newHTTPClient keeps enough idle connections for many parallel streams to one service. Its
// timeouts make a service that is down or stalled cost a request a bounded time, not forever.
func newHTTPClient(congestion string, dialTimeout, responseTimeout, stallTimeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: tcpcc.Control(congestion)}
	return &http.Client{Transport: stallGuard{idle: stallTimeout, next: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: responseTimeout,
		ExpectContinueTimeout: time.Second,
		// Bodies stream in large reads and writes of their own (holdback, exactReader), which
		// bypass buffers no larger than the default.
	}}}
}

// notFound reports a service answer meaning that the named thing is absent.
func notFound(err error) bool {
	var nk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nk) || errors.As(err, &nf) {
		return true
	}
	return httpStatus(err) == http.StatusNotFound || apiCode(err) == "NoSuchVersion"
}

// httpStatus is the status of the service's answer that err reports, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// mapErr turns the service's answers into the sentinels of package storage where one fits.
func (b *Backend) mapErr(err error) error {
	switch code := apiCode(err); {
	case code == "PreconditionFailed", code == "ConditionalRequestConflict":
		return fmt.Errorf("%w: %w", storage.ErrPreconditionFailed, err)
	case code == "KeyTooLongError":
		return errKeyTooLong
	case code == "EntityTooLarge":
		return fmt.Errorf("%w: %w", storage.ErrEntityTooLarge, err)
	case code == "NoSuchUpload":
		return fmt.Errorf("%w: %w", storage.ErrNoSuchUpload, err)
	case code == "NoSuchBucket":
		return fmt.Errorf("s3backend: the service has no bucket %q: %w", b.bucket, err)
	case strings.Contains(code, "QuotaExceeded"), code == "XMinioStorageFull":
		return fmt.Errorf("%w: %w", storage.ErrStorageFull, err)
	}
	return err
}

// errKeyTooLong is the answer to a key whose stored name would pass the service's limit.
var errKeyTooLong = &storage.APIError{Code: "KeyTooLongError", Status: http.StatusBadRequest,
	Message: "Your key is too long for this node's object service."}
