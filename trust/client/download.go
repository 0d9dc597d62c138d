package client

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/internal/fault"
)

// Download fetches target t and writes it atomically to path after
// verifying its length and every listed hash while streaming (5.7.2): at
// most t.Length+1 bytes are read. When the root enables consistent
// snapshots the URL is TargetsURL/DIR/HASH.NAME (sha256 when listed, else
// the first algorithm in name order). When path already holds bytes that
// match t, Download makes no request. Nothing unverified is ever left at
// path: bytes go to a temporary file next to it, removed on any failure.
//
// A target whose length is over Limits.TargetMax, or over the space
// available in the file system of path (where the platform reports it),
// is refused before any request and before a byte is written.
//
// Errors: *LengthError, *HashError (security), *TargetSizeError,
// *FetchError (operational).
func (c *Client) Download(ctx context.Context, t *Target, path string) error {
	if err := checkHashes(t); err != nil {
		return err
	}
	if t.Length > c.limits.TargetMax {
		return &TargetSizeError{Path: t.Path, Length: t.Length, Max: c.limits.TargetMax}
	}
	if f, err := os.Open(path); err == nil {
		err := verifyStream(t, f, nil)
		f.Close()
		if err == nil {
			return nil
		}
	}
	c.mu.Lock()
	consistent := c.trusted != nil && c.trusted.root.signed.ConsistentSnapshot
	c.mu.Unlock()
	dir := filepath.Dir(path)
	if avail, err := c.freeSpace(dir); err != nil {
		return fmt.Errorf("client: target %q: space available in %s: %w", t.Path, dir, err)
	} else if avail >= 0 && t.Length > avail {
		return &TargetSizeError{Path: t.Path, Length: t.Length, Dir: dir, Available: avail}
	}
	url := joinURL(c.cfg.TargetsURL, targetName(t, consistent))
	body, err := c.open(ctx, url)
	if err != nil {
		return err
	}
	defer body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	fault.Point("client.download.create")
	if err := verifyStream(t, body, tmp); err != nil {
		var fe *FetchError
		if errors.As(err, &fe) {
			fe.URL = url
		}
		return err
	}
	if err := fault.CheckPath("client.download.write", tmp.Name()); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := fault.CheckPath("client.download.fsync", tmp.Name()); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	fault.Point("client.download.rename.done")
	tmp = nil
	return atomicfile.SyncDir(filepath.Dir(path))
}

// targetName is the remote name of t, hash-prefixed for consistent
// snapshots, percent-encoded per path segment.
func targetName(t *Target, consistent bool) string {
	p := t.Path
	if consistent {
		alg := "sha256"
		if _, ok := t.Hashes[alg]; !ok {
			alg = slices.Sorted(maps.Keys(t.Hashes))[0]
		}
		dir, base := "", p
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			dir, base = p[:i+1], p[i+1:]
		}
		p = dir + t.Hashes[alg] + "." + base
	}
	return escapePath(p)
}

func checkHashes(t *Target) error {
	if len(t.Hashes) == 0 {
		return &HashError{Name: t.Path, Algorithm: "(none)", Want: "(none listed)", Got: "-"}
	}
	for alg, want := range t.Hashes {
		if _, ok := newHash(alg); !ok {
			return &HashError{Name: t.Path, Algorithm: alg, Want: want, Got: "(unsupported algorithm)"}
		}
	}
	return nil
}

// verifyStream reads r (at most t.Length+1 bytes), copying to w when not
// nil, and checks length and every hash of t.
func verifyStream(t *Target, r io.Reader, w io.Writer) error {
	hs := map[string]hash.Hash{}
	writers := []io.Writer{}
	for alg := range t.Hashes {
		h, _ := newHash(alg)
		hs[alg] = h
		writers = append(writers, h)
	}
	if w != nil {
		writers = append(writers, w)
	}
	n, err := io.Copy(io.MultiWriter(writers...), io.LimitReader(r, t.Length+1))
	if err != nil {
		var fe *FetchError
		if errors.As(err, &fe) {
			return err // already names the URL, the attempts and the cause
		}
		return &FetchError{URL: t.Path, Err: err}
	}
	if n > t.Length {
		return &LengthError{Name: t.Path, Want: t.Length, Got: n, Exceeded: true}
	}
	if n != t.Length {
		return &LengthError{Name: t.Path, Want: t.Length, Got: n}
	}
	for alg, h := range hs {
		want, err := hex.DecodeString(t.Hashes[alg])
		got := h.Sum(nil)
		if err != nil || subtle.ConstantTimeCompare(want, got) != 1 {
			return &HashError{Name: t.Path, Algorithm: alg, Want: t.Hashes[alg], Got: hex.EncodeToString(got)}
		}
	}
	return nil
}
