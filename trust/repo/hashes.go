package repo

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Hash algorithms a target entry can list. Every entry lists sha256: the
// content store names payloads by it. A consistent-snapshot repository
// publishes each payload once per listed hash ("targets/<dir>/<hash>.<name>",
// a client may ask for any of them), so each extra algorithm is one more
// name per payload: a directory destination makes it a hard link to the
// first (no second copy of the bytes), an object store uploads it again.
var supportedHashes = []string{"sha256", "sha512"}

// defaultHashes is what new target entries list unless the workspace asks
// for more (InitOptions.Hashes, SetHashes).
var defaultHashes = []string{"sha256"}

// HashesError is a list of hash algorithms the workspace cannot use.
type HashesError struct {
	Hashes []string
	Reason string
}

func (e *HashesError) Error() string {
	return fmt.Sprintf("hashes %s: %s", strings.Join(e.Hashes, ","), e.Reason)
}

// ParseHashes parses a comma-separated list of hash algorithms
// ("sha256,sha512") as the workspace setting takes it: sha256 must be one,
// sha512 may be another, each at most once. The result is in canonical
// order (sha256 first). Errors are *HashesError.
func ParseHashes(s string) ([]string, error) {
	var hs []string
	for h := range strings.SplitSeq(s, ",") {
		hs = append(hs, strings.TrimSpace(h))
	}
	return checkHashes(hs)
}

// checkHashes validates a hash list and returns it in canonical order; an
// empty list is the default.
func checkHashes(hs []string) ([]string, error) {
	if len(hs) == 0 {
		return slices.Clone(defaultHashes), nil
	}
	seen := map[string]bool{}
	for _, h := range hs {
		switch {
		case !slices.Contains(supportedHashes, h):
			return nil, &HashesError{Hashes: hs, Reason: fmt.Sprintf("unsupported algorithm %q (want %s)", h, strings.Join(supportedHashes, " or "))}
		case seen[h]:
			return nil, &HashesError{Hashes: hs, Reason: fmt.Sprintf("%s is listed twice", h)}
		}
		seen[h] = true
	}
	if !seen["sha256"] {
		return nil, &HashesError{Hashes: hs, Reason: "sha256 is required (the content store names payloads by it)"}
	}
	var out []string
	for _, h := range supportedHashes {
		if seen[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

// Hashes returns the hash algorithms that new target entries list. Entries
// already in the workspace keep the hashes they were listed with.
func (w *Workspace) Hashes() []string {
	if len(w.cfg.Hashes) == 0 {
		return slices.Clone(defaultHashes)
	}
	return slices.Clone(w.cfg.Hashes)
}

// SetHashes changes the hash algorithms that improvements (and rollout
// schedules) added from now on list; see ParseHashes for what is
// accepted. Entries already listed, signed or published keep theirs: a
// hash list is part of the signed entry, and changing it would change
// what devices already verified. Errors are *HashesError.
func (w *Workspace) SetHashes(ctx context.Context, hs []string) error {
	hs, err := checkHashes(hs)
	if err != nil {
		return err
	}
	return w.mutate(func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		w.cfg.Hashes = hs
		if slices.Equal(hs, defaultHashes) {
			w.cfg.Hashes = nil
		}
		return nil
	})
}
