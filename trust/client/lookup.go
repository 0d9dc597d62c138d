package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Target is a target file as the trusted metadata describes it.
type Target struct {
	Path   string
	Length int64
	Hashes map[string]string // algorithm -> lowercase hex
	Custom json.RawMessage   // nil when absent; read only (it may share the client's memory)
	// Roles is the delegation chain that led to the role listing the
	// target: ["targets"], ["targets", "webkit"], ["targets", "webkit", "webkit-3f"].
	Roles []string
}

func (f *found) target() *Target {
	t := &Target{Path: f.path, Length: f.entry.Length, Hashes: map[string]string{}, Roles: f.roles}
	for alg, h := range f.entry.Hashes {
		t.Hashes[alg] = toLowerHex(h)
	}
	switch c := f.entry.Custom; {
	case len(c) == 0:
	case isCompact(c) && f.private:
		t.Custom = c // decoded for this target alone: no copy
	case isCompact(c):
		t.Custom = bytes.Clone(c) // the trusted set keeps its own
	default:
		var b bytes.Buffer
		if json.Compact(&b, c) == nil {
			t.Custom = b.Bytes()
		}
	}
	return t
}

// isCompact reports whether the JSON value b has no white space outside
// its strings, which json.Compact would remove (publishers write
// canonical JSON, which has none).
func isCompact(b []byte) bool {
	in, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

func toLowerHex(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r >= 'A' && r <= 'F' }) < 0 {
		return s // lower case already, as publishers write it: no copy
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'F' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Lookup returns what the trusted metadata says about target path: the
// pre-order depth-first search of 5.6.7 through the delegations, with
// path patterns, path hash prefixes, succinct hash bins and terminating
// delegations. Delegated roles are fetched as needed, each checked against
// the snapshot (version, length, hashes), its delegator's keys and its
// expiry. Lookup refreshes first when no refresh succeeded yet.
//
// Errors: *NotFoundError when no role reached lists the path;
// *DelegationError when the search visits more than Limits.MaxDelegations
// roles; any error of Refresh.
func (c *Client) Lookup(ctx context.Context, path string) (*Target, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensure(ctx); err != nil {
		return nil, err
	}
	ts := c.trusted
	load := func(ctx context.Context, role, delegator string) (*targetsFile, error) {
		return c.loadRole(ctx, ts, role, delegator)
	}
	f, err := search(ctx, path, c.limits.MaxDelegations, load)
	if errors.Is(err, errStoredChanged) {
		// A stored role read through its index changed on disk: search
		// again, loading every role the usual way.
		c.log.Warn("stored metadata changed since it was verified; verifying again", "err", err)
		c.dropIndexed(ts)
		f, err = search(ctx, path, c.limits.MaxDelegations, load)
	}
	if serr := c.saveRecord(); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, &NotFoundError{Path: path}
	}
	return f.target(), nil
}

func (c *Client) ensure(ctx context.Context) error {
	if c.trusted != nil {
		return nil
	}
	return c.refresh(ctx)
}

// loadRole returns the verified metadata of role as delegated by
// delegator: from memory, from the stored copy (trusted through the
// verified-state record, or verified in full), or fetched (5.6.1 to 5.6.6
// for targets, the same for delegated roles).
func (c *Client) loadRole(ctx context.Context, ts *trustedSet, role, delegator string) (*targetsFile, error) {
	if f := ts.roles[role]; f != nil && f.verifiedBy[delegator] {
		// Verified against this delegator's keys already (the trusted
		// set never changes a loaded role): no keys to resolve again, as
		// the enumeration of a component asks once per target.
		return f, nil
	}
	rk, signerSum, err := c.keysFor(ts, role, delegator)
	if err != nil {
		return nil, err
	}
	if f := ts.roles[role]; f != nil {
		if !f.verifiedBy[delegator] {
			// Reached through another delegator: its keys must agree too.
			raw, err := f.bytes()
			if err != nil {
				return nil, err
			}
			var t targetsSigned
			env, err := decode(role, roleTargets, raw, &t)
			if err != nil {
				return nil, err
			}
			if err := rk.verify(role, t.Version, env); err != nil {
				return nil, err
			}
			f.verifiedBy[delegator] = true
		}
		return f, nil
	}
	meta, err := ts.targetsMeta(role, delegator)
	if err != nil {
		return nil, err
	}
	if f := c.loadIndexed(role, delegator, signerSum, meta); f != nil {
		err := ts.acceptIndexed(f, delegator)
		if err == nil {
			c.used[role] = fromIndex
			return f, nil
		}
		c.log.Debug("indexed role does not serve", "role", role, "err", err)
	}
	if local, err := c.store.read(role); err == nil {
		sum := sha256.Sum256(local)
		src, rec := fromCache, (*cachedFile)(nil)
		if e := c.recorded(role, delegator, signerSum, meta.Version, sum); e != nil {
			src, rec = fromRecord, &cachedFile{version: e.Version, expires: e.Expires}
		}
		f, err := ts.updateTargets(role, delegator, rk, local, sum, src, rec)
		if err == nil {
			c.used[role] = src
			if src == fromCache {
				c.remember(role, delegator, signerSum, sum, f.version, f.expires)
			}
			c.indexRole(role, local, sum)
			c.readLazily(f, local)
			return f, nil
		}
		c.log.Debug("stored role does not serve", "role", role, "err", err)
	}
	name := escapeName(role, true) + ".json"
	if ts.root.signed.ConsistentSnapshot {
		name = strconv.FormatInt(meta.Version, 10) + "." + name
	}
	max := meta.Length
	if max == 0 {
		max = c.limits.TargetsMax
	}
	raw, err := c.fetch(ctx, role, joinURL(c.cfg.MetadataURL, name), max) // 5.6.1
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	f, err := ts.updateTargets(role, delegator, rk, raw, sum, fromRemote, nil) // 5.6.2 to 5.6.5
	if err != nil {
		return nil, err
	}
	c.used[role] = fromRemote
	c.remember(role, delegator, signerSum, sum, f.version, f.expires)
	c.indexRole(role, raw, sum)
	c.persistRole(f, raw) // 5.6.6
	return f, nil
}

// keysFor returns the keys delegator gives role and the SHA-256 of the
// delegator's file.
func (c *Client) keysFor(ts *trustedSet, role, delegator string) (*roleKeys, [32]byte, error) {
	if delegator == roleRoot {
		if role != roleTargets {
			return nil, [32]byte{}, fmt.Errorf("client: %s is not delegated by root", role)
		}
		return ts.root.keys[roleTargets], ts.root.sum, nil
	}
	d := ts.roles[delegator]
	if d == nil {
		return nil, [32]byte{}, fmt.Errorf("client: delegator %s not loaded", delegator)
	}
	delegs, err := d.delegs()
	if err != nil {
		return nil, [32]byte{}, err
	}
	rk, err := delegs.keysFor(delegator, role)
	return rk, d.sum, err
}
