package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"presign/internal/durable"
	"presign/internal/tcpcc"
	"presign/storage"
	"presign/storage/disk"
	"presign/storage/nodestate"
	"presign/storage/redisstore"
	"presign/storage/s3backend"
)

// backendFlags choose where a storage node keeps objects, and what it shares with the other
// nodes of a deployment: on local disk by default; as a gateway over an S3-compatible service
// with --backend s3; consumed nonces and revocations in Redis with --redis.
type backendFlags struct {
	kind         string
	endpoint     string
	bucket       string
	region       string
	prefix       string
	pathStyle    bool
	nodeID       uint
	versionGrace time.Duration
	redisURL     string
	redisPrefix  string
	// tcpCongestion is that of the connections to the service.
	tcpCongestion string
	// dialTimeout, responseTimeout and stallTimeout bound what a service that is down or
	// stalled costs.
	dialTimeout, responseTimeout, stallTimeout time.Duration
}

func (f *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kind, "backend", "disk", "where objects live: disk (the --data directory) or s3 (an S3-compatible service; credentials from PRESIGN_BACKEND_ACCESS_KEY / PRESIGN_BACKEND_SECRET_KEY)")
	fs.StringVar(&f.endpoint, "backend-endpoint", "", "base URL of the S3-compatible service (--backend s3), e.g. http://seaweedfs:8333")
	fs.StringVar(&f.bucket, "backend-bucket", "", "the service bucket holding every node bucket (--backend s3); it must exist, and gets versioning turned on")
	fs.StringVar(&f.region, "backend-region", "us-east-1", "region requests to the service are signed for (--backend s3)")
	fs.StringVar(&f.prefix, "backend-prefix", "", "key prefix of everything the node writes in the service bucket, e.g. presign/ (--backend s3)")
	fs.BoolVar(&f.pathStyle, "backend-path-style", false, "address the service bucket in the path instead of the host name (--backend s3; SeaweedFS and MinIO need it)")
	fs.UintVar(&f.nodeID, "node-id", 0, "1 to 255, distinct per node: the low bits of event sequencers, so that no two nodes issue the same (--backend s3; 0 picks one at random)")
	fs.DurationVar(&f.versionGrace, "backend-version-grace", time.Hour, "how long a replaced or deleted version stays readable for downloads in progress (--backend s3)")
	fs.DurationVar(&f.dialTimeout, "backend-dial-timeout", 10*time.Second, "how long opening a connection to the service may take (--backend s3); past it, and after the SDK's retries, requests are answered 503")
	fs.DurationVar(&f.responseTimeout, "backend-response-timeout", time.Minute, "how long the service may take to begin its answer once a request is sent (--backend s3); past it, and after the SDK's retries, requests are answered 503")
	fs.DurationVar(&f.stallTimeout, "backend-stall-timeout", 0, "how long a body to or from the service may stop moving once under way (--backend s3; 0: --backend-response-timeout); past it a download is cut (the client sees a short body) and an upload answered 503")
	fs.StringVar(&f.tcpCongestion, "backend-tcp-congestion", tcpcc.Auto, "TCP congestion control of the connections to the service (--backend s3; Linux): auto (reno when the service is on a loopback address; else the host's), host, or an algorithm such as reno, bbr; see docs/gateway.md")
	fs.StringVar(&f.redisURL, "redis", "", "redis:// URL of a Redis shared by the storage nodes, for single-use nonces and revocations (default: the node's own store in --data)")
	fs.StringVar(&f.redisPrefix, "redis-prefix", "presign:", "prefix of the node's keys in Redis")
}

// nodeStores are the stores a storage node runs on, chosen by its backendFlags.
type nodeStores struct {
	backend     storage.Backend
	nonces      storage.NonceStore
	revocations storage.RevocationStore
	closers     []io.Closer // in the order to close them
}

func (s *nodeStores) close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// openStores opens the backend, the nonce store and the revocation store of a storage node.
func (m *Main) openStores(ctx context.Context, sf storageFlags, log *slog.Logger) (_ *nodeStores, err error) {
	f := sf.backend
	if err := durable.MkdirAll(sf.data, 0o700); err != nil {
		return nil, err
	}
	s := &nodeStores{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if f.redisURL != "" {
		rs, err := redisstore.Open(ctx, redisstore.Options{URL: f.redisURL, Prefix: f.redisPrefix})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, rs)
		s.nonces, s.revocations = rs, rs
	} else {
		st, err := nodestate.Open(filepath.Join(sf.data, "state.db"))
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, st)
		s.revocations = st
		if f.kind == "s3" {
			s.nonces = st
		}
	}
	switch f.kind {
	case "disk":
		b, err := disk.Open(ctx, disk.Options{Dir: sf.data, Logger: log, MultipartExpiry: sf.multipartExpiry})
		if err != nil {
			return nil, err
		}
		s.closers = append([]io.Closer{b}, s.closers...)
		s.backend = b
		if s.nonces == nil {
			s.nonces = b
		}
	case "s3":
		if f.nodeID > 255 {
			return nil, fmt.Errorf("--node-id %d: at most 255", f.nodeID)
		}
		b, err := s3backend.Open(ctx, s3backend.Options{
			Endpoint: f.endpoint, Bucket: f.bucket, Prefix: f.prefix, Region: f.region, PathStyle: f.pathStyle,
			AccessKey: m.Getenv("PRESIGN_BACKEND_ACCESS_KEY"), SecretKey: m.Getenv("PRESIGN_BACKEND_SECRET_KEY"),
			NodeID: uint8(f.nodeID), VersionGrace: f.versionGrace, MultipartExpiry: sf.multipartExpiry, Logger: log,
			TCPCongestion: f.tcpCongestion, DialTimeout: f.dialTimeout, ResponseTimeout: f.responseTimeout,
			StallTimeout: f.stallTimeout,
		})
		if err != nil {
			return nil, err
		}
		s.closers = append([]io.Closer{b}, s.closers...)
		s.backend = b
	default:
		return nil, fmt.Errorf("--backend %q: want disk or s3", f.kind)
	}
	return s, nil
}
