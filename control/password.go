package control

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new password hashes: OWASP's recommendation (19 MiB, 2 passes, one
// lane). Stored hashes carry their own parameters, so raising these later keeps old hashes valid.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// maxPasswordBytes bounds a password, so a hostile login cannot make hashing expensive.
const maxPasswordBytes = 1024

// minPasswordChars is the shortest password an account may be given.
const minPasswordChars = 8

// hasher computes argon2id hashes with bounded parallelism: each hash holds argonMemory of RAM
// and a core for tens of milliseconds, so a burst of logins queues instead of exhausting memory.
// The queue of password checks is bounded too (admitted): past it a check is refused at once
// with errHashBusy, since a check that waits behind a whole burst only times out anyway.
type hasher struct {
	slots    chan struct{}
	admitted chan struct{} // checks queued or running
}

func newHasher(parallel, queue int) *hasher {
	return &hasher{slots: make(chan struct{}, max(parallel, 1)), admitted: make(chan struct{}, max(queue, 1))}
}

// errHashBusy: the queue of password checks is full.
var errHashBusy = errors.New("control: too many password checks waiting")

// acquire waits for a hashing slot; release with <-h.slots.
func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hash returns the PHC string of password:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>, base64 without padding.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-h.slots }()
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// errBadHash reports a stored hash that is not an argon2id PHC string this package can check.
var errBadHash = errors.New("control: stored password hash is not a usable argon2id hash")

// verify reports whether password matches the PHC string encoded, in constant time.
func (h *hasher) verify(ctx context.Context, encoded, password string) (bool, error) {
	p, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	select {
	case h.admitted <- struct{}{}:
	default:
		return false, errHashBusy
	}
	defer func() { <-h.admitted }()
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-h.slots }()
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

type argonParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseHash reads a PHC argon2id string, refusing parameters far beyond what this package
// writes, so a tampered database row cannot make a login allocate gigabytes.
func parseHash(encoded string) (argonParams, error) {
	var p argonParams
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return p, errBadHash
	}
	if p.memory < 8 || p.memory > 1<<20 || p.time < 1 || p.time > 16 || p.threads < 1 {
		return p, errBadHash
	}
	var err1, err2 error
	p.salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
	p.key, err2 = base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(p.salt) < 8 || len(p.key) < 16 || len(p.key) > 64 {
		return p, errBadHash
	}
	return p, nil
}
